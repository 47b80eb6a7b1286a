//! Measures, on loopback with the `local` profile: how long an N-node cluster takes to
//! converge (every node sees every other alive) and how long until every survivor declares
//! a stopped node failed. The stopped node's driver halts without leaving, like `kill -9`.
//!
//! ```text
//! cargo run --release -p hearsay-tokio --example cluster_timing -- [nodes=10] [rounds=3]
//! ```

use std::time::{Duration, Instant};

use hearsay_tokio::{Config, Hearsay, MemberState, NodeOptions};

async fn count(nodes: &[Hearsay], name: &str, state: MemberState) -> usize {
    let mut n = 0;
    for node in nodes {
        let members = node.members().await.unwrap_or_default();
        if members
            .iter()
            .any(|m| m.name.as_str() == name && m.state == state)
        {
            n += 1;
        }
    }
    n
}

async fn all_alive(nodes: &[Hearsay]) -> bool {
    for node in nodes {
        match node.members().await {
            Ok(m) if m.iter().filter(|m| m.state == MemberState::Alive).count() == nodes.len() => {}
            _ => return false,
        }
    }
    true
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), hearsay_tokio::Error> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let bind = "127.0.0.1:0".parse().expect("address");
    for round in 1..=rounds {
        let mut nodes = Vec::new();
        for i in 0..n {
            let name = format!("r{round}-n{i}");
            nodes.push(hearsay_tokio::start(
                Config::local(),
                NodeOptions::new(&name, bind)?,
            )?);
        }
        let seed = nodes[0].advertise_addr();
        let started = Instant::now();
        let mut joins = Vec::new();
        for node in &nodes[1..] {
            let node = node.clone();
            joins.push(tokio::spawn(async move { node.join(&[seed]).await }));
        }
        for j in joins {
            j.await.expect("join task")?;
        }
        while !all_alive(&nodes).await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let converged = started.elapsed();

        let victim = nodes.pop().expect("nodes");
        let name = victim.name().to_string();
        victim.halt().await;
        let killed = Instant::now();
        let mut first_suspect = None;
        let mut first_failed = None;
        let deadline = killed + Duration::from_secs(60);
        let all_failed = loop {
            if first_suspect.is_none() && count(&nodes, &name, MemberState::Suspect).await > 0 {
                first_suspect = Some(killed.elapsed());
            }
            let failed = count(&nodes, &name, MemberState::Failed).await;
            if failed > 0 && first_failed.is_none() {
                first_failed = Some(killed.elapsed());
            }
            if failed == nodes.len() {
                break Some(killed.elapsed());
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        println!(
            "round {round}: n={n} converge={:.3}s first_suspect={} first_failed={} all_failed={}",
            converged.as_secs_f64(),
            secs(first_suspect),
            secs(first_failed),
            secs(all_failed),
        );
        for node in &nodes {
            node.halt().await;
        }
    }
    Ok(())
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "timeout".into(), |d| format!("{:.3}s", d.as_secs_f64()))
}
