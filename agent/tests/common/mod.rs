//! Harness for agent process tests: real `hearsay` processes on 127.0.0.1 with ephemeral
//! ports, bounded waits, and a Drop guard that always kills the children.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hearsay");

/// A scratch directory removed at drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p =
            std::env::temp_dir().join(format!("hearsay-it-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A running agent. Killed (SIGKILL) and reaped when dropped.
pub struct Agent {
    pub name: String,
    pub child: Child,
    pub rpc: String,
    pub bind: String,
    pub log: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    /// Starts `hearsay agent -node NAME` on ephemeral ports plus `extra` (profile `local`
    /// unless `extra` sets one), and waits for its banner.
    pub fn start(dir: &TempDir, name: &str, extra: &[&str]) -> Agent {
        Self::start_on(dir, name, "127.0.0.1:0", extra)
    }

    pub fn start_on(dir: &TempDir, name: &str, bind: &str, extra: &[&str]) -> Agent {
        let log = dir.path(&format!("{name}.log"));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = Command::new(BIN)
            .args([
                "agent",
                "-node",
                name,
                "-bind",
                bind,
                "-rpc-addr=127.0.0.1:0",
                "-log-level=debug",
                "-handler-timeout=10s",
            ])
            .args(extra)
            // `local` unless the test picked a profile.
            .args((!extra.iter().any(|a| a.starts_with("-profile"))).then_some("-profile=local"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    // Keep draining so the agent never blocks on a full pipe.
                    continue;
                }
            }
        });
        let mut agent = Agent {
            name: name.to_owned(),
            child,
            rpc: String::new(),
            bind: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while agent.rpc.is_empty() || agent.bind.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => panic!(
                    "agent {name} did not start; log:\n{}",
                    std::fs::read_to_string(&agent.log).unwrap_or_default()
                ),
            };
            let value = || line.split('\'').nth(1).unwrap_or_default().to_owned();
            if line.contains("RPC addr:") {
                agent.rpc = value();
            } else if line.contains("Bind addr:") {
                agent.bind = value();
            }
        }
        agent
    }

    /// Runs a CLI command against this agent.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut full: Vec<&str> = vec![args[0], "-rpc-addr", &self.rpc];
        full.extend_from_slice(&args[1..]);
        run(&full, Duration::from_secs(20))
    }

    /// Runs a CLI command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "`hearsay {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `name → status` from `members -format json`.
    pub fn members(&self) -> Vec<(String, String)> {
        let out = self.cli(&["members", "-format", "json"]);
        if !out.status.success() {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_owned(),
                    m["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub fn status_of(&self, name: &str) -> Option<String> {
        self.members()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Runs `hearsay ARGS` with a time limit (the child is killed past it).
pub fn run(args: &[&str], limit: Duration) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("`hearsay {}` did not finish in {limit:?}", args.join(" "));
        }
    }
}

/// Polls `cond` every 100 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Lines of a file (empty when missing).
pub fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Starts `n` agents named `{prefix}1..` with `extra(i)` flags; each joins the first.
pub fn cluster(
    dir: &TempDir,
    prefix: &str,
    n: usize,
    extra: impl Fn(usize) -> Vec<String>,
) -> Vec<Agent> {
    let mut agents: Vec<Agent> = Vec::new();
    for i in 1..=n {
        let mut args = extra(i);
        if let Some(first) = agents.first() {
            args.push(format!("-join={}", first.bind));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        agents.push(Agent::start(dir, &format!("{prefix}{i}"), &args));
    }
    let all_alive = |a: &Agent| {
        let m = a.members();
        m.len() == n && m.iter().all(|(_, s)| s == "alive")
    };
    assert!(
        wait_until(Duration::from_secs(15), || agents.iter().all(all_alive)),
        "cluster did not converge: {:?}",
        agents.iter().map(Agent::members).collect::<Vec<_>>()
    );
    agents
}

/// Sends raw `send` lines to the RPC port at `rpc` and reads up to `want` reply lines (fewer
/// if the agent closes the connection or 5 s pass).
pub fn raw_lines(rpc: &str, send: &[&str], want: usize) -> Vec<String> {
    let mut s = TcpStream::connect(rpc).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for l in send {
        // The agent may close on us (a wrong token): later writes can fail.
        let _ = s.write_all(l.as_bytes());
        let _ = s.write_all(b"\n");
    }
    let mut r = BufReader::new(s);
    let mut out = Vec::new();
    while out.len() < want {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => out.push(line.trim_end().to_owned()),
        }
    }
    out
}
