//! The shared adapter tests on smol.

use std::sync::Arc;

use hearsay_driver::testing::Harness;
use hearsay_driver::{BoxFuture, Error, Hearsay, NodeOptions, Runtime};
use hearsay_smol::{Config, SmolRuntime};

struct Smol;

impl Harness for Smol {
    fn name(&self) -> &'static str {
        "smol"
    }
    fn runtime(&self) -> Arc<dyn Runtime> {
        Arc::new(SmolRuntime::default())
    }
    fn start(&self, config: Config, options: NodeOptions) -> Result<Hearsay, Error> {
        hearsay_smol::start(config, options)
    }
    fn block_on(&self, body: BoxFuture<()>) {
        smol::block_on(body);
    }
}

static SMOL: Smol = Smol;

hearsay_driver::adapter_tests!(SMOL);
