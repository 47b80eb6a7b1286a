//! Two nodes on tokio in one process: they join, one sends a user event, the other answers a
//! query, then both leave.
//!
//! ```text
//! cargo run -p hearsay-tokio --example two_nodes_tokio
//! ```

use std::time::Duration;

use futures_lite::StreamExt;
use hearsay_tokio::{Config, Event, NodeOptions, QueryParams, QueryReply};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), hearsay_tokio::Error> {
    let bind = "127.0.0.1:0".parse().expect("a socket address");
    let alpha = hearsay_tokio::start(Config::local(), NodeOptions::new("alpha", bind)?)?;
    let beta = hearsay_tokio::start(Config::local(), NodeOptions::new("beta", bind)?)?;

    // beta prints user events and answers queries from a task of its own.
    let mut beta_events = beta.subscribe().await?;
    let responder = beta.clone();
    tokio::spawn(async move {
        while let Some(event) = beta_events.next().await {
            match event {
                Event::User { name, payload, .. } => {
                    println!(
                        "beta: user event {name} {}",
                        String::from_utf8_lossy(&payload)
                    );
                }
                Event::Query { id, name, from, .. } => {
                    println!("beta: query {name} from {from}");
                    let _ = responder.respond(id, b"pong").await;
                }
                other => println!("beta: {}", other.name()),
            }
        }
    });

    let answered = beta.join(&[alpha.advertise_addr()]).await?;
    println!("beta joined through {answered} seed(s)");
    for m in alpha.members().await? {
        println!("alpha sees {} ({}) {}", m.name, m.addr, m.state.as_str());
    }

    alpha.user_event("deploy", b"v1.2.3", false).await?;
    let params = QueryParams::new("ping")
        .request_ack(true)
        .timeout(Duration::from_secs(1));
    let mut replies = alpha.query(params).await?;
    while let Some(reply) = replies.next().await {
        match reply {
            QueryReply::Ack { from } => println!("alpha: ack from {from}"),
            QueryReply::Response { from, payload } => {
                println!(
                    "alpha: {from} answered {}",
                    String::from_utf8_lossy(&payload)
                );
            }
            other => println!("alpha: {other:?}"),
        }
    }
    println!("alpha: query done");

    beta.shutdown().await?;
    alpha.shutdown().await
}
