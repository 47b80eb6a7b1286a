//! The shared adapter tests on async-std.

use std::sync::Arc;

use hearsay_async_std::{AsyncStdRuntime, Config};
use hearsay_driver::testing::Harness;
use hearsay_driver::{BoxFuture, Error, Hearsay, NodeOptions, Runtime};

struct AsyncStd;

impl Harness for AsyncStd {
    fn name(&self) -> &'static str {
        "async-std"
    }
    fn runtime(&self) -> Arc<dyn Runtime> {
        Arc::new(AsyncStdRuntime::default())
    }
    fn start(&self, config: Config, options: NodeOptions) -> Result<Hearsay, Error> {
        hearsay_async_std::start(config, options)
    }
    fn block_on(&self, body: BoxFuture<()>) {
        async_std::task::block_on(body);
    }
}

static ASYNC_STD: AsyncStd = AsyncStd;

hearsay_driver::adapter_tests!(ASYNC_STD);
