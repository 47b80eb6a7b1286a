//! Agent process tests: small clusters of real `hearsay agent` processes on 127.0.0.1.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Agent, TempDir, cluster, lines, raw_lines, run, wait_until};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn three_agents_join_run_user_events_once_and_answer_queries() {
    let dir = TempDir::new("events");
    let events = dir.path("events");
    let ev = events.display().to_string();
    let agents = cluster(&dir, "e", 3, |i| {
        let role = if i == 3 { "db" } else { "web" };
        vec![
            // Serf's LAN profile: `local` retransmits each broadcast only twice, and the
            // core counts piggybacks on probe and query replies against that, so a
            // broadcast can miss a member of a three-node cluster (reported to the core).
            "-profile=lan".to_owned(),
            format!("-tag=role={role}"),
            format!(
                "-event-handler=user:deploy=echo \"$SERF_SELF_NAME $SERF_EVENT $SERF_USER_EVENT \
                 $HEARSAY_SELF_ROLE $(cat)\" >> {ev}"
            ),
            "-event-handler=query:whoami=echo \"i am $SERF_SELF_NAME\"".to_owned(),
        ]
    });

    // `members` from every agent shows all three alive.
    for a in &agents {
        let text = a.ok(&["members"]);
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.lines().all(|l| l.contains(" alive ")), "{text}");
    }

    // One event runs the user handler on every agent exactly once.
    let out = agents[1].ok(&["event", "deploy", "v42"]);
    assert!(out.contains("Event 'deploy' dispatched"), "{out}");
    assert!(
        wait_until(WAIT, || lines(&events).len() >= 3),
        "handlers ran: {:?}",
        lines(&events)
    );
    std::thread::sleep(Duration::from_millis(1500));
    let mut got = lines(&events);
    got.sort();
    assert_eq!(
        got,
        [
            "e1 user deploy web v42",
            "e2 user deploy web v42",
            "e3 user deploy db v42"
        ]
    );

    // A query returns every agent's handler output, and returns early once all answered.
    let start = Instant::now();
    let out = agents[0].ok(&["query", "-timeout=8s", "whoami"]);
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "query waited out its timeout: {out}"
    );
    for name in ["e1", "e2", "e3"] {
        assert!(
            out.contains(&format!("Response from '{name}': i am {name}")),
            "{out}"
        );
    }
    assert!(out.contains("Total Responses: 3"), "{out}");

    // -tag filters the responders.
    let out = agents[2].ok(&[
        "query",
        "-tag",
        "role=web",
        "-format",
        "json",
        "-timeout=3s",
        "whoami",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut responders: Vec<&str> = v["Responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    responders.sort();
    assert_eq!(responders, ["e1", "e2"]);

    // Tags changed at run time reach the other members.
    agents[0].ok(&["tags", "-set", "zone=z1", "-delete", "role"]);
    assert!(
        wait_until(WAIT, || agents[1]
            .ok(&["members", "-name", "e1"])
            .contains("zone=z1")),
        "{}",
        agents[1].ok(&["members"])
    );

    // info and reachability work.
    let info = agents[0].ok(&["info"]);
    assert!(info.contains("name = e1"), "{info}");
    let reach = agents[0].ok(&["reachability"]);
    assert!(
        reach.contains("Successfully contacted all 3 nodes"),
        "{reach}"
    );

    // `leave` makes the agent leave gracefully and exit; the others show it as left.
    let out = agents[2].ok(&["leave"]);
    assert!(out.contains("Graceful leave complete"), "{out}");
    assert!(
        wait_until(WAIT, || agents[0].status_of("e3").as_deref()
            == Some("left")),
        "{:?}",
        agents[0].members()
    );
    let mut leaver = agents.into_iter().nth(2).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || leaver
            .child
            .try_wait()
            .unwrap()
            .is_some()),
        "agent did not exit after leave"
    );
}

#[test]
fn a_killed_agent_runs_member_failed_handlers_and_can_be_force_left() {
    let dir = TempDir::new("failed");
    let agents = cluster(&dir, "f", 3, |i| {
        let file = dir.path(&format!("failed.{i}")).display().to_string();
        vec![format!("-event-handler=member-failed=cat >> {file}")]
    });
    let mut agents = agents.into_iter();
    let (a, b, mut c) = (
        agents.next().unwrap(),
        agents.next().unwrap(),
        agents.next().unwrap(),
    );
    c.child.kill().unwrap();
    let _ = c.child.wait();
    for (i, x) in [(1, &a), (2, &b)] {
        let file = dir.path(&format!("failed.{i}"));
        assert!(
            wait_until(WAIT, || lines(&file)
                .iter()
                .any(|l| l.starts_with("f3\t127.0.0.1\t"))),
            "member-failed handler did not run on {}: {:?} members {:?}",
            x.name,
            lines(&file),
            x.members()
        );
    }
    assert_eq!(a.status_of("f3").as_deref(), Some("failed"));

    a.ok(&["force-leave", "f3"]);
    assert!(
        wait_until(WAIT, || {
            a.status_of("f3").as_deref() == Some("left")
                && b.status_of("f3").as_deref() == Some("left")
        }),
        "{:?} {:?}",
        a.members(),
        b.members()
    );
    // Unknown members are a clear error.
    let out = a.cli(&["force-leave", "nobody"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));
}

#[test]
fn a_restart_with_a_snapshot_rejoins_without_join_and_without_rerunning_handlers() {
    let dir = TempDir::new("snapshot");
    let snap = dir.path("b.snapshot").display().to_string();
    let file = dir.path("user.b");
    let handler = format!(
        "-event-handler=user=echo \"$SERF_USER_EVENT $(cat)\" >> {}",
        file.display()
    );
    let a = Agent::start(&dir, "s1", &[]);
    let b = Agent::start(
        &dir,
        "s2",
        &[
            &format!("-join={}", a.bind),
            &format!("-snapshot={snap}"),
            &handler,
        ],
    );
    assert!(wait_until(WAIT, || a.status_of("s2").as_deref() == Some("alive")));
    a.ok(&["event", "first", "1"]);
    assert!(
        wait_until(WAIT, || lines(&file) == ["first 1"]),
        "{:?}",
        lines(&file)
    );
    // Let the snapshot flush (every second), then crash.
    std::thread::sleep(Duration::from_millis(1500));
    let bind = b.bind.clone();
    drop(b);

    // Same name, same address, no -join: the snapshot brings it back.
    let b = Agent::start_on(&dir, "s2", &bind, &[&format!("-snapshot={snap}"), &handler]);
    assert!(
        wait_until(WAIT, || b.status_of("s1").as_deref() == Some("alive")
            && a.status_of("s2").as_deref() == Some("alive")),
        "no rejoin: {:?} / {:?}\n{}",
        b.members(),
        a.members(),
        b.log_text()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lines(&file), ["first 1"], "an old event ran again");
    a.ok(&["event", "second", "2"]);
    assert!(
        wait_until(WAIT, || lines(&file) == ["first 1", "second 2"]),
        "{:?}",
        lines(&file)
    );

    // SIGINT leaves gracefully.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(b.child.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert!(
        wait_until(WAIT, || a.status_of("s2").as_deref() == Some("left")),
        "{:?}",
        a.members()
    );
}

#[test]
fn bad_rpc_input_wrong_tokens_and_bad_flags_get_clear_errors() {
    let dir = TempDir::new("errors");
    let a = Agent::start(&dir, "x1", &["-rpc-auth=s3cret"]);

    // Garbage, requests before the handshake, a wrong token: error replies, no crash.
    let got = raw_lines(
        &a.rpc,
        &[
            "this is not json",
            r#"{"seq":1,"command":"members"}"#,
            r#"{"seq":2,"command":"handshake","version":1,"auth":"wrong"}"#,
        ],
        3,
    );
    assert!(got[0].contains("malformed request"), "{got:?}");
    assert!(got[1].contains("handshake required"), "{got:?}");
    assert!(got[2].contains("invalid RPC auth token"), "{got:?}");

    // After a good handshake: unknown commands, missing fields, oversized lines.
    let huge = format!(
        r#"{{"seq":9,"command":"event","name":"{}"}}"#,
        "x".repeat(400_000)
    );
    let got = raw_lines(
        &a.rpc,
        &[
            r#"{"seq":0,"command":"handshake","version":1,"auth":"s3cret"}"#,
            r#"{"seq":1,"command":"fly"}"#,
            r#"{"seq":2,"command":"join"}"#,
            r#"{"seq":3,"command":"members","name":"("}"#,
            &huge,
            r#"{"seq":4,"command":"members"}"#,
        ],
        6,
    );
    // Requests run concurrently: replies are matched by seq, not by order.
    let reply = |seq: u64| {
        got.iter()
            .find(|l| l.contains(&format!("\"seq\":{seq},")))
            .cloned()
            .unwrap_or_default()
    };
    assert!(got[0].contains("\"body\""), "{got:?}");
    assert!(reply(1).contains("fly"), "{got:?}");
    assert!(reply(2).contains("addrs"), "{got:?}");
    assert!(reply(3).contains("invalid name filter '('"), "{got:?}");
    assert!(got.iter().any(|l| l.contains("too long")), "{got:?}");
    assert!(reply(4).contains("\"members\""), "{got:?}");

    // The CLI: no token, wrong token, right token.
    let out = a.cli(&["members"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid RPC auth token"), "{err}");
    let out = a.cli(&["members", "-rpc-auth=nope"]);
    assert!(!out.status.success());
    let text = a.ok(&["members", "-rpc-auth=s3cret"]);
    assert!(text.contains("x1"), "{text}");

    // No agent at the address.
    let out = run(&["members", "-rpc-addr=127.0.0.1:1"], WAIT);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("error connecting"));

    // Bad flags and config values: one line naming the setting, non-zero exit.
    let cfg = dir.path("bad.json");
    std::fs::write(&cfg, r#"{"node_name":"x","retry_intervall":"1s"}"#).unwrap();
    for (args, needle) in [
        (vec!["agent", "-profile=moon"], "profile"),
        (vec!["agent", "-bogus-flag"], "bogus-flag"),
        (vec!["agent", "-retry-interval", "soon"], "retry_interval"),
        (
            vec!["agent", "-event-handler", "member-jion=x.sh"],
            "member-jion",
        ),
        (
            vec!["agent", "-config-file", cfg.to_str().unwrap()],
            "retry_intervall",
        ),
        (
            vec![
                "agent",
                "-bind=127.0.0.1:0",
                "-node",
                "y",
                "-rpc-addr",
                &a.rpc,
            ],
            "RPC",
        ),
        (vec!["event"], "NAME"),
    ] {
        let out = run(&args, WAIT);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }

    // `monitor` streams log lines until stopped.
    let mut s = TcpStream::connect(&a.rpc).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"{\"seq\":0,\"command\":\"handshake\",\"version\":1,\"auth\":\"s3cret\"}\n\
          {\"seq\":1,\"command\":\"monitor\",\"log_level\":\"debug\"}\n",
    )
    .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"body\""), "{line}");
    std::thread::sleep(Duration::from_millis(200));
    a.ok(&["members", "-rpc-auth=s3cret"]);
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"seq\":1,\"event\":{\"log\""), "{line}");
    s.write_all(b"{\"seq\":2,\"command\":\"stop\",\"stop_seq\":1}\n")
        .unwrap();
    let mut stopped = false;
    for _ in 0..20 {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.contains("\"seq\":2,\"body\"") {
            stopped = true;
            break;
        }
    }
    assert!(stopped, "monitor did not stop");

    // The agent survived all of it.
    assert_eq!(a.status_of("x1"), None, "needs the token");
    let text = a.ok(&["members", "-rpc-auth=s3cret"]);
    assert!(text.contains("alive"), "{text}");
}

#[test]
fn help_covers_every_command() {
    let out = run(&["--help"], WAIT);
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "agent",
        "members",
        "join",
        "leave",
        "force-leave",
        "event",
        "query",
        "monitor",
        "tags",
        "info",
        "reachability",
        "version",
    ] {
        assert!(text.contains(cmd), "{cmd} missing from --help");
        let out = run(&[cmd, "-help"], WAIT);
        assert!(out.status.success(), "{cmd} -help failed");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
    let out = run(&["agent", "--help"], WAIT);
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "-snapshot",
        "-event-handler",
        "-retry-join",
        "-tags-file",
        "-rpc-auth",
    ] {
        assert!(text.contains(flag), "{flag} missing from agent --help");
    }
}
