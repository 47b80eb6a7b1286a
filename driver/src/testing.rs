//! Adapter tests, written once and run against every runtime.
//!
//! Each adapter implements [`Harness`] for its runtime and expands
//! [`adapter_tests!`](crate::adapter_tests) in its `tests/`. Every test runs on loopback with port-0 binds,
//! shortened protocol intervals ([`fast_config`]), bounded waits, and stops every node it
//! started.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use futures_lite::io::AsyncWriteExt;
use hearsay_protocol::{Config, Event, MemberState, QueryParams};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::runtime::{
    AsyncTcpListener, AsyncTimer, AsyncUdpSocket, BoxFuture, Runtime, TcpConnection, sleep, timeout,
};
use crate::{DriverConfig, Error, Hearsay, NodeOptions, QueryReply};

/// Longest a single adapter test may run before it fails.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(40);

/// One runtime under test.
pub trait Harness: Sync + 'static {
    /// The runtime's name, for messages.
    fn name(&self) -> &'static str;
    /// The runtime, as the driver sees it. Called from inside [`block_on`](Self::block_on).
    fn runtime(&self) -> Arc<dyn Runtime>;
    /// The adapter's own one-call `start`. Called from inside `block_on`.
    ///
    /// # Errors
    /// As the adapter's `start`.
    fn start(&self, config: Config, options: NodeOptions) -> Result<Hearsay, Error>;
    /// Runs a test body to completion on this runtime.
    fn block_on(&self, body: BoxFuture<()>);
}

/// Runs `body` on `harness` with an overall timeout of [`TEST_TIMEOUT`].
pub fn run<F, Fut>(harness: &'static dyn Harness, body: F)
where
    F: FnOnce(&'static dyn Harness) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let fut = body(harness);
    harness.block_on(Box::pin(async move {
        let rt = harness.runtime();
        if timeout(&*rt, TEST_TIMEOUT, fut).await.is_err() {
            panic!(
                "{}: test did not finish within {TEST_TIMEOUT:?}",
                harness.name()
            );
        }
    }));
}

/// Expands to one `#[test]` per adapter test body, run on `$harness` (a `static` that
/// implements [`Harness`]).
#[macro_export]
macro_rules! adapter_tests {
    ($harness:expr) => {
        $crate::adapter_tests!(@each $harness;
            three_nodes_form_a_cluster,
            stopped_node_is_detected_as_failed,
            graceful_leave_is_seen_by_all,
            push_pull_heals_a_node_that_missed_gossip,
            garbage_input_leaves_the_node_running,
            slow_subscriber_is_skipped_not_waited_for,
            ipv6_nodes_form_a_cluster,
            dead_driver_gives_an_error_not_a_hang,
            user_event_reaches_every_node,
            query_gets_every_response,
            encrypted_cluster_rotates_keys_and_refuses_outsiders,
            a_join_to_a_silent_seed_fails_despite_periodic_push_pulls,
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::testing::run(&$harness, $crate::testing::$name);
            }
        )*
    };
}

/// Protocol settings for tests: the `local` preset with intervals cut ~5× so failure
/// detection takes about a second.
pub fn fast_config() -> Config {
    let mut c = Config::local();
    c.probe_interval = Duration::from_millis(200);
    c.probe_timeout = Duration::from_millis(80);
    c.gossip_interval = Duration::from_millis(40);
    c.reconnect_interval = Duration::from_millis(500);
    c
}

/// Driver settings for tests: short timeouts.
pub fn fast_driver() -> DriverConfig {
    DriverConfig {
        stream_connect_timeout: Duration::from_secs(1),
        stream_io_timeout: Duration::from_millis(500),
        join_timeout: Duration::from_secs(3),
        leave_timeout: Duration::from_secs(1),
        ..DriverConfig::default()
    }
}

fn loopback_v4() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Starts `name` on 127.0.0.1 with [`fast_config`].
///
/// # Panics
/// When the node does not start.
pub fn start_node(h: &dyn Harness, name: &str) -> Hearsay {
    start_node_with(h, name, fast_config(), loopback_v4())
}

/// Starts `name` bound to `bind` with `config`.
///
/// # Panics
/// When the node does not start.
pub fn start_node_with(h: &dyn Harness, name: &str, config: Config, bind: SocketAddr) -> Hearsay {
    let options = NodeOptions::new(name, bind)
        .expect("valid name")
        .driver(fast_driver());
    h.start(config, options)
        .unwrap_or_else(|e| panic!("{}: start {name}: {e}", h.name()))
}

/// `(name, state)` of every member `node` knows, sorted by name.
///
/// # Panics
/// When the driver is gone.
pub async fn view(node: &Hearsay) -> Vec<(String, MemberState)> {
    let mut v: Vec<_> = node
        .members()
        .await
        .expect("members")
        .into_iter()
        .map(|m| (m.name.to_string(), m.state))
        .collect();
    v.sort();
    v
}

/// Polls `check` every 25 ms until it holds; panics with `what` after `limit`.
///
/// # Panics
/// When `check` never holds within `limit`.
pub async fn eventually<F, Fut>(rt: &dyn Runtime, limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = rt.now();
    loop {
        if check().await {
            return;
        }
        assert!(
            rt.now().duration_since(start) < limit,
            "{what}: not reached within {limit:?}"
        );
        sleep(rt, Duration::from_millis(25)).await;
    }
}

/// Whether every node in `nodes` sees exactly `expect` (name, state) pairs.
pub async fn all_see(nodes: &[&Hearsay], expect: &[(&str, MemberState)]) -> bool {
    for n in nodes {
        let Ok(members) = n.members().await else {
            return false;
        };
        for (name, state) in expect {
            if !members
                .iter()
                .any(|m| m.name.as_str() == *name && m.state == *state)
            {
                return false;
            }
        }
    }
    true
}

/// Starts `names` and joins each to the first; waits until all see all alive.
///
/// # Panics
/// When the cluster does not form within 10 s.
pub async fn cluster(h: &dyn Harness, names: &[&str]) -> Vec<Hearsay> {
    let nodes: Vec<Hearsay> = names.iter().map(|n| start_node(h, n)).collect();
    let seed = nodes[0].advertise_addr();
    for n in &nodes[1..] {
        assert_eq!(n.join(&[seed]).await.expect("join"), 1, "{}", h.name());
    }
    converge(&*h.runtime(), &nodes, names).await;
    nodes
}

/// Waits until every node sees every name in `names` alive.
///
/// # Panics
/// After 10 s.
pub async fn converge(rt: &dyn Runtime, nodes: &[Hearsay], names: &[&str]) {
    let refs: Vec<&Hearsay> = nodes.iter().collect();
    let expect: Vec<(&str, MemberState)> = names.iter().map(|n| (*n, MemberState::Alive)).collect();
    eventually(rt, Duration::from_secs(10), "cluster converges", || {
        all_see(&refs, &expect)
    })
    .await;
}

/// Halts every node (no leave), ignoring those already stopped.
pub async fn stop_all(nodes: &[Hearsay]) {
    for n in nodes {
        n.halt().await;
    }
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

/// Three nodes join through one seed and all see each other alive; join events arrive.
pub async fn three_nodes_form_a_cluster(h: &'static dyn Harness) {
    let a = start_node(h, "a");
    let mut events = a.subscribe().await.expect("subscribe");
    let b = start_node(h, "b");
    let c = start_node(h, "c");
    assert_eq!(b.join(&[a.advertise_addr()]).await.expect("join b"), 1);
    assert_eq!(c.join(&[a.advertise_addr()]).await.expect("join c"), 1);
    let nodes = [a, b, c];
    converge(&*h.runtime(), &nodes, &["a", "b", "c"]).await;

    let rt = h.runtime();
    let mut joined = Vec::new();
    while joined.len() < 2 {
        match timeout(&*rt, Duration::from_secs(5), events.next()).await {
            Ok(Some(Event::MemberJoin(m))) if m.name.as_str() != "a" => {
                joined.push(m.name.to_string());
            }
            Ok(Some(_)) => {}
            other => panic!("{}: expected join events, got {other:?}", h.name()),
        }
    }
    joined.sort();
    assert_eq!(joined, ["b", "c"]);
    let stats = nodes[0].stats().await.expect("stats");
    assert!(stats.node.push_pulls_received >= 2);
    assert_eq!(stats.live_members, 3);
    assert_eq!(
        stats.driver.timer_floors, 0,
        "the core's deadline moves after handling"
    );
    stop_all(&nodes).await;
}

/// A node whose driver stops without leaving is declared failed by the others.
pub async fn stopped_node_is_detected_as_failed(h: &'static dyn Harness) {
    let nodes = cluster(h, &["a", "b", "c"]).await;
    nodes[2].halt().await;
    let rt = h.runtime();
    let live = [&nodes[0], &nodes[1]];
    eventually(&*rt, Duration::from_secs(15), "c is seen failed", || {
        all_see(
            &live,
            &[("c", MemberState::Failed), ("a", MemberState::Alive)],
        )
    })
    .await;
    // No false positives among the healthy ones.
    assert!(
        all_see(
            &live,
            &[("a", MemberState::Alive), ("b", MemberState::Alive)]
        )
        .await
    );
    stop_all(&nodes).await;
}

/// `shutdown` leaves gracefully: the others see the node as left, not failed.
pub async fn graceful_leave_is_seen_by_all(h: &'static dyn Harness) {
    let nodes = cluster(h, &["a", "b", "c"]).await;
    nodes[2].shutdown().await.expect("shutdown");
    let rt = h.runtime();
    let live = [&nodes[0], &nodes[1]];
    eventually(&*rt, Duration::from_secs(5), "c is seen left", || {
        all_see(&live, &[("c", MemberState::Left)])
    })
    .await;
    assert!(matches!(nodes[2].members().await, Err(Error::Stopped)));
    stop_all(&nodes).await;
}

/// A node that was deaf to UDP while a new member joined learns about it through
/// push-pull over TCP.
pub async fn push_pull_heals_a_node_that_missed_gossip(h: &'static dyn Harness) {
    let rt = h.runtime();
    let deaf = Arc::new(AtomicBool::new(false));
    let mut c_config = fast_config();
    // Only the deaf node pushes and pulls often, so the heal is its own doing.
    c_config.push_pull_interval = Duration::from_millis(700);
    let c_runtime: Arc<dyn Runtime> = Arc::new(Deaf {
        inner: rt.clone(),
        deaf: deaf.clone(),
    });
    let options = NodeOptions::new("c", loopback_v4())
        .expect("name")
        .driver(fast_driver());
    let a = start_node(h, "a");
    let b = start_node(h, "b");
    let c = crate::start(c_runtime, c_config, options).expect("start c");
    b.join(&[a.advertise_addr()]).await.expect("join b");
    c.join(&[a.advertise_addr()]).await.expect("join c");
    let mut nodes = vec![a, b, c];
    converge(&*h.runtime(), &nodes, &["a", "b", "c"]).await;

    // c misses the gossip about d.
    let pulls_before = nodes[2]
        .stats()
        .await
        .expect("stats")
        .node
        .push_pulls_received;
    deaf.store(true, Ordering::SeqCst);
    let d = start_node(h, "d");
    d.join(&[nodes[0].advertise_addr()]).await.expect("join d");
    sleep(&*rt, Duration::from_millis(300)).await;
    deaf.store(false, Ordering::SeqCst);
    nodes.push(d);

    let c = [&nodes[2]];
    eventually(&*rt, Duration::from_secs(10), "c learns d", || {
        all_see(&c, &[("d", MemberState::Alive)])
    })
    .await;
    let pulls_after = nodes[2]
        .stats()
        .await
        .expect("stats")
        .node
        .push_pulls_received;
    assert!(
        pulls_after > pulls_before,
        "{}: no push-pull reached c",
        h.name()
    );
    stop_all(&nodes).await;
}

/// Garbage datagrams and stream frames are dropped and counted; the node keeps working.
pub async fn garbage_input_leaves_the_node_running(h: &'static dyn Harness) {
    let rt = h.runtime();
    let nodes = cluster(h, &["a", "b"]).await;
    let target = nodes[0].advertise_addr();
    let mut rng = ChaCha8Rng::seed_from_u64(5);

    // Datagrams: empty, random, oversized, right version byte with junk.
    let udp = UdpSocket::bind(loopback_v4()).expect("udp");
    let mut junk = vec![0u8; 3000];
    rng.fill_bytes(&mut junk);
    let _ = udp.send_to(&[], target);
    for len in [1, 2, 7, 100, 1399, 1400, 1401, 3000] {
        let _ = udp.send_to(&junk[..len], target);
    }
    let mut versioned = junk[..200].to_vec();
    versioned[0] = hearsay_protocol::wire::VERSION;
    versioned[1] = 0;
    let _ = udp.send_to(&versioned, target);

    // Stream frames: huge length prefix, zero length, truncated frame, random bytes, a
    // well-framed junk frame, and a connection that stalls.
    let mut framed_junk = (200u32).to_be_bytes().to_vec();
    framed_junk.extend_from_slice(&versioned);
    let mut truncated = (1000u32).to_be_bytes().to_vec();
    truncated.extend_from_slice(&junk[..10]);
    let sends: Vec<Vec<u8>> = vec![
        u32::MAX.to_be_bytes().to_vec(),
        0u32.to_be_bytes().to_vec(),
        truncated,
        junk[..64].to_vec(),
        framed_junk,
        vec![0, 0],
    ];
    for bytes in sends {
        let mut conn = timeout(&*rt, Duration::from_secs(2), rt.connect_tcp(target))
            .await
            .expect("connect in time")
            .expect("connect");
        let _ = conn.write_all(&bytes).await;
        let _ = conn.close().await;
    }
    let stall = rt.connect_tcp(target).await.expect("connect");

    // Still correct: answers, stays alive in b's view, accepts a new member over TCP.
    let c = start_node(h, "c");
    assert_eq!(c.join(&[target]).await.expect("join after garbage"), 1);
    let nodes = [nodes[0].clone(), nodes[1].clone(), c];
    converge(&*h.runtime(), &nodes, &["a", "b", "c"]).await;
    let a = nodes[0].clone();
    eventually(&*rt, Duration::from_secs(3), "garbage is counted", || {
        let a = a.clone();
        async move {
            let s = a.stats().await.expect("stats");
            s.node.decode_errors >= 5
                && s.driver.stream_frames_rejected >= 4
                && s.driver.stream_timeouts >= 1
        }
    })
    .await;
    drop(stall);
    stop_all(&nodes).await;
}

/// A subscriber that never reads loses events (counted); the protocol carries on.
pub async fn slow_subscriber_is_skipped_not_waited_for(h: &'static dyn Harness) {
    let mut driver = fast_driver();
    driver.subscriber_capacity = 1;
    let options = NodeOptions::new("a", loopback_v4())
        .expect("name")
        .driver(driver);
    let a = h.start(fast_config(), options).expect("start a");
    let lazy = a.subscribe().await.expect("subscribe");
    let mut nodes = vec![a];
    for name in ["b", "c", "d"] {
        let n = start_node(h, name);
        n.join(&[nodes[0].advertise_addr()]).await.expect("join");
        nodes.push(n);
    }
    converge(&*h.runtime(), &nodes, &["a", "b", "c", "d"]).await;
    assert!(lazy.dropped() >= 2, "{}: {lazy:?}", h.name());
    let stats = nodes[0].stats().await.expect("stats");
    assert!(stats.driver.events_dropped >= 2);
    stop_all(&nodes).await;
}

/// Nodes bound to `[::1]` form a cluster (skipped when the host has no IPv6 loopback).
pub async fn ipv6_nodes_form_a_cluster(h: &'static dyn Harness) {
    let bind = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0));
    if UdpSocket::bind(bind).is_err() {
        return;
    }
    let a = start_node_with(h, "a6", fast_config(), bind);
    let b = start_node_with(h, "b6", fast_config(), bind);
    assert!(a.advertise_addr().is_ipv6());
    assert_eq!(b.join(&[a.advertise_addr()]).await.expect("join v6"), 1);
    let nodes = [a, b];
    converge(&*h.runtime(), &nodes, &["a6", "b6"]).await;
    stop_all(&nodes).await;
}

/// Calls on a handle whose driver stopped fail fast; a join to nowhere fails in bounded
/// time.
pub async fn dead_driver_gives_an_error_not_a_hang(h: &'static dyn Harness) {
    let rt = h.runtime();
    let a = start_node(h, "a");
    // A port nobody listens on: the join fails within join_timeout.
    let nowhere = {
        let s = std::net::TcpListener::bind(loopback_v4()).expect("bind");
        s.local_addr().expect("addr")
    };
    let started = Instant::now();
    assert!(matches!(a.join(&[nowhere]).await, Err(Error::JoinFailed)));
    assert!(started.elapsed() < Duration::from_secs(4));
    a.halt().await;
    let r = timeout(&*rt, Duration::from_secs(2), a.members()).await;
    assert!(matches!(r, Ok(Err(Error::Stopped))), "{}: {r:?}", h.name());
    let r = timeout(&*rt, Duration::from_secs(2), a.join(&[nowhere])).await;
    assert!(matches!(r, Ok(Err(Error::Stopped))));
}

/// A user event sent by one node is delivered once to every node, the sender included.
pub async fn user_event_reaches_every_node(h: &'static dyn Harness) {
    let rt = h.runtime();
    let nodes = cluster(h, &["a", "b", "c"]).await;
    let mut subs = Vec::new();
    for n in &nodes {
        subs.push(n.subscribe().await.expect("subscribe"));
    }
    nodes[1]
        .user_event("deploy", b"v1.2.3", false)
        .await
        .expect("user event");
    for (i, sub) in subs.iter_mut().enumerate() {
        loop {
            match timeout(&*rt, Duration::from_secs(5), sub.next()).await {
                Ok(Some(Event::User { name, payload, .. })) => {
                    assert_eq!(
                        (name.as_str(), payload.as_slice()),
                        ("deploy", &b"v1.2.3"[..])
                    );
                    break;
                }
                Ok(Some(_)) => {}
                other => panic!("{}: node {i} got no user event: {other:?}", h.name()),
            }
        }
    }
    // Delivered once: no duplicate shows up shortly after.
    sleep(&*rt, Duration::from_millis(300)).await;
    for sub in &mut subs {
        while let Ok(Some(e)) = timeout(&*rt, Duration::from_millis(10), sub.next()).await {
            assert!(
                !matches!(e, Event::User { .. }),
                "{}: duplicate {e:?}",
                h.name()
            );
        }
    }
    stop_all(&nodes).await;
}

/// Every node answers a query; the asker's stream yields each ack and response once and
/// ends at the timeout.
pub async fn query_gets_every_response(h: &'static dyn Harness) {
    let rt = h.runtime();
    let nodes = cluster(h, &["a", "b", "c"]).await;
    // Each node answers "whoami" with its name, from a task of its own.
    for n in &nodes {
        let mut sub = n.subscribe().await.expect("subscribe");
        let node = n.clone();
        rt.spawn(Box::pin(async move {
            while let Some(event) = sub.next().await {
                if let Event::Query { id, name, .. } = event
                    && name == "whoami"
                {
                    let _ = node.respond(id, node.name().as_str().as_bytes()).await;
                }
            }
        }));
    }
    let params = QueryParams::new("whoami")
        .payload(b"?".to_vec())
        .request_ack(true)
        .timeout(Duration::from_millis(1500));
    let started = Instant::now();
    let mut replies = nodes[0].query(params).await.expect("query");
    let mut acks = Vec::new();
    let mut answers = Vec::new();
    while let Ok(Some(reply)) = timeout(&*rt, Duration::from_secs(5), replies.next()).await {
        match reply {
            QueryReply::Ack { from } => acks.push(from.to_string()),
            QueryReply::Response { from, payload } => {
                assert_eq!(from.as_str().as_bytes(), payload.as_slice());
                answers.push(from.to_string());
            }
        }
    }
    // The stream ended (QueryDone), and near the timeout, not at the 5 s guard.
    assert!(started.elapsed() < Duration::from_secs(4), "{}", h.name());
    answers.sort();
    acks.sort();
    for name in ["b", "c"] {
        assert!(
            answers.iter().any(|a| a == name),
            "{}: answers {answers:?}",
            h.name()
        );
        assert!(
            acks.iter().any(|a| a == name),
            "{}: acks {acks:?}",
            h.name()
        );
    }
    let mut dedup = answers.clone();
    dedup.dedup();
    assert_eq!(dedup, answers, "each responder once");
    stop_all(&nodes).await;
}

/// A node already in a cluster joins a seed that accepts the TCP connection but never
/// answers. Its periodic push-pulls with the cluster get answered meanwhile; they must
/// not count as the seed's answer, so the join fails.
pub async fn a_join_to_a_silent_seed_fails_despite_periodic_push_pulls(h: &'static dyn Harness) {
    let rt = h.runtime();
    let a = start_node(h, "a");
    let mut b_config = fast_config();
    // b exchanges state with a several times within the join timeout.
    b_config.push_pull_interval = Duration::from_millis(300);
    let b = start_node_with(h, "b", b_config, loopback_v4());
    assert_eq!(b.join(&[a.advertise_addr()]).await.expect("join a"), 1);
    let nodes = [a, b];
    converge(&*rt, &nodes, &["a", "b"]).await;

    // The silent seed: accepts connections, reads nothing, answers nothing.
    let listener = std::net::TcpListener::bind(loopback_v4()).expect("bind");
    let silent = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("non-blocking");
    let mut listener = rt.wrap_tcp_listener(listener).expect("wrap");
    let (stop, stopped) = async_channel::bounded::<()>(1);
    rt.spawn(Box::pin(async move {
        let mut open = Vec::new();
        let accept = async {
            while let Ok((conn, _)) = std::future::poll_fn(|cx| listener.poll_accept(cx)).await {
                open.push(conn);
            }
        };
        futures_lite::future::or(accept, async {
            let _ = stopped.recv().await;
        })
        .await;
    }));

    let before = nodes[1]
        .stats()
        .await
        .expect("stats")
        .node
        .push_pulls_received;
    let result = nodes[1].join(&[silent]).await;
    let after = nodes[1]
        .stats()
        .await
        .expect("stats")
        .node
        .push_pulls_received;
    assert!(
        after > before,
        "{}: no periodic push-pull was answered during the join",
        h.name()
    );
    assert!(
        matches!(result, Err(Error::JoinFailed)),
        "{}: a join nobody answered returned {result:?}",
        h.name()
    );
    drop(stop);
    stop_all(&nodes).await;
}

// ---------------------------------------------------------------------------------------
// Fault injection
// ---------------------------------------------------------------------------------------

/// A runtime whose UDP sockets drop every received datagram while `deaf` is set.
#[derive(Debug)]
pub struct Deaf {
    /// The real runtime.
    pub inner: Arc<dyn Runtime>,
    /// While true, received datagrams are discarded.
    pub deaf: Arc<AtomicBool>,
}

impl Runtime for Deaf {
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        self.inner.new_timer(deadline)
    }
    fn spawn(&self, future: BoxFuture<()>) {
        self.inner.spawn(future);
    }
    fn wrap_udp_socket(&self, socket: UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        Ok(Arc::new(DeafSocket {
            inner: self.inner.wrap_udp_socket(socket)?,
            deaf: self.deaf.clone(),
        }))
    }
    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Box<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }
    fn connect_tcp(&self, addr: SocketAddr) -> BoxFuture<io::Result<Box<dyn TcpConnection>>> {
        self.inner.connect_tcp(addr)
    }
    fn now(&self) -> Instant {
        self.inner.now()
    }
}

#[derive(Debug)]
struct DeafSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    deaf: Arc<AtomicBool>,
}

impl AsyncUdpSocket for DeafSocket {
    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        dst: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_send_to(cx, buf, dst)
    }
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        loop {
            let r = std::task::ready!(self.inner.poll_recv_from(cx, buf));
            if !self.deaf.load(Ordering::SeqCst) {
                return Poll::Ready(r);
            }
        }
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Three nodes with a shared key form a cluster, rotate to a new key through sealed key
/// queries, and a node without the key cannot join.
pub async fn encrypted_cluster_rotates_keys_and_refuses_outsiders(h: &'static dyn Harness) {
    use hearsay_protocol::{KeyOp, KeyResponse, Keyring, SecretKey};
    let rt = h.runtime();
    let bind: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let old = SecretKey::new([1; 32]);
    let new = SecretKey::new([2; 32]);
    let names = ["a", "b", "c"];
    let nodes: Vec<Hearsay> = names
        .iter()
        .map(|n| {
            let options = NodeOptions::new(n, bind)
                .expect("valid name")
                .driver(fast_driver())
                .keyring(Keyring::new(old.clone()));
            h.start(fast_config(), options).expect("start")
        })
        .collect();
    let seed = nodes[0].advertise_addr();
    for n in &nodes[1..] {
        assert_eq!(n.join(&[seed]).await.expect("join"), 1, "{}", h.name());
    }
    converge(&*rt, &nodes, &names).await;
    for (op, key) in [
        (KeyOp::Install, &new),
        (KeyOp::Use, &new),
        (KeyOp::Remove, &old),
    ] {
        let mut replies = nodes[0]
            .key_query(op, Some(key.clone()), Some(Duration::from_secs(1)))
            .await
            .expect("key query");
        let mut ok = 0;
        while let Ok(Some(r)) = timeout(&*rt, Duration::from_secs(3), replies.next()).await {
            if let QueryReply::Response { payload, .. } = r {
                let r = KeyResponse::decode(&payload).expect("a key response");
                assert!(r.ok, "{}: {op:?}: {}", h.name(), r.error);
                ok += 1;
            }
        }
        assert_eq!(ok, 3, "{}: {op:?} answered by every node", h.name());
    }
    for n in &nodes {
        let ring = n.keyring().await.expect("keyring").expect("a keyring");
        assert_eq!(ring.keys(), std::slice::from_ref(&new), "{}", h.name());
    }
    // An outsider without the key gets no answer to its join.
    let outsider = start_node(h, "outsider");
    assert!(
        outsider.join(&[seed]).await.is_err(),
        "{}: joined without the key",
        h.name()
    );
    converge(&*rt, &nodes, &names).await;
    for n in &nodes {
        assert!(
            !view(n).await.iter().any(|(name, _)| name == "outsider"),
            "{}",
            h.name()
        );
    }
    outsider.halt().await;
    stop_all(&nodes).await;
}
