//! A cluster whose nodes run on three different runtimes: the wire and the driver do not
//! depend on the executor.

use std::time::Duration;

use hearsay_driver::testing::{converge, eventually, fast_config, fast_driver, stop_all};
use hearsay_driver::{NodeOptions, timeout};
use hearsay_tokio::{MemberState, TokioRuntime};

fn options(name: &str) -> NodeOptions {
    NodeOptions::new(name, "127.0.0.1:0".parse().expect("addr"))
        .expect("name")
        .driver(fast_driver())
}

#[test]
fn tokio_smol_and_async_std_nodes_form_one_cluster() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let limit = Duration::from_secs(30);
        let tokio_rt = TokioRuntime::current().expect("tokio");
        let body = async {
            let t = hearsay_tokio::start(fast_config(), options("on-tokio")).expect("tokio node");
            let s = hearsay_smol::start(fast_config(), options("on-smol")).expect("smol node");
            let a = hearsay_async_std::start(fast_config(), options("on-async-std"))
                .expect("async-std node");
            // Each joins through a node on another runtime.
            assert_eq!(s.join(&[t.advertise_addr()]).await.expect("smol joins"), 1);
            assert_eq!(
                a.join(&[s.advertise_addr()])
                    .await
                    .expect("async-std joins"),
                1
            );
            let nodes = vec![t, s, a];
            converge(&tokio_rt, &nodes, &["on-tokio", "on-smol", "on-async-std"]).await;

            // Failure detection across runtimes: stop the smol node.
            nodes[1].halt().await;
            let live = [&nodes[0], &nodes[2]];
            eventually(
                &tokio_rt,
                Duration::from_secs(15),
                "smol node failed",
                || hearsay_driver::testing::all_see(&live, &[("on-smol", MemberState::Failed)]),
            )
            .await;
            // Graceful leave across runtimes.
            nodes[2].shutdown().await.expect("shutdown");
            let first = [&nodes[0]];
            eventually(
                &tokio_rt,
                Duration::from_secs(5),
                "async-std node left",
                || hearsay_driver::testing::all_see(&first, &[("on-async-std", MemberState::Left)]),
            )
            .await;
            stop_all(&nodes).await;
        };
        timeout(&tokio_rt, limit, body)
            .await
            .expect("mixed cluster test finished in time");
    });
    rt.shutdown_timeout(Duration::from_secs(1));
}
