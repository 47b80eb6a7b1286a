//! One node that joins and then idles until killed; used to measure idle memory and CPU
//! (see `driver/scripts/idle_cluster.sh`).
//!
//! ```text
//! cargo run --release -p hearsay-async-std --example idle_node_async_std -- NAME BIND [SEED]
//! ```

use hearsay_async_std::{Config, NodeOptions};

fn main() -> Result<(), hearsay_async_std::Error> {
    async_std::task::block_on(run())
}

async fn run() -> Result<(), hearsay_async_std::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("idle", String::as_str);
    let bind = args.get(1).map_or("127.0.0.1:0", String::as_str);
    let node = hearsay_async_std::start(
        Config::local(),
        NodeOptions::new(name, bind.parse().expect("bind address"))?,
    )?;
    if let Some(seed) = args.get(2) {
        node.join(&[seed.parse().expect("seed address")]).await?;
    }
    println!("{} {}", node.name(), node.advertise_addr());
    std::future::pending::<()>().await;
    Ok(())
}
