//! Two nodes on smol in one process: they join, watch each other, and leave.
//!
//! ```text
//! cargo run -p hearsay-smol --example two_nodes_smol
//! ```

use std::time::Duration;

use futures_lite::StreamExt;
use hearsay_smol::{Config, Event, NodeOptions};

fn main() -> Result<(), hearsay_smol::Error> {
    smol::block_on(run())
}

async fn run() -> Result<(), hearsay_smol::Error> {
    let bind = "127.0.0.1:0".parse().expect("a socket address");
    let alpha = hearsay_smol::start(Config::local(), NodeOptions::new("alpha", bind)?)?;
    let beta = hearsay_smol::start(Config::local(), NodeOptions::new("beta", bind)?)?;
    let mut events = alpha.subscribe().await?;

    let answered = beta.join(&[alpha.advertise_addr()]).await?;
    println!("beta joined through {answered} seed(s)");

    // Membership events as alpha sees them.
    while let Some(Some(event)) = within(Duration::from_secs(2), events.next()).await {
        if let Event::MemberJoin(m) = &event {
            println!("alpha: {} {} at {}", event.name(), m.name, m.addr);
            if m.name.as_str() == "beta" {
                break;
            }
        }
    }
    for m in alpha.members().await? {
        println!("alpha sees {} ({}) {}", m.name, m.addr, m.state.as_str());
    }

    beta.shutdown().await?;
    while let Some(Some(event)) = within(Duration::from_secs(3), events.next()).await {
        if let Event::MemberLeave(m) = &event {
            println!("alpha: {} {}", event.name(), m.name);
            break;
        }
    }
    alpha.shutdown().await
}

/// `None` when `span` passes first.
async fn within<T>(span: Duration, f: impl std::future::Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(f.await) }, async {
        smol::Timer::after(span).await;
        None
    })
    .await
}
