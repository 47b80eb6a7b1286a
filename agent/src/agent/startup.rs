//! Start-up and shut-down: configuration → tags file, snapshot, keyring → driver → RPC
//! listener → banner → joins; then wait for a signal, a `leave` or a fatal error, and
//! stop (gracefully or not), saving the keyring and the snapshot.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hearsay_tokio::{DriverConfig, NodeOptions};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};

use crate::agent::event_loop::{self, NodeResponder};
use crate::agent::{Agent, AgentError, Exit, resolve};
use crate::cli::AgentArgs;
use crate::config::{self, Profile, Settings};
use crate::handlers::{HandlerSpec, Runner, RunnerContext};
use crate::logging;
use crate::rpc;
use crate::security::{self, Security};
use crate::snapshot::{Record, Recovered, Snapshot};
use crate::tags;

/// Events buffered per `stream` client.
const STREAM_BUFFER: usize = 256;

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
            eprintln!("hearsay agent: {}", AgentError::Runtime(e));
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

/// Applies the tags file: it wins and is the only source once it exists (as in Serf);
/// otherwise it is created from `-tag`.
fn apply_tags_file(settings: &mut Settings) -> Result<(), AgentError> {
    let Some(path) = &settings.tags_file else {
        return Ok(());
    };
    match tags::read_file(path)? {
        Some(file_tags) => {
            if !settings.tags.is_empty() && settings.tags != file_tags {
                return Err(AgentError::TagsConflict(path.clone()));
            }
            settings.tags = file_tags;
        }
        None => {
            tags::write_file(path, &settings.tags).map_err(|source| tags::TagsFileError::Write {
                path: path.clone(),
                source,
            })?
        }
    }
    Ok(())
}

fn open_snapshot(settings: &Settings) -> Result<(Option<Snapshot>, Option<Recovered>), AgentError> {
    let Some(path) = &settings.snapshot else {
        return Ok((None, None));
    };
    let (s, r) = Snapshot::open(path, settings.rejoin).map_err(|source| AgentError::Snapshot {
        path: path.clone(),
        source,
    })?;
    if let Some(why) = &r.corrupt_tail {
        tracing::warn!(snapshot = %path.display(), "snapshot {why}; ignored the rest");
    }
    Ok((Some(s), Some(r)))
}

async fn start(args: AgentArgs, mut settings: Settings) -> Result<i32, AgentError> {
    let logs = logging::init(settings.log_level, settings.log_json);
    apply_tags_file(&mut settings)?;
    let (snapshot, recovered) = open_snapshot(&settings)?;

    let (keyring, persisted) = security::initial_keyring(&settings)?;
    let security = Arc::new(Security::new(&settings, keyring.as_ref(), persisted));
    let mut options = NodeOptions::new(&settings.node_name, settings.bind)
        .map_err(AgentError::NodeName)?
        .tags(tags::to_core(&settings.tags))
        .driver(DriverConfig::default());
    if let Some(k) = keyring {
        options = options.keyring(k);
    }
    if let Some(a) = settings.advertise {
        options = options.advertise(a);
    }
    let node = hearsay_tokio::start(settings.protocol.clone(), options).map_err(|source| {
        AgentError::Start {
            bind: settings.bind,
            source,
        }
    })?;
    let listen_error = |source| AgentError::RpcListen {
        addr: settings.rpc_addr,
        source,
    };
    let listener = TcpListener::bind(settings.rpc_addr)
        .await
        .map_err(listen_error)?;
    let rpc_addr = listener.local_addr().map_err(listen_error)?;

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
        snapshot: snapshot.map(Mutex::new),
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
    let subscription = node.subscribe().await.map_err(AgentError::Subscribe)?;
    let floor = recovered.as_ref().map_or(0, |r| r.last_event);
    tokio::spawn(event_loop::run(agent.clone(), subscription, runner, floor));
    tokio::spawn(rpc::server::listen(agent.clone(), listener));
    if agent.snapshot.is_some() {
        tokio::spawn(event_loop::snapshot_ticker(agent.clone()));
    }
    tokio::spawn(security::watch(security.clone(), node.clone()));

    print_banner(&agent);
    join(&agent, recovered.as_ref()).await?;
    let exit = wait_for_exit(&agent, &mut exit_rx).await?;
    Ok(stop(&agent, exit).await)
}

/// `-join` (fatal when no seed answers), the rejoin from the snapshot, and `-retry-join`
/// in the background.
async fn join(agent: &Arc<Agent>, recovered: Option<&Recovered>) -> Result<(), AgentError> {
    let settings = &agent.settings;
    let node = &agent.node;
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
            Err(source) => {
                let _ = node.halt().await;
                return Err(AgentError::Join {
                    seeds: settings.start_join.join(", "),
                    source,
                });
            }
        }
    }
    if let Some(r) = recovered {
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
    Ok(())
}

/// Waits for SIGINT, SIGTERM, a `leave` or a fatal error; reloads on SIGHUP.
async fn wait_for_exit(
    agent: &Agent,
    exit_rx: &mut mpsc::Receiver<Exit>,
) -> Result<(Exit, Signals), AgentError> {
    let mut signals = Signals::new()?;
    let settings = &agent.settings;
    let exit = loop {
        tokio::select! {
            _ = signals.int.recv() => {
                tracing::info!("caught SIGINT");
                break if settings.skip_leave_on_interrupt { Exit::Halt } else { Exit::Leave };
            }
            _ = signals.term.recv() => {
                tracing::info!("caught SIGTERM");
                break if settings.leave_on_terminate { Exit::Leave } else { Exit::Halt };
            }
            _ = signals.hup.recv() => reload(agent).await,
            e = exit_rx.recv() => break e.unwrap_or(Exit::Halt),
        }
    };
    Ok((exit, signals))
}

/// The signals the agent reacts to.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, AgentError> {
        use tokio::signal::unix::{SignalKind, signal};
        let sig = |k: SignalKind| signal(k).map_err(AgentError::Signals);
        Ok(Self {
            int: sig(SignalKind::interrupt())?,
            term: sig(SignalKind::terminate())?,
            hup: sig(SignalKind::hangup())?,
        })
    }
}

/// Stops the node as `exit` says; saves the keyring and the snapshot. Returns the exit
/// code.
async fn stop(agent: &Agent, (exit, mut signals): (Exit, Signals)) -> i32 {
    let node = &agent.node;
    if let Err(e) = agent.security.persist(node).await {
        tracing::error!("{e}");
    }
    let code = match exit {
        Exit::Leave => {
            tracing::info!("gracefully leaving the cluster");
            tokio::select! {
                r = node.shutdown() => if let Err(e) = r {
                    tracing::warn!("leave: {e}");
                },
                _ = signals.int.recv() => {
                    tracing::warn!("second SIGINT: stopping without finishing the leave");
                    node.halt().await;
                }
            }
            agent.snapshot_append(Record::Leave(true));
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
    agent.record_clocks().await;
    agent.with_snapshot(Snapshot::sync);
    tracing::info!("agent stopped");
    code
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

/// Re-reads config files and flags, swaps the handler list and applies the security
/// settings (SIGHUP).
async fn reload(agent: &Agent) {
    let cfg = match config::gather(&agent.args) {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!("reload failed, keeping the old handlers: {e}");
            return;
        }
    };
    agent.security.reload(&agent.node, &cfg).await;
    match cfg
        .event_handlers
        .iter()
        .map(|h| HandlerSpec::parse(h))
        .collect::<Result<Vec<_>, _>>()
    {
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

/// `-retry-join`: tries every `retry_interval` until a seed answers; after `-retry-max`
/// failed attempts the agent stops with an error.
async fn retry_join(agent: Arc<Agent>) {
    let s = &agent.settings;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match resolve(&s.retry_join).await {
            Ok(seeds) => {
                let joined = if s.replay {
                    agent.node.join_replay(&seeds).await
                } else {
                    agent.node.join(&seeds).await
                };
                match joined {
                    Ok(n) => {
                        tracing::info!("retry join succeeded; synced with {n} agents");
                        return;
                    }
                    Err(e) => tracing::warn!(attempt, "retry join failed: {e}"),
                }
            }
            Err(e) => tracing::warn!(attempt, "retry join failed: {e}"),
        }
        if s.retry_max > 0 && attempt >= s.retry_max {
            let _ = agent
                .exit
                .send(Exit::Fatal(AgentError::RetryJoin {
                    seeds: s.retry_join.join(", "),
                    attempts: attempt,
                }))
                .await;
            return;
        }
        tokio::time::sleep(s.retry_interval).await;
    }
}
