//! One node that joins and then idles until killed; used to measure idle memory and CPU
//! (see `driver/scripts/idle_cluster.sh`).
//!
//! ```text
//! cargo run --release -p hearsay-smol --example idle_node_smol -- NAME BIND [SEED]
//! ```

use hearsay_smol::{Config, NodeOptions};

fn main() -> Result<(), hearsay_smol::Error> {
    smol::block_on(run())
}

async fn run() -> Result<(), hearsay_smol::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("idle", String::as_str);
    let bind = args.get(1).map_or("127.0.0.1:0", String::as_str);
    let node = hearsay_smol::start(
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
