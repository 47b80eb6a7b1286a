//! The CLI commands that talk to a running agent over RPC, printing like Serf's.

use std::collections::BTreeMap;

use anyhow::bail;
use serde_json::{Value, json};

use crate::cli::{
    EventArgs, ForceLeaveArgs, Format, InfoArgs, JoinArgs, KeysArgs, MembersArgs, MonitorArgs,
    QueryArgs, ReachabilityArgs, RpcArgs, TagsArgs,
};
use crate::config::{parse_duration, parse_level};
use crate::rpc::client::Client;
use crate::rpc::json::{RPC_VERSION, WireRequest as Request};

/// Runs `f` on a current-thread runtime; prints its error and returns the exit code.
fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(f) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}

async fn connect(rpc: &RpcArgs) -> anyhow::Result<Client> {
    Ok(Client::connect(&rpc.addr(), rpc.auth()).await?)
}

fn split_kv(flag: &str, s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => bail!("invalid -{flag} '{s}': expected KEY=VALUE"),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// The strings in the array `v[key]` (none if absent).
fn strings_of(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn str_of(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Prints rows with columns padded to the widest cell, two spaces apart (Serf's
/// `columnize`).
fn columns(rows: &[Vec<String>]) -> String {
    let mut widths = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `hearsay members`.
pub fn members(a: MembersArgs) -> i32 {
    block_on(async move {
        let mut tags = BTreeMap::new();
        for t in &a.tag {
            let (k, v) = split_kv("tag", t)?;
            tags.insert(k, v);
        }
        let mut c = connect(&a.rpc).await?;
        let body = c
            .call(Request::Members {
                status: a.status.clone(),
                name: a.name.clone(),
                tags,
            })
            .await?;
        let list = body
            .get("members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if a.format == Format::Json {
            println!("{}", pretty(&json!({ "members": list })));
            return Ok(());
        }
        let detailed = a.detailed.unwrap_or(false);
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|m| {
                let tags: Vec<String> = m
                    .get("tags")
                    .and_then(Value::as_object)
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                            .collect()
                    })
                    .unwrap_or_default();
                let addr = format!("{}:{}", str_of(m, "addr"), str_of(m, "port"));
                let mut row = vec![str_of(m, "name"), addr, str_of(m, "status")];
                if detailed {
                    row.push(format!("incarnation={}", str_of(m, "incarnation")));
                }
                row.push(tags.join(","));
                row
            })
            .collect();
        print!("{}", columns(&rows));
        Ok(())
    })
}

/// `hearsay join`.
pub fn join(a: JoinArgs) -> i32 {
    block_on(async move {
        let mut c = connect(&a.rpc).await?;
        let body = c
            .call(Request::Join {
                addrs: a.addrs.clone(),
                replay: a.replay.unwrap_or(false),
            })
            .await?;
        println!(
            "Successfully joined cluster by contacting {} nodes.",
            str_of(&body, "num")
        );
        Ok(())
    })
}

/// `hearsay leave`.
pub fn leave(rpc: RpcArgs) -> i32 {
    block_on(async move {
        let mut c = connect(&rpc).await?;
        c.call(Request::Leave {}).await?;
        println!("Graceful leave complete");
        Ok(())
    })
}

/// `hearsay force-leave`.
pub fn force_leave(a: ForceLeaveArgs) -> i32 {
    block_on(async move {
        let mut c = connect(&a.rpc).await?;
        c.call(Request::ForceLeave {
            node: a.node.clone(),
            prune: a.prune.unwrap_or(false),
        })
        .await?;
        Ok(())
    })
}

/// `hearsay event`.
pub fn event(a: EventArgs) -> i32 {
    block_on(async move {
        let coalesce = a.coalesce.unwrap_or(true);
        let mut c = connect(&a.rpc).await?;
        c.call(Request::Event {
            name: a.name.clone(),
            payload: a.payload.clone().unwrap_or_default(),
            coalesce,
        })
        .await?;
        println!(
            "Event '{}' dispatched! Coalescing enabled: {coalesce}",
            a.name
        );
        Ok(())
    })
}

/// `hearsay query`.
pub fn query(a: QueryArgs) -> i32 {
    block_on(async move {
        let mut tags = BTreeMap::new();
        for t in &a.tag {
            let (k, v) = split_kv("tag", t)?;
            tags.insert(k, v);
        }
        let timeout_ms = a
            .timeout
            .as_deref()
            .map(|t| parse_duration("timeout", t))
            .transpose()?
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        if a.relay_factor > 5 {
            bail!(
                "invalid -relay-factor {}: must be between 0 and 5",
                a.relay_factor
            );
        }
        let request_ack = !a.no_ack.unwrap_or(false);
        let json_out = a.format == Format::Json;
        let mut c = connect(&a.rpc).await?;
        let seq = c
            .send(&Request::Query {
                name: a.name.clone(),
                payload: a.payload.clone().unwrap_or_default(),
                nodes: a.node.clone(),
                tags,
                timeout_ms,
                request_ack,
                relay_factor: a.relay_factor,
            })
            .await?;
        if !json_out {
            println!("Query '{}' dispatched", a.name);
        }
        let mut acks = Vec::new();
        let mut responses = BTreeMap::new();
        loop {
            let r = c.recv().await?;
            if r.seq != seq {
                continue;
            }
            if let Some(e) = r.error {
                bail!(e);
            }
            let Some(ev) = r.event else {
                break;
            };
            if let Some(from) = ev.get("ack").and_then(Value::as_str) {
                if !json_out {
                    println!("Ack from '{from}'");
                }
                acks.push(from.to_owned());
            }
            if let Some(resp) = ev.get("response") {
                let from = str_of(resp, "from");
                let payload = str_of(resp, "payload");
                if !json_out {
                    println!("Response from '{from}': {payload}");
                }
                responses.insert(from, payload);
            }
        }
        if json_out {
            println!("{}", pretty(&json!({"Acks": acks, "Responses": responses})));
        } else {
            if request_ack {
                println!("Total Acks: {}", acks.len());
            }
            println!("Total Responses: {}", responses.len());
        }
        Ok(())
    })
}

/// `hearsay monitor`.
pub fn monitor(a: MonitorArgs) -> i32 {
    block_on(async move {
        parse_level(&a.log_level)?;
        let mut c = connect(&a.rpc).await?;
        let seq = c
            .send(&Request::Monitor {
                log_level: Some(a.log_level.clone()),
            })
            .await?;
        loop {
            let r = tokio::select! {
                r = c.recv() => r?,
                _ = tokio::signal::ctrl_c() => return Ok(()),
            };
            if r.seq != seq {
                continue;
            }
            if let Some(e) = r.error {
                bail!(e);
            }
            match r.event {
                Some(ev) => println!("{}", str_of(&ev, "log")),
                None => return Ok(()),
            }
        }
    })
}

/// `hearsay tags`.
pub fn tags(a: TagsArgs) -> i32 {
    block_on(async move {
        if a.set.is_empty() && a.delete.is_empty() {
            bail!("tags needs at least one -set or -delete");
        }
        let mut set = BTreeMap::new();
        for t in &a.set {
            let (k, v) = split_kv("set", t)?;
            set.insert(k, v);
        }
        let mut c = connect(&a.rpc).await?;
        c.call(Request::Tags {
            set,
            delete: a.delete.clone(),
        })
        .await?;
        println!("Successfully updated agent tags");
        Ok(())
    })
}

/// `hearsay info`.
pub fn info(a: InfoArgs) -> i32 {
    block_on(async move {
        let mut c = connect(&a.rpc).await?;
        let body = c.call(Request::Info {}).await?;
        if a.format == Format::Json {
            println!("{}", pretty(&body));
            return Ok(());
        }
        if let Some(sections) = body.as_object() {
            for (name, section) in sections {
                println!("{name}:");
                if let Some(o) = section.as_object() {
                    for (k, v) in o {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        println!("\t{k} = {v}");
                    }
                }
            }
        }
        Ok(())
    })
}

/// `hearsay reachability`.
pub fn reachability(a: ReachabilityArgs) -> i32 {
    block_on(async move {
        let verbose = a.verbose.unwrap_or(false);
        let mut c = connect(&a.rpc).await?;
        println!("Starting reachability test...");
        let seq = c.send(&Request::Reachability { timeout_ms: None }).await?;
        let body = loop {
            let r = c.recv().await?;
            if r.seq != seq {
                continue;
            }
            if let Some(e) = r.error {
                bail!(e);
            }
            if let Some(ev) = r.event {
                if verbose {
                    println!("\tAck from '{}'", str_of(&ev, "ack"));
                }
                continue;
            }
            break r.body.unwrap_or_default();
        };
        let missing = strings_of(&body, "missing");
        let alive = str_of(&body, "alive");
        if missing.is_empty() {
            println!("Successfully contacted all {alive} nodes");
            Ok(())
        } else {
            println!("Missing acks from:");
            for m in &missing {
                println!("\t{m}");
            }
            bail!("{} of {alive} alive nodes did not ack", missing.len())
        }
    })
}

/// `hearsay version`.
pub fn version() -> i32 {
    println!("Hearsay v{}", env!("CARGO_PKG_VERSION"));
    println!("RPC Protocol: {RPC_VERSION}");
    println!("Compatible with Serf's CLI and event handler scripts");
    0
}

/// `hearsay keygen`.
pub fn keygen() -> i32 {
    match crate::keyring::generate() {
        Ok(k) => {
            println!("{}", k.as_str());
            0
        }
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}

/// `hearsay keys`: a cluster-wide key operation (Serf's output), or this agent's
/// plaintext switches.
pub fn keys(a: KeysArgs) -> i32 {
    block_on(async move {
        let list = a.list.unwrap_or(false);
        let ops = usize::from(a.install.is_some())
            + usize::from(a.use_key.is_some())
            + usize::from(a.remove.is_some())
            + usize::from(list);
        let switches = a.accept_plaintext.is_some() || a.send_plaintext.is_some();
        if ops + usize::from(switches) != 1 {
            bail!(
                "keys needs exactly one of -install, -use, -remove, -list, or the plaintext \
                 switches (-accept-plaintext, -send-plaintext)"
            );
        }
        let timeout_ms = a
            .timeout
            .as_deref()
            .map(|t| parse_duration("timeout", t))
            .transpose()?
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        for k in [&a.install, &a.use_key, &a.remove].into_iter().flatten() {
            crate::keyring::parse_key("key", k)?;
        }
        let mut c = connect(&a.rpc).await?;
        if switches {
            let body = c
                .call(Request::SetPlaintext {
                    accept: a.accept_plaintext,
                    send: a.send_plaintext,
                })
                .await?;
            println!(
                "Plaintext switches: accept_plaintext={} send_plaintext={} (encrypted: {})",
                str_of(&body, "accept_plaintext"),
                str_of(&body, "send_plaintext"),
                str_of(&body, "encrypted")
            );
            return Ok(());
        }
        let (req, doing, done, failed) = if let Some(key) = a.install.clone() {
            (
                Request::InstallKey { key, timeout_ms },
                "Installing key on all members",
                "Successfully installed key",
                "install key",
            )
        } else if let Some(key) = a.use_key.clone() {
            (
                Request::UseKey { key, timeout_ms },
                "Changing primary key",
                "Successfully changed primary key",
                "change primary key",
            )
        } else if let Some(key) = a.remove.clone() {
            (
                Request::RemoveKey { key, timeout_ms },
                "Removing key",
                "Successfully removed key",
                "remove key",
            )
        } else {
            (
                Request::ListKeys { timeout_ms },
                "Asking all members for installed keys",
                "Keys gathered, listing cluster keys",
                "list keys",
            )
        };
        println!("==> {doing}...");
        let body = c.call(req).await?;
        let num_nodes = body.get("num_nodes").and_then(Value::as_u64).unwrap_or(0);
        let num_resp = body.get("num_resp").and_then(Value::as_u64).unwrap_or(0);
        let messages = body.get("messages").and_then(Value::as_object);
        let missing = strings_of(&body, "missing");
        let mut failures = 0;
        if let Some(m) = messages {
            for (node, msg) in m {
                eprintln!("    {node}: {}", msg.as_str().unwrap_or_default());
                failures += 1;
            }
        }
        for node in &missing {
            eprintln!("    {node}: no response");
            failures += 1;
        }
        if failures > 0 {
            bail!("failed to {failed} on {failures} of {num_nodes} nodes ({num_resp} responded)");
        }
        println!("==> {done} on all {num_nodes} nodes ({num_resp} responded)");
        if list {
            let rows: Vec<Vec<String>> = body
                .get("keys")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, n)| vec![k.clone(), format!("[{n}/{num_resp}]")])
                        .collect()
                })
                .unwrap_or_default();
            println!();
            print!("{}", columns(&rows));
        }
        Ok(())
    })
}
