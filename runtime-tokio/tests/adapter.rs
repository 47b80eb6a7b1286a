//! The shared adapter tests on tokio.

use std::sync::Arc;

use hearsay_driver::testing::Harness;
use hearsay_driver::{BoxFuture, Error, Hearsay, NodeOptions, Runtime};
use hearsay_tokio::{Config, TokioRuntime};

struct Tokio;

impl Harness for Tokio {
    fn name(&self) -> &'static str {
        "tokio"
    }
    fn runtime(&self) -> Arc<dyn Runtime> {
        Arc::new(TokioRuntime::current().expect("inside a tokio runtime"))
    }
    fn start(&self, config: Config, options: NodeOptions) -> Result<Hearsay, Error> {
        hearsay_tokio::start(config, options)
    }
    fn block_on(&self, body: BoxFuture<()>) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(body);
        rt.shutdown_timeout(std::time::Duration::from_secs(1));
    }
}

static TOKIO: Tokio = Tokio;

hearsay_driver::adapter_tests!(TOKIO);
