//! `hearsay agent`: starts the node, the RPC server, the handler runner and the snapshot,
//! joins, then waits for signals.
//!
//! ```text
//!              ┌───────────── Hearsay handle (hearsay-tokio: pump task owns the Node)
//!              │
//!  event loop ◀┤ subscribe ── member events ─▶ MemberCoalescer ─┐
//!   (one task) │            ── user events ──▶ UserEventCoalescer ┼─▶ handler Runner
//!              │            ── queries ─────────────────────────┘      (never waits)
//!              │            ── everything ─▶ snapshot, `stream` RPC clients
//!  RPC server ─┘ one task per connection, one per request
//!  main task: SIGINT / SIGTERM / SIGHUP, `leave` RPC ─▶ graceful leave or halt
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::StreamExt;
use hearsay_driver::QueryReply;
use hearsay_tokio::protocol::{
    Event, Instant as CoreInstant, KeyOp, Member, MemberCoalescer, MemberState, QueryId,
    QueryParams, Tags, UserEventCoalescer,
};
use hearsay_tokio::{DriverConfig, Hearsay, NodeOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio::task::AbortHandle;

use crate::cli::AgentArgs;
use crate::config::{self, Profile, Settings};
use crate::handlers::{
    EventKind, HandlerEvent, HandlerSpec, MemberLine, Responder, Runner, RunnerContext,
};
use crate::logging::{self, LogTap};
use crate::rpc::{self, LINE_BYTES_MAX, LineError, RPC_VERSION, Request, Response};
use crate::security::{self, Security};
use crate::snapshot::{Record, Snapshot};

/// Most RPC connections served at once; more are answered with an error and closed.
const RPC_CONNECTIONS_MAX: usize = 64;
/// Replies queued per RPC connection; streamed lines beyond it are dropped.
const RPC_REPLY_BUFFER: usize = 256;
/// Events buffered per `stream` client.
const STREAM_BUFFER: usize = 256;
/// How often the snapshot is flushed and the clocks recorded.
const SNAPSHOT_FLUSH: Duration = Duration::from_secs(1);

/// Why the agent stops.
#[derive(Debug)]
enum Exit {
    /// Leave gracefully, then stop.
    Leave,
    /// Stop without leaving.
    Halt,
    /// Give up with an error.
    Fatal(String),
}

/// Everything request handlers and tasks share.
struct Agent {
    node: Hearsay,
    settings: Settings,
    args: AgentArgs,
    ctx: Arc<RunnerContext>,
    logs: LogTap,
    events: broadcast::Sender<Arc<Event>>,
    snapshot: Option<Mutex<Snapshot>>,
    exit: mpsc::Sender<Exit>,
    tags_update: tokio::sync::Mutex<()>,
    rpc_addr: SocketAddr,
    security: Arc<Security>,
}

/// Runs `hearsay agent`; returns the process exit code.
pub fn run(args: AgentArgs) -> i32 {
    let settings = match config::settings(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hearsay agent: {e}");
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hearsay agent: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        match start(args, settings).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("hearsay agent: {e}");
                1
            }
        }
    })
}

fn read_tags_file(path: &Path) -> Result<Option<BTreeMap<String, String>>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("invalid tags_file {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read tags_file {}: {e}", path.display())),
    }
}

fn write_tags_file(path: &Path, tags: &BTreeMap<String, String>) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_string_pretty(tags).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn to_tags(map: &BTreeMap<String, String>) -> Tags {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn tags_map(tags: &Tags) -> BTreeMap<String, String> {
    tags.iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `host:port` with Serf's default port added when there is none.
fn with_default_port(a: &str) -> String {
    if a.parse::<SocketAddr>().is_ok() {
        return a.to_owned();
    }
    if let Ok(ip) = a.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return SocketAddr::new(ip, config::DEFAULT_PORT).to_string();
    }
    match a.rsplit_once(':') {
        Some((_, p)) if p.parse::<u16>().is_ok() => a.to_owned(),
        _ => format!("{a}:{}", config::DEFAULT_PORT),
    }
}

async fn resolve(addrs: &[String]) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for a in addrs {
        let target = with_default_port(a.trim());
        let found = tokio::net::lookup_host(target.as_str())
            .await
            .map_err(|e| format!("cannot resolve '{a}': {e}"))?
            .next()
            .ok_or_else(|| format!("cannot resolve '{a}'"))?;
        out.push(found);
    }
    Ok(out)
}

async fn start(args: AgentArgs, mut settings: Settings) -> Result<i32, String> {
    let logs = logging::init(settings.log_level, settings.log_json);

    // Tags: the tags file wins and is the only source once it exists (as in Serf).
    if let Some(path) = &settings.tags_file {
        match read_tags_file(path)? {
            Some(file_tags) => {
                if !settings.tags.is_empty() && settings.tags != file_tags {
                    return Err(format!(
                        "tags given with -tag while tags_file {} exists; use `hearsay tags` or \
                         edit the file instead",
                        path.display()
                    ));
                }
                settings.tags = file_tags;
            }
            None => write_tags_file(path, &settings.tags)
                .map_err(|e| format!("cannot write tags_file {}: {e}", path.display()))?,
        }
    }

    let (snapshot, recovered) = match &settings.snapshot {
        Some(path) => {
            let (s, r) = Snapshot::open(path, settings.rejoin)
                .map_err(|e| format!("cannot open snapshot {}: {e}", path.display()))?;
            if let Some(why) = &r.corrupt_tail {
                tracing::warn!(snapshot = %path.display(), "snapshot {why}; ignored the rest");
            }
            (Some(Mutex::new(s)), Some(r))
        }
        None => (None, None),
    };

    let (keyring, persisted) = security::initial_keyring(&settings)?;
    let security = Arc::new(Security::new(&settings, keyring.as_ref(), persisted));
    let mut options = NodeOptions::new(&settings.node_name, settings.bind)
        .map_err(|e| format!("invalid node_name: {e}"))?
        .tags(to_tags(&settings.tags))
        .driver(DriverConfig::default());
    if let Some(k) = keyring {
        options = options.keyring(k);
    }
    if let Some(a) = settings.advertise {
        options = options.advertise(a);
    }
    let node = hearsay_tokio::start(settings.protocol.clone(), options)
        .map_err(|e| format!("cannot start the node on {}: {e}", settings.bind))?;
    let listener = TcpListener::bind(settings.rpc_addr)
        .await
        .map_err(|e| format!("cannot listen for RPC on {}: {e}", settings.rpc_addr))?;
    let rpc_addr = listener
        .local_addr()
        .map_err(|e| format!("cannot listen for RPC: {e}"))?;

    let ctx = Arc::new(RunnerContext {
        self_name: settings.node_name.clone(),
        tags: Mutex::new(settings.tags.clone()),
        handlers: std::sync::RwLock::new(Arc::new(settings.handlers.clone())),
        timeout: settings.handler_timeout,
        response_bytes_max: settings.protocol.query_response_bytes_max,
    });
    let (exit_tx, mut exit_rx) = mpsc::channel(4);
    let (events, _) = broadcast::channel(STREAM_BUFFER);
    let agent = Arc::new(Agent {
        node: node.clone(),
        settings: settings.clone(),
        args,
        ctx: ctx.clone(),
        logs,
        events,
        snapshot,
        exit: exit_tx,
        tags_update: tokio::sync::Mutex::new(()),
        rpc_addr,
        security: security.clone(),
    });

    let runner = Runner::start(
        ctx,
        settings.handler_concurrency,
        Arc::new(NodeResponder(node.clone())),
    );
    let subscription = node
        .subscribe()
        .await
        .map_err(|e| format!("cannot subscribe to events: {e}"))?;
    let floor = recovered.as_ref().map_or(0, |r| r.last_event);
    tokio::spawn(event_loop(agent.clone(), subscription, runner, floor));
    tokio::spawn(rpc_server(agent.clone(), listener));
    if agent.snapshot.is_some() {
        tokio::spawn(snapshot_ticker(agent.clone()));
    }
    tokio::spawn(security::watch(security.clone(), node.clone()));

    print_banner(&agent);

    // Joins.
    if !settings.start_join.is_empty() {
        let seeds = resolve(&settings.start_join).await?;
        tracing::info!(seeds = ?settings.start_join, replay = settings.replay, "joining cluster");
        let joined = if settings.replay {
            node.join_replay(&seeds).await
        } else {
            node.join(&seeds).await
        };
        match joined {
            Ok(n) => tracing::info!("join completed; synced with {n} initial agents"),
            Err(e) => {
                let _ = node.halt().await;
                return Err(format!(
                    "failed to join {}: {e}{}",
                    settings.start_join.join(", "),
                    join_hint(&e)
                ));
            }
        }
    }
    if let Some(r) = &recovered {
        let previous: Vec<SocketAddr> = r
            .alive
            .iter()
            .filter(|(name, _)| **name != settings.node_name)
            .filter_map(|(_, a)| a.parse().ok())
            .collect();
        if !previous.is_empty() {
            let node = node.clone();
            tokio::spawn(async move {
                tracing::info!(
                    members = previous.len(),
                    "rejoining members from the snapshot"
                );
                match node.join(&previous).await {
                    Ok(n) => tracing::info!("rejoined; synced with {n} previously known agents"),
                    Err(e) => tracing::warn!("could not rejoin from the snapshot: {e}"),
                }
            });
        } else if r.left && !settings.rejoin {
            tracing::info!("snapshot records a graceful leave; not rejoining (see -rejoin)");
        }
    }
    if !settings.retry_join.is_empty() {
        tokio::spawn(retry_join(agent.clone()));
    }

    // Signals.
    use tokio::signal::unix::{SignalKind, signal};
    let sig = |k: SignalKind| signal(k).map_err(|e| format!("cannot watch signals: {e}"));
    let mut sigint = sig(SignalKind::interrupt())?;
    let mut sigterm = sig(SignalKind::terminate())?;
    let mut sighup = sig(SignalKind::hangup())?;
    let exit = loop {
        tokio::select! {
            _ = sigint.recv() => {
                tracing::info!("caught SIGINT");
                break if settings.skip_leave_on_interrupt { Exit::Halt } else { Exit::Leave };
            }
            _ = sigterm.recv() => {
                tracing::info!("caught SIGTERM");
                break if settings.leave_on_terminate { Exit::Leave } else { Exit::Halt };
            }
            _ = sighup.recv() => reload(&agent).await,
            e = exit_rx.recv() => break e.unwrap_or(Exit::Halt),
        }
    };
    if let Err(e) = agent.security.persist(&node).await {
        tracing::error!("{e}");
    }
    let code = match exit {
        Exit::Leave => {
            tracing::info!("gracefully leaving the cluster");
            tokio::select! {
                r = node.shutdown() => if let Err(e) = r {
                    tracing::warn!("leave: {e}");
                },
                _ = sigint.recv() => {
                    tracing::warn!("second SIGINT: stopping without finishing the leave");
                    node.halt().await;
                }
            }
            with_snapshot(&agent, |s| s.append(Record::Leave(true)));
            0
        }
        Exit::Halt => {
            node.halt().await;
            0
        }
        Exit::Fatal(e) => {
            tracing::error!("{e}");
            node.halt().await;
            1
        }
    };
    record_clocks(&agent).await;
    with_snapshot(&agent, Snapshot::sync);
    tracing::info!("agent stopped");
    Ok(code)
}

fn print_banner(agent: &Agent) {
    let s = &agent.settings;
    let profile = match s.profile {
        Profile::Lan => "lan",
        Profile::Wan => "wan",
        Profile::Local => "local",
    };
    let snapshot = s
        .snapshot
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string());
    println!("==> Hearsay agent running!");
    println!("         Node name: '{}'", s.node_name);
    println!("         Bind addr: '{}'", agent.node.bound_addr());
    println!("    Advertise addr: '{}'", agent.node.advertise_addr());
    println!("          RPC addr: '{}'", agent.rpc_addr);
    println!("         Encrypted: {}", agent.security.encrypted());
    println!(
        "             Label: {}",
        agent
            .security
            .label()
            .map_or_else(|| "(none)".to_owned(), |l| format!("'{l}'"))
    );
    println!("          Snapshot: {snapshot}");
    println!("           Profile: {profile}");
    println!("==> Log data will now stream in as it occurs:");
}

/// Why a join may have found nobody, when it did.
fn join_hint(e: &hearsay_driver::Error) -> &'static str {
    if matches!(e, hearsay_driver::Error::JoinFailed) {
        " (if the cluster encrypts gossip or has a label, check that -encrypt / -keyring-file \
         and -label match the cluster's)"
    } else {
        ""
    }
}

/// Re-reads config files and flags, swaps the handler list and applies the security
/// settings (SIGHUP).
async fn reload(agent: &Agent) {
    let gathered = config::gather(&agent.args);
    if let Ok(cfg) = &gathered {
        agent.security.reload(&agent.node, cfg).await;
    }
    match gathered.and_then(|c| {
        c.event_handlers
            .iter()
            .map(|h| HandlerSpec::parse(h))
            .collect::<Result<Vec<_>, _>>()
    }) {
        Ok(handlers) => {
            let n = handlers.len();
            if let Ok(mut h) = agent.ctx.handlers.write() {
                *h = Arc::new(handlers);
            }
            tracing::info!("reloaded {n} event handlers");
        }
        Err(e) => tracing::error!("reload failed, keeping the old handlers: {e}"),
    }
}

async fn retry_join(agent: Arc<Agent>) {
    let s = &agent.settings;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = match resolve(&s.retry_join).await {
            Ok(seeds) => if s.replay {
                agent.node.join_replay(&seeds).await
            } else {
                agent.node.join(&seeds).await
            }
            .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match result {
            Ok(n) => {
                tracing::info!("retry join succeeded; synced with {n} agents");
                return;
            }
            Err(e) => tracing::warn!(attempt, "retry join failed: {e}"),
        }
        if s.retry_max > 0 && attempt >= s.retry_max {
            let _ = agent
                .exit
                .send(Exit::Fatal(format!(
                    "could not join {} after {attempt} attempts",
                    s.retry_join.join(", ")
                )))
                .await;
            return;
        }
        tokio::time::sleep(s.retry_interval).await;
    }
}

struct NodeResponder(Hearsay);

impl Responder for NodeResponder {
    fn respond(&self, id: u64, payload: Vec<u8>) {
        let node = self.0.clone();
        tokio::spawn(async move {
            if let Err(e) = node.respond(QueryId::from_u64(id), &payload).await {
                tracing::warn!("query response not sent: {e}");
            }
        });
    }
}

async fn record_clocks(agent: &Agent) {
    let Some(snap) = &agent.snapshot else {
        return;
    };
    let Ok(stats) = agent.node.stats().await else {
        return;
    };
    if let Ok(mut s) = snap.lock() {
        let clocks = [stats.member_time.0, stats.event_time.0, stats.query_time.0];
        let _ = s.append(Record::Clocks(clocks));
    }
}

async fn snapshot_ticker(agent: Arc<Agent>) {
    let mut tick = tokio::time::interval(SNAPSHOT_FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        record_clocks(&agent).await;
        with_snapshot(&agent, Snapshot::flush);
    }
}

fn snapshot_append(agent: &Agent, r: Record) {
    with_snapshot(agent, |s| s.append(r));
}

/// Runs `f` on the snapshot, if there is one; write errors are logged, never fatal.
fn with_snapshot(agent: &Agent, f: impl FnOnce(&mut Snapshot) -> std::io::Result<()>) {
    let Some(snap) = &agent.snapshot else {
        return;
    };
    let Ok(mut s) = snap.lock() else {
        return;
    };
    if let Err(e) = f(&mut s) {
        tracing::warn!("cannot write the snapshot: {e}");
    }
}

/// Serf's coalescing windows: a burst of member events becomes one handler run.
fn coalesce_windows(profile: Profile) -> (Duration, Duration) {
    match profile {
        Profile::Local => (Duration::from_secs(1), Duration::from_millis(200)),
        Profile::Lan | Profile::Wan => (Duration::from_secs(3), Duration::from_secs(1)),
    }
}

fn member_line(m: &Member) -> MemberLine {
    MemberLine {
        name: m.name.to_string(),
        addr: m.addr.ip().to_string(),
        tags: tags_map(&m.tags),
    }
}

async fn event_loop(
    agent: Arc<Agent>,
    mut sub: hearsay_tokio::Subscription,
    runner: Runner,
    floor: u64,
) {
    let origin = std::time::Instant::now();
    let core_now = || {
        CoreInstant::from_micros(u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    };
    let (period, quiet) = coalesce_windows(agent.settings.profile);
    let mut members = MemberCoalescer::new(period, quiet);
    let mut users = UserEventCoalescer::new(period, quiet);
    let self_name = agent.settings.node_name.clone();
    loop {
        let deadline = match (members.deadline(), users.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let sleep_for = deadline
            .map(|d| Duration::from_micros(d.as_micros().saturating_sub(core_now().as_micros())));
        let event = tokio::select! {
            e = sub.next() => match e {
                Some(e) => Some(e),
                None => break,
            },
            _ = tokio::time::sleep(sleep_for.unwrap_or(Duration::from_secs(3600))),
                if sleep_for.is_some() => None,
        };
        let now = core_now();
        if let Some(event) = event {
            if agent.events.receiver_count() > 0 {
                let _ = agent.events.send(Arc::new(event.clone()));
            }
            match &event {
                Event::MemberJoin(m) | Event::MemberUpdate(m) if m.name.as_str() != self_name => {
                    snapshot_append(
                        &agent,
                        Record::Alive {
                            name: m.name.to_string(),
                            addr: m.addr.to_string(),
                        },
                    );
                }
                Event::MemberLeave(m) | Event::MemberFailed(m) | Event::MemberReap(m)
                    if m.name.as_str() != self_name =>
                {
                    snapshot_append(&agent, Record::NotAlive(m.name.to_string()));
                }
                Event::NameConflict { name, winner, .. } => {
                    tracing::error!(%name, ?winner, "another node holds this node's name and won the vote; this node stopped taking part");
                }
                _ => {}
            }
            let rest = members.push(now, event);
            match rest {
                Some(Event::User {
                    ltime,
                    name,
                    payload,
                    coalesce,
                }) => {
                    if ltime.0 <= floor && floor > 0 {
                        tracing::debug!(%name, ltime = ltime.0, "user event already handled before the restart; skipped");
                    } else if coalesce {
                        let _ = users.push(
                            now,
                            Event::User {
                                ltime,
                                name,
                                payload,
                                coalesce,
                            },
                        );
                    } else {
                        dispatch_user(&agent, &runner, ltime.0, name, payload);
                    }
                }
                Some(Event::Query {
                    id,
                    ltime,
                    name,
                    payload,
                    ..
                }) => {
                    runner.dispatch(HandlerEvent {
                        kind: EventKind::Query {
                            name,
                            ltime: ltime.0,
                            payload,
                            id: id.as_u64(),
                        },
                    });
                }
                _ => {}
            }
        }
        let batch = members.flush(now);
        if !batch.is_empty() {
            let mut by_kind: BTreeMap<&'static str, Vec<MemberLine>> = BTreeMap::new();
            for e in &batch {
                if let Some(m) = e.member() {
                    by_kind.entry(e.name()).or_default().push(member_line(m));
                }
            }
            for (name, members) in by_kind {
                runner.dispatch(HandlerEvent {
                    kind: EventKind::Member { name, members },
                });
            }
        }
        for e in users.flush(now) {
            if let Event::User {
                ltime,
                name,
                payload,
                ..
            } = e
            {
                dispatch_user(&agent, &runner, ltime.0, name, payload);
            }
        }
    }
}

fn dispatch_user(agent: &Agent, runner: &Runner, ltime: u64, name: String, payload: Vec<u8>) {
    snapshot_append(agent, Record::LastEvent(ltime));
    runner.dispatch(HandlerEvent {
        kind: EventKind::User {
            name,
            ltime,
            payload,
        },
    });
}

// ------------------------------------------------------------------------------------------
// RPC server
// ------------------------------------------------------------------------------------------

async fn rpc_server(agent: Arc<Agent>, listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(RPC_CONNECTIONS_MAX));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("RPC accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let mut stream = stream;
                let line = Response::err(0, "too many RPC connections").to_line();
                let _ = stream.write_all(line.as_bytes()).await;
            });
            continue;
        };
        let agent = agent.clone();
        tokio::spawn(async move {
            tracing::debug!(%peer, "RPC client connected");
            serve(agent, stream).await;
            drop(permit);
        });
    }
}

async fn serve(agent: Arc<Agent>, stream: TcpStream) {
    let (r, mut w) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Response>(RPC_REPLY_BUFFER);
    let writer = tokio::spawn(async move {
        while let Some(resp) = rx.recv().await {
            if w.write_all(resp.to_line().as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = w.shutdown().await;
    });
    let mut reader = BufReader::new(r);
    let mut authed = false;
    let mut tasks: BTreeMap<u64, AbortHandle> = BTreeMap::new();
    loop {
        let line = match rpc::read_line(&mut reader, LINE_BYTES_MAX).await {
            Ok(Some(l)) => l,
            Ok(None) | Err(LineError::Io(_)) => break,
            Err(LineError::TooLong) => {
                let _ = tx
                    .send(Response::err(
                        0,
                        format!("request line too long (limit {LINE_BYTES_MAX} bytes); skipped"),
                    ))
                    .await;
                // Discarded as it arrives: never buffered beyond the limit.
                if rpc::skip_line(&mut reader).await.is_err() {
                    break;
                }
                continue;
            }
            Err(LineError::NotUtf8) => {
                let _ = tx.send(Response::err(0, "request is not UTF-8")).await;
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let (seq, req) = match rpc::parse_request(&line) {
            Ok(r) => r,
            Err((seq, msg)) => {
                let _ = tx.send(Response::err(seq, msg)).await;
                continue;
            }
        };
        match req {
            Request::Handshake { version, auth } => {
                if authed {
                    let _ = tx.send(Response::err(seq, "duplicate handshake")).await;
                } else if version != RPC_VERSION {
                    let _ = tx
                        .send(Response::err(
                            seq,
                            format!(
                                "unsupported RPC version {version} (agent speaks {RPC_VERSION})"
                            ),
                        ))
                        .await;
                } else if agent.settings.rpc_auth.is_some()
                    && auth.as_deref() != agent.settings.rpc_auth.as_deref()
                {
                    tracing::warn!("RPC client presented a wrong auth token");
                    let _ = tx.send(Response::err(seq, "invalid RPC auth token")).await;
                    break;
                } else {
                    authed = true;
                    let body = json!({"version": RPC_VERSION, "agent": env!("CARGO_PKG_VERSION")});
                    let _ = tx.send(Response::ok(seq, body)).await;
                }
            }
            _ if !authed => {
                let _ = tx
                    .send(Response::err(
                        seq,
                        "handshake required before any other request",
                    ))
                    .await;
            }
            Request::Stop { stop_seq } => {
                let reply = match tasks.remove(&stop_seq) {
                    Some(h) => {
                        h.abort();
                        let _ = tx
                            .send(Response::ok(stop_seq, json!({"stopped": true})))
                            .await;
                        Response::ok(seq, json!({}))
                    }
                    None => Response::err(seq, format!("no stream with seq {stop_seq}")),
                };
                let _ = tx.send(reply).await;
            }
            req => {
                tasks.retain(|_, h| !h.is_finished());
                let streaming = req.is_streaming();
                let agent = agent.clone();
                let tx2 = tx.clone();
                let handle = tokio::spawn(async move {
                    let reply = handle(&agent, seq, req, &tx2).await;
                    let _ = tx2.send(reply).await;
                });
                if streaming {
                    tasks.insert(seq, handle.abort_handle());
                }
            }
        }
    }
    for (_, h) in tasks {
        h.abort();
    }
    drop(tx);
    let _ = writer.await;
}

fn compile(what: &str, pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| format!("invalid {what} filter '{pattern}': {e}"))
}

/// Serf matches member filters against the whole value.
fn compile_anchored(what: &str, pattern: &str) -> Result<regex::Regex, String> {
    compile(what, pattern)?;
    compile(what, &format!("^(?:{pattern})$"))
}

fn member_json(m: &Member) -> Value {
    json!({
        "name": m.name.as_str(),
        "addr": m.addr.ip().to_string(),
        "port": m.addr.port(),
        "tags": tags_map(&m.tags),
        "status": m.state.as_str(),
        "incarnation": m.incarnation.0,
    })
}

fn event_json(e: &Event) -> Option<Value> {
    Some(match e {
        Event::User {
            ltime,
            name,
            payload,
            coalesce,
        } => json!({"event": "user", "name": name, "ltime": ltime.0,
                    "payload": String::from_utf8_lossy(payload), "coalesce": coalesce}),
        Event::Query {
            id,
            ltime,
            name,
            payload,
            from,
        } => json!({"event": "query", "id": id.as_u64(), "name": name, "ltime": ltime.0,
                    "payload": String::from_utf8_lossy(payload), "from": from.as_str()}),
        other => {
            let m = other.member()?;
            json!({"event": other.name(), "members": [member_json(m)]})
        }
    })
}

fn err_string(e: impl std::fmt::Display) -> String {
    e.to_string()
}

async fn handle(agent: &Agent, seq: u64, req: Request, tx: &mpsc::Sender<Response>) -> Response {
    match handle_inner(agent, seq, req, tx).await {
        Ok(body) => Response::ok(seq, body),
        Err(e) => Response::err(seq, e),
    }
}

async fn handle_inner(
    agent: &Agent,
    seq: u64,
    req: Request,
    tx: &mpsc::Sender<Response>,
) -> Result<Value, String> {
    let node = &agent.node;
    match req {
        Request::Handshake { .. } | Request::Stop { .. } => Err("unexpected request".into()),
        Request::Members { status, name, tags } => {
            let status = status.map(|s| compile_anchored("status", &s)).transpose()?;
            let name = name.map(|s| compile_anchored("name", &s)).transpose()?;
            let tags: Vec<(String, regex::Regex)> = tags
                .iter()
                .map(|(k, v)| Ok((k.clone(), compile_anchored("tag", v)?)))
                .collect::<Result<_, String>>()?;
            let mut members = node.members().await.map_err(err_string)?;
            members.sort_by(|a, b| a.name.cmp(&b.name));
            let list: Vec<Value> = members
                .iter()
                .filter(|m| status.as_ref().is_none_or(|r| r.is_match(m.state.as_str())))
                .filter(|m| name.as_ref().is_none_or(|r| r.is_match(m.name.as_str())))
                .filter(|m| {
                    tags.iter()
                        .all(|(k, r)| m.tags.get(k).is_some_and(|v| r.is_match(v)))
                })
                .map(member_json)
                .collect();
            Ok(json!({ "members": list }))
        }
        Request::Join { addrs, replay } => {
            if addrs.is_empty() {
                return Err("join needs at least one address".into());
            }
            let seeds = resolve(&addrs).await?;
            let n = if replay {
                node.join_replay(&seeds).await
            } else {
                node.join(&seeds).await
            }
            .map_err(|e| format!("error joining {}: {e}{}", addrs.join(", "), join_hint(&e)))?;
            Ok(json!({ "num": n }))
        }
        Request::Leave {} => {
            node.leave().await.map_err(err_string)?;
            let _ = agent.exit.try_send(Exit::Leave);
            Ok(json!({}))
        }
        Request::ForceLeave { node: name, prune } => {
            node.force_leave(&name, prune)
                .await
                .map_err(|e| format!("error force-leaving '{name}': {e}"))?;
            Ok(json!({}))
        }
        Request::Event {
            name,
            payload,
            coalesce,
        } => {
            let ltime = node
                .user_event(&name, payload.as_bytes(), coalesce)
                .await
                .map_err(|e| format!("error sending event '{name}': {e}"))?;
            Ok(json!({ "ltime": ltime.0 }))
        }
        Request::Query {
            name,
            payload,
            nodes,
            tags,
            timeout_ms,
            request_ack,
            relay_factor,
        } => {
            let regexes: Vec<(String, regex::Regex)> = tags
                .iter()
                .map(|(k, v)| Ok((k.clone(), compile("tag", v)?)))
                .collect::<Result<_, String>>()?;
            let members = node.members().await.map_err(err_string)?;
            let expected: BTreeSet<String> = members
                .iter()
                .filter(|m| m.state == MemberState::Alive)
                .filter(|m| nodes.is_empty() || nodes.iter().any(|n| n == m.name.as_str()))
                .filter(|m| {
                    regexes
                        .iter()
                        .all(|(k, r)| m.tags.get(k).is_some_and(|v| r.is_match(v)))
                })
                .map(|m| m.name.to_string())
                .collect();
            let params = QueryParams {
                name: name.clone(),
                payload: payload.into_bytes(),
                filter_nodes: nodes,
                filter_tags: tags.into_iter().collect(),
                request_ack,
                relay_factor,
                timeout: timeout_ms.map(Duration::from_millis),
            };
            let mut replies = node
                .query(params)
                .await
                .map_err(|e| format!("error sending query '{name}': {e}"))?;
            let mut acks = BTreeSet::new();
            let mut responses = BTreeSet::new();
            while let Some(r) = replies.next().await {
                match r {
                    QueryReply::Ack { from } => {
                        acks.insert(from.to_string());
                        let _ = tx
                            .send(Response::event(seq, json!({"ack": from.as_str()})))
                            .await;
                    }
                    QueryReply::Response { from, payload } => {
                        responses.insert(from.to_string());
                        let ev = json!({"response": {"from": from.as_str(),
                                        "payload": String::from_utf8_lossy(&payload)}});
                        let _ = tx.send(Response::event(seq, ev)).await;
                    }
                    _ => {}
                }
                let all_responded = expected.iter().all(|n| responses.contains(n));
                let all_acked = !request_ack || expected.iter().all(|n| acks.contains(n));
                if !expected.is_empty() && all_responded && all_acked {
                    break;
                }
            }
            Ok(json!({"acks": acks.len(), "responses": responses.len(),
                      "expected": expected.len()}))
        }
        Request::Reachability { timeout_ms } => {
            let members = node.members().await.map_err(err_string)?;
            let alive: BTreeSet<String> = members
                .iter()
                .filter(|m| m.state == MemberState::Alive)
                .map(|m| m.name.to_string())
                .collect();
            let mut replies = node
                .reachability(timeout_ms.map(Duration::from_millis))
                .await
                .map_err(err_string)?;
            let mut acks = BTreeSet::new();
            while let Some(r) = replies.next().await {
                if let QueryReply::Ack { from } = r {
                    let _ = tx
                        .send(Response::event(seq, json!({"ack": from.as_str()})))
                        .await;
                    acks.insert(from.to_string());
                }
                if alive.iter().all(|n| acks.contains(n)) {
                    break;
                }
            }
            let missing: Vec<&String> = alive.iter().filter(|n| !acks.contains(*n)).collect();
            Ok(
                json!({"members": members.len(), "alive": alive.len(), "acks": acks,
                      "missing": missing}),
            )
        }
        Request::Monitor { log_level } => {
            let level = config::parse_level(log_level.as_deref().unwrap_or("info"))?;
            let mut rx = logging::subscribe(&agent.logs);
            loop {
                match rx.recv().await {
                    Ok(line) if line.level <= level => {
                        // A slow client misses lines rather than holding up the agent.
                        if let Err(mpsc::error::TrySendError::Closed(_)) =
                            tx.try_send(Response::event(seq, json!({"log": line.text})))
                        {
                            return Ok(json!({}));
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let _ = tx.try_send(Response::event(
                            seq,
                            json!({"log": format!("[monitor] {n} log lines dropped")}),
                        ));
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(json!({})),
                }
            }
        }
        Request::Stream { types } => {
            let spec = HandlerSpec::parse(&format!("{}=x", types.as_deref().unwrap_or("*")))
                .map_err(|e| e.replace("event_handler", "stream types"))?;
            let mut rx = agent.events.subscribe();
            loop {
                match rx.recv().await {
                    Ok(e) => {
                        if !stream_matches(&spec, &e) {
                            continue;
                        }
                        if let Some(v) = event_json(&e)
                            && let Err(mpsc::error::TrySendError::Closed(_)) =
                                tx.try_send(Response::event(seq, v))
                        {
                            return Ok(json!({}));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let _ = tx.try_send(Response::event(seq, json!({"dropped": n})));
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(json!({})),
                }
            }
        }
        Request::Tags { set, delete } => {
            let _guard = agent.tags_update.lock().await;
            let mut tags = agent
                .ctx
                .tags
                .lock()
                .map(|t| t.clone())
                .map_err(|_| "tags unavailable".to_owned())?;
            for k in &delete {
                tags.remove(k);
            }
            for (k, v) in set {
                if k.is_empty() {
                    return Err("invalid tag: empty key".into());
                }
                tags.insert(k, v);
            }
            node.set_tags(to_tags(&tags))
                .await
                .map_err(|e| format!("error setting tags: {e}"))?;
            if let Some(path) = &agent.settings.tags_file {
                write_tags_file(path, &tags)
                    .map_err(|e| format!("tags set, but tags_file not written: {e}"))?;
            }
            if let Ok(mut t) = agent.ctx.tags.lock() {
                *t = tags.clone();
            }
            Ok(json!({ "tags": tags }))
        }
        Request::Info {} => {
            let stats = node.stats().await.map_err(err_string)?;
            let members = node.members().await.map_err(err_string)?;
            let count = |s: MemberState| members.iter().filter(|m| m.state == s).count();
            let local = node.local_member().await.map_err(err_string)?;
            let n = &stats.node;
            Ok(json!({
                "agent": {
                    "name": agent.settings.node_name,
                    "version": env!("CARGO_PKG_VERSION"),
                    "rpc_addr": agent.rpc_addr.to_string(),
                },
                "runtime": {
                    "os": std::env::consts::OS,
                    "arch": std::env::consts::ARCH,
                    "pid": std::process::id(),
                },
                "serf": {
                    "members": members.len(),
                    "alive": count(MemberState::Alive),
                    "suspect": count(MemberState::Suspect),
                    "failed": count(MemberState::Failed),
                    "left": count(MemberState::Left),
                    "health_score": stats.health_score,
                    "member_time": stats.member_time.0,
                    "event_time": stats.event_time.0,
                    "query_time": stats.query_time.0,
                    "pending_broadcasts": stats.pending_broadcasts,
                    "incarnation": local.incarnation.0,
                    "encrypted": agent.security.encrypted(),
                },
                "encryption": agent.security.info(
                    n,
                    node.keyring().await.ok().flatten().map_or(0, |k| k.keys().len()),
                ),
                "network": {
                    "bind": node.bound_addr().to_string(),
                    "advertise": node.advertise_addr().to_string(),
                    "packets_in": n.packets_in,
                    "packets_out": n.packets_out,
                    "bytes_in": n.bytes_in,
                    "bytes_out": n.bytes_out,
                    "stream_frames_in": n.stream_frames_in,
                    "stream_frames_out": n.stream_frames_out,
                    "decode_errors": n.decode_errors,
                },
                "failure_detector": {
                    "probes": n.probes,
                    "probe_failures": n.probe_failures,
                    "suspicions": n.suspicions,
                    "failures_declared": n.failures_declared,
                    "refutations": n.refutations,
                },
                "events": {
                    "user_events_delivered": n.user_events_delivered,
                    "queries_received": n.queries_received,
                    "events_dropped": n.events_dropped,
                    "subscriber_events_dropped": stats.driver.events_dropped,
                },
                "tags": tags_map(&local.tags),
            }))
        }
        Request::InstallKey { key, timeout_ms } => {
            let t = timeout_ms.map(Duration::from_millis);
            security::key_command(&agent.security, node, KeyOp::Install, Some(&key), t).await
        }
        Request::UseKey { key, timeout_ms } => {
            let t = timeout_ms.map(Duration::from_millis);
            security::key_command(&agent.security, node, KeyOp::Use, Some(&key), t).await
        }
        Request::RemoveKey { key, timeout_ms } => {
            let t = timeout_ms.map(Duration::from_millis);
            security::key_command(&agent.security, node, KeyOp::Remove, Some(&key), t).await
        }
        Request::ListKeys { timeout_ms } => {
            let t = timeout_ms.map(Duration::from_millis);
            security::key_command(&agent.security, node, KeyOp::List, None, t).await
        }
        Request::SetPlaintext { accept, send } => {
            agent.security.set_plaintext(node, accept, send).await
        }
    }
}

fn stream_matches(spec: &HandlerSpec, e: &Event) -> bool {
    let kind = match e {
        Event::User { name, ltime, .. } => EventKind::User {
            name: name.clone(),
            ltime: ltime.0,
            payload: Vec::new(),
        },
        Event::Query {
            name, ltime, id, ..
        } => EventKind::Query {
            name: name.clone(),
            ltime: ltime.0,
            payload: Vec::new(),
            id: id.as_u64(),
        },
        other => match other.member() {
            Some(_) => EventKind::Member {
                name: other.name(),
                members: Vec::new(),
            },
            None => return false,
        },
    };
    spec.matches(&HandlerEvent { kind })
}
