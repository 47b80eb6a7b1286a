//! Agent process tests for issue 7: encrypted clusters, outsiders kept out, key rotation
//! with a node offline, turning encryption on in a live cluster, keygen and bad keys.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Agent, TempDir, cluster, lines, raw_lines, run, wait_until};

const WAIT: Duration = Duration::from_secs(20);

fn keygen() -> String {
    let out = run(&["keygen"], WAIT);
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&key)
        .unwrap();
    assert_eq!(bytes.len(), 32, "{key}");
    key
}

fn info(a: &Agent) -> serde_json::Value {
    serde_json::from_str(&a.ok(&["info", "-format", "json"])).unwrap()
}

/// Waits for an agent whose start-up join must fail; returns its log.
fn exits_with_error(a: &mut Agent) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = a.child.try_wait().unwrap() {
            assert!(!status.success(), "{} exited 0", a.name);
            return a.log_text();
        }
        assert!(
            Instant::now() < deadline,
            "{} is still running: {}",
            a.name,
            a.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn keyring_file(p: &Path) -> Vec<String> {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_default()).unwrap_or_default()
}

fn all_alive(agents: &[&Agent], n: usize) -> bool {
    agents.iter().all(|a| {
        let m = a.members();
        m.len() == n && m.iter().all(|(_, s)| s == "alive")
    })
}

#[test]
fn an_encrypted_cluster_works_and_keeps_out_nodes_without_the_key_or_label() {
    let dir = TempDir::new("encrypted");
    let key = keygen();
    let events = dir.path("events");
    let ev = events.display().to_string();
    let agents = cluster(&dir, "c", 3, |_| {
        vec![
            "-profile=lan".to_owned(),
            format!("-encrypt={key}"),
            "-label=prod".to_owned(),
            format!("-event-handler=user:deploy=echo \"$SERF_SELF_NAME $(cat)\" >> {ev}"),
        ]
    });
    // An event runs the handlers on every node.
    agents[1].ok(&["event", "deploy", "v1"]);
    assert!(
        wait_until(WAIT, || lines(&events).len() >= 3),
        "{:?}",
        lines(&events)
    );
    let i = info(&agents[0]);
    assert_eq!(i["serf"]["encrypted"], true, "{i}");
    assert_eq!(i["encryption"]["label"], "prod", "{i}");
    assert_eq!(i["encryption"]["keys"], 1, "{i}");

    // Outsiders: no key, a wrong key, the right key with another label. Each one's join
    // fails with a clear error, and the cluster does not list it.
    let seed = format!("-join={}", agents[0].bind);
    let wrong = format!("-encrypt={}", keygen());
    let right = format!("-encrypt={key}");
    let mut outsiders = [
        Agent::start(&dir, "nokey", &["-label=prod", &seed]),
        Agent::start(&dir, "wrongkey", &["-label=prod", &wrong, &seed]),
        Agent::start(&dir, "otherlabel", &["-label=test", &right, &seed]),
    ];
    for o in &mut outsiders {
        let log = exits_with_error(o);
        assert!(log.contains("failed to join"), "{log}");
        assert!(log.contains("-label match"), "{log}");
    }
    let names: Vec<String> = agents[0].members().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["c1", "c2", "c3"]);
    assert!(all_alive(&agents.iter().collect::<Vec<_>>(), 3));
    // The cluster counted what it dropped, and said so.
    let e = &info(&agents[0])["encryption"];
    assert!(e["decrypt_failures"].as_u64().unwrap() > 0, "{e}");
    assert!(e["plaintext_rejected"].as_u64().unwrap() > 0, "{e}");
    assert!(e["label_mismatches"].as_u64().unwrap() > 0, "{e}");
    let log = agents[0].log_text();
    assert!(log.contains("no key matches"), "{log}");
    assert!(log.contains("plaintext packets refused"), "{log}");
    assert!(log.contains("another cluster label"), "{log}");
    // Still one cluster that works.
    agents[2].ok(&["event", "deploy", "v2"]);
    assert!(
        wait_until(WAIT, || lines(&events).len() >= 6),
        "{:?}",
        lines(&events)
    );
}

#[test]
fn keygen_is_random_and_bad_keys_and_keyring_files_are_refused_clearly() {
    let dir = TempDir::new("badkeys");
    assert_ne!(keygen(), keygen());
    let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
    for (bad, expect) in [
        ("not-base64!".to_owned(), "not base64"),
        (short, "16 bytes"),
    ] {
        let out = run(
            &[
                "agent",
                "-bind=127.0.0.1:0",
                "-rpc-addr=127.0.0.1:0",
                "-encrypt",
                &bad,
            ],
            WAIT,
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("-encrypt") && err.contains(expect), "{err}");
    }
    let corrupt = dir.path("keyring.json");
    std::fs::write(&corrupt, "[\"AAAA\", ").unwrap();
    let out = run(
        &[
            "agent",
            "-bind=127.0.0.1:0",
            "-rpc-addr=127.0.0.1:0",
            &format!("-keyring-file={}", corrupt.display()),
        ],
        WAIT,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid keyring_file") && err.contains("keyring.json"),
        "{err}"
    );
    // `keys` checks keys before it calls the agent.
    let out = run(&["keys", "-install", "not base64!"], WAIT);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not base64"));
}

#[test]
fn a_rotation_with_a_node_stopped_then_the_node_rejoins_with_the_new_keyring_file() {
    let dir = TempDir::new("rotate");
    let k1 = keygen();
    let k2 = keygen();
    let ring = |i: usize| dir.path(&format!("r{i}.keyring"));
    let mut agents = cluster(&dir, "r", 3, |i| {
        vec![
            format!("-encrypt={k1}"),
            format!("-keyring-file={}", ring(i).display()),
        ]
    });
    for i in 1..=3 {
        assert_eq!(keyring_file(&ring(i)), [k1.as_str()]);
    }
    // The keyring file wins over -encrypt from now on.
    let r3 = agents.pop().unwrap();
    let r3_bind = r3.bind.clone();
    drop(r3);
    assert!(
        wait_until(WAIT, || agents[0].status_of("r3").as_deref()
            == Some("failed")),
        "{:?}",
        agents[0].members()
    );

    let out = agents[0].ok(&["keys", "-install", &k2]);
    assert!(
        out.contains("Successfully installed key on all 2 nodes"),
        "{out}"
    );
    let out = agents[1].ok(&["keys", "-use", &k2]);
    assert!(out.contains("Successfully changed primary key"), "{out}");
    // The old primary cannot be removed before another key is primary: here it can.
    let out = agents[0].ok(&["keys", "-remove", &k1]);
    assert!(out.contains("Successfully removed key"), "{out}");
    let out = agents[0].ok(&["keys", "-list"]);
    assert!(out.contains(&format!("{k2}  [2/2]")), "{out}");
    assert!(!out.contains(&k1), "{out}");
    // Every running node wrote its rotated keyring.
    assert!(
        wait_until(WAIT, || (1..=2)
            .all(|i| keyring_file(&ring(i)) == [k2.clone()])),
        "{:?} {:?}",
        keyring_file(&ring(1)),
        keyring_file(&ring(2))
    );
    // Removing the primary key fails on every node, and says so.
    let out = agents[0].cli(&["keys", "-remove", &k2]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("r1:") && err.contains("r2:"), "{err}");

    // r3 comes back with its stale keyring: no key matches, it stays out.
    let stale_flag = format!("-keyring-file={}", ring(3).display());
    let stale = Agent::start_on(&dir, "r3", &r3_bind, &[&stale_flag]);
    assert!(
        wait_until(WAIT, || stale.log_text().contains("no key matches")),
        "{}",
        stale.log_text()
    );
    assert_ne!(agents[0].status_of("r3").as_deref(), Some("alive"));
    drop(stale);

    // Given the rotated keyring file, it rejoins.
    std::fs::copy(ring(1), ring(3)).unwrap();
    let seed = format!("-join={}", agents[0].bind);
    let r3 = Agent::start_on(&dir, "r3", &r3_bind, &[&stale_flag, &seed]);
    let all: Vec<&Agent> = agents.iter().chain([&r3]).collect();
    assert!(
        wait_until(WAIT, || all_alive(&all, 3)),
        "{:?}",
        all.iter().map(|a| a.members()).collect::<Vec<_>>()
    );
    let out = r3.ok(&["keys", "-list"]);
    assert!(out.contains(&format!("{k2}  [3/3]")), "{out}");
}

fn sighup(a: &Agent) {
    let pid = a.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn encryption_is_turned_on_in_a_live_cluster_in_three_steps_without_failures() {
    let dir = TempDir::new("enable");
    let key = keygen();
    let failed = dir.path("failed");
    let fl = failed.display().to_string();
    let conf = |i: usize| dir.path(&format!("p{i}.json"));
    for i in 1..=3 {
        std::fs::write(conf(i), "{}").unwrap();
    }
    let agents = cluster(&dir, "p", 3, |i| {
        vec![
            format!("-config-file={}", conf(i).display()),
            format!("-event-handler=member-failed=cat >> {fl}"),
        ]
    });
    let refs: Vec<&Agent> = agents.iter().collect();
    let steady = |what: &str| {
        // A few probe rounds at this step: everyone stays alive.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            assert!(
                all_alive(&refs, 3),
                "{what}: {:?}",
                refs.iter().map(|a| a.members()).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };

    // Step 1, by config file and SIGHUP: the key, still sending and accepting plaintext.
    for (i, a) in agents.iter().enumerate() {
        let ring = dir.path(&format!("p{}.keyring", i + 1));
        let cfg = serde_json::json!({
            "encrypt_key": key,
            "keyring_file": ring,
            "encrypt_accept_plaintext": true,
            "encrypt_send_plaintext": true,
        });
        std::fs::write(conf(i + 1), cfg.to_string()).unwrap();
        sighup(a);
        assert!(
            wait_until(WAIT, || info(a)["encryption"]["encrypted"] == true),
            "{}",
            a.log_text()
        );
        assert_eq!(keyring_file(&ring), [key.as_str()]);
        steady("step 1");
    }
    // Step 2, over RPC: send sealed.
    for a in &agents {
        let out = a.ok(&["keys", "-send-plaintext=false"]);
        assert!(out.contains("send_plaintext=false"), "{out}");
        steady("step 2");
    }
    // Step 3: refuse plaintext.
    for a in &agents {
        let out = a.ok(&["keys", "-accept-plaintext=false"]);
        assert!(out.contains("accept_plaintext=false"), "{out}");
        steady("step 3");
    }
    let e = &info(&agents[0])["encryption"];
    assert_eq!(
        (&e["accept_plaintext"], &e["send_plaintext"]),
        (&serde_json::json!(false), &serde_json::json!(false)),
        "{e}"
    );
    let out = agents[2].ok(&["keys", "-list"]);
    assert!(out.contains(&format!("{key}  [3/3]")), "{out}");
    assert!(!failed.exists(), "member-failed ran: {:?}", lines(&failed));
}

#[test]
fn every_rpc_command_requires_the_auth_token() {
    let dir = TempDir::new("auth");
    let key = keygen();
    let a = Agent::start(
        &dir,
        "t1",
        &["-rpc-auth=s3cret", &format!("-encrypt={key}")],
    );
    let commands = [
        r#""command":"members""#.to_owned(),
        r#""command":"join","addrs":["127.0.0.1:1"]"#.to_owned(),
        r#""command":"leave""#.to_owned(),
        r#""command":"force-leave","node":"x""#.to_owned(),
        r#""command":"event","name":"e""#.to_owned(),
        r#""command":"query","name":"q""#.to_owned(),
        r#""command":"reachability""#.to_owned(),
        r#""command":"monitor""#.to_owned(),
        r#""command":"stream""#.to_owned(),
        r#""command":"stop","stop_seq":1"#.to_owned(),
        r#""command":"tags","set":{"a":"b"}"#.to_owned(),
        r#""command":"info""#.to_owned(),
        format!(r#""command":"install-key","key":"{key}""#),
        format!(r#""command":"use-key","key":"{key}""#),
        format!(r#""command":"remove-key","key":"{key}""#),
        r#""command":"list-keys""#.to_owned(),
        r#""command":"set-plaintext","accept":true"#.to_owned(),
    ];
    let lines: Vec<String> = commands
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{{\"seq\":{},{c}}}", i + 1))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let got = raw_lines(&a.rpc, &refs, refs.len());
    assert_eq!(got.len(), commands.len(), "{got:?}");
    for (l, c) in got.iter().zip(&commands) {
        assert!(l.contains("handshake required"), "{c}: {l}");
    }
    // A wrong token closes the connection before anything runs.
    let wrong = [r#"{"seq":0,"command":"handshake","version":1,"auth":"nope"}"#];
    let got = raw_lines(&a.rpc, &wrong, 2);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("invalid RPC auth token"), "{got:?}");
    // The CLI's key commands too.
    let out = a.cli(&["keys", "-list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid RPC auth token"));
    let out = a.ok(&["keys", "-list", "-rpc-auth=s3cret"]);
    assert!(out.contains(&format!("{key}  [1/1]")), "{out}");
    // The agent is still there.
    let text = a.ok(&["members", "-rpc-auth=s3cret"]);
    assert!(text.contains("t1"), "{text}");
}
