//! Event handler scripts, compatible with Serf's: parsing of handler specs, and the runner
//! that executes them without ever blocking gossip.
//!
//! ```text
//! event loop ──try_send──▶ queue per event kind ──▶ worker (one per kind: keeps order)
//!                          (bounded; full ⇒ dropped   │  acquires a global permit
//!                           and logged)               ▼  (bounded concurrency)
//!                                               sh -c SCRIPT   env SERF_* and HEARSAY_*,
//!                                               stdin = members or payload, timeout ⇒ kill
//! ```

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc};

/// Member event names a handler can filter on.
pub const MEMBER_EVENTS: [&str; 5] = [
    "member-join",
    "member-leave",
    "member-failed",
    "member-update",
    "member-reap",
];

/// Jobs queued per event kind before new ones are dropped.
const QUEUE_PER_KIND: usize = 1024;
/// Most bytes of a handler's stderr (and of a non-query handler's stdout) kept for the log.
const LOG_OUTPUT_BYTES_MAX: usize = 8 << 10;

/// Which events a handler runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    /// Every event (`*`, or no filter).
    Any,
    /// One member event kind.
    Member(&'static str),
    /// User events, all or one name.
    User(Option<String>),
    /// Queries, all or one name.
    Query(Option<String>),
}

impl EventFilter {
    fn parse(s: &str) -> Option<Self> {
        if s == "*" {
            return Some(Self::Any);
        }
        if let Some(m) = MEMBER_EVENTS.iter().find(|m| **m == s) {
            return Some(Self::Member(m));
        }
        let (kind, name) = match s.split_once(':') {
            Some((k, n)) => (k, Some(n.to_owned()).filter(|n| !n.is_empty())),
            None => (s, None),
        };
        match kind {
            "user" => Some(Self::User(name)),
            "query" => Some(Self::Query(name)),
            _ => None,
        }
    }

    fn matches(&self, event: &HandlerEvent) -> bool {
        match (self, &event.kind) {
            (Self::Any, _) => true,
            (Self::Member(m), EventKind::Member { name, .. }) => m == name,
            (Self::User(None), EventKind::User { .. }) => true,
            (Self::User(Some(f)), EventKind::User { name, .. }) => f == name,
            (Self::Query(None), EventKind::Query { .. }) => true,
            (Self::Query(Some(f)), EventKind::Query { name, .. }) => f == name,
            _ => false,
        }
    }
}

/// One `-event-handler` value: filters and the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerSpec {
    /// Any of these.
    pub filters: Vec<EventFilter>,
    /// Run with `sh -c`.
    pub script: String,
}

/// A handler spec (or `stream` filter) that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerSpecError {
    /// Nothing given.
    #[error("invalid {setting} '': empty")]
    Empty {
        /// `event_handler`, or the RPC argument holding the filter.
        setting: &'static str,
    },
    /// A filter names an event type that does not exist.
    #[error(
        "invalid {setting} '{spec}': unknown event type '{event}' (expected member-join, \
         member-leave, member-failed, member-update, member-reap, user, user:NAME, query, \
         query:NAME or *)"
    )]
    UnknownEvent {
        /// `event_handler`, or the RPC argument holding the filter.
        setting: &'static str,
        /// The whole spec.
        spec: String,
        /// The bad event type.
        event: String,
    },
    /// Filters but no script after `=`.
    #[error("invalid {setting} '{spec}': no script")]
    NoScript {
        /// `event_handler`, or the RPC argument holding the filter.
        setting: &'static str,
        /// The whole spec.
        spec: String,
    },
}

impl HandlerSpec {
    /// Parses Serf's forms: `script`, `member-join=script`, `member-join,user:deploy=script`.
    /// A prefix before `=` made of lower-case words (`member-jion=x`) must be a list of
    /// event names; anything else (`FOO=1 ./run.sh`) is part of the script.
    ///
    /// # Errors
    /// One line naming the bad event type.
    pub fn parse(spec: &str) -> Result<Self, HandlerSpecError> {
        Self::parse_for("event_handler", spec)
    }

    /// As [`parse`](Self::parse), with errors naming `setting`.
    ///
    /// # Errors
    /// One line naming the bad event type.
    pub fn parse_for(setting: &'static str, spec: &str) -> Result<Self, HandlerSpecError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(HandlerSpecError::Empty { setting });
        }
        if let Some((filters, script)) = spec.split_once('=') {
            // `member-jion=x` is a typo worth reporting; `FOO=1 ./run.sh` is a script.
            let looks_like_filter = filters.split(',').all(|f| {
                let kind = f.trim().split(':').next().unwrap_or_default();
                !kind.is_empty()
                    && kind
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '-' || c == '*')
            });
            if looks_like_filter {
                let mut parsed = Vec::new();
                for f in filters.split(',') {
                    match EventFilter::parse(f.trim()) {
                        Some(p) => parsed.push(p),
                        None => {
                            return Err(HandlerSpecError::UnknownEvent {
                                setting,
                                spec: spec.to_owned(),
                                event: f.to_owned(),
                            });
                        }
                    }
                }
                if script.trim().is_empty() {
                    return Err(HandlerSpecError::NoScript {
                        setting,
                        spec: spec.to_owned(),
                    });
                }
                return Ok(Self {
                    filters: parsed,
                    script: script.trim().to_owned(),
                });
            }
        }
        Ok(Self {
            filters: vec![EventFilter::Any],
            script: spec.to_owned(),
        })
    }

    /// Whether this handler runs for `event`.
    pub fn matches(&self, event: &HandlerEvent) -> bool {
        self.filters.iter().any(|f| f.matches(event))
    }
}

/// One member in a member event's stdin.
#[derive(Debug, Clone)]
pub struct MemberLine {
    /// Name.
    pub name: String,
    /// IP address (Serf prints the IP without the port).
    pub addr: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// What an event is, as far as handlers care.
#[derive(Debug, Clone)]
pub enum EventKind {
    /// A (coalesced) batch of one member event kind.
    Member {
        /// `member-join`, ...
        name: &'static str,
        /// The members.
        members: Vec<MemberLine>,
    },
    /// A user event.
    User {
        /// Name.
        name: String,
        /// Lamport time.
        ltime: u64,
        /// Payload.
        payload: Vec<u8>,
    },
    /// A query.
    Query {
        /// Name.
        name: String,
        /// Lamport time.
        ltime: u64,
        /// Payload.
        payload: Vec<u8>,
        /// The core's query id, to respond with.
        id: u64,
    },
}

/// An event to run handlers for.
#[derive(Debug, Clone)]
pub struct HandlerEvent {
    /// The event.
    pub kind: EventKind,
}

impl HandlerEvent {
    /// `SERF_EVENT`'s value.
    pub fn event_name(&self) -> &str {
        match &self.kind {
            EventKind::Member { name, .. } => name,
            EventKind::User { .. } => "user",
            EventKind::Query { .. } => "query",
        }
    }

    /// What the script reads on stdin.
    pub fn stdin(&self) -> Vec<u8> {
        match &self.kind {
            EventKind::Member { members, .. } => {
                let mut out = String::new();
                for m in members {
                    let role = m.tags.get("role").map_or("", String::as_str);
                    let tags: Vec<String> =
                        m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    out.push_str(&format!(
                        "{}\t{}\t{}\t{}\n",
                        m.name,
                        m.addr,
                        role,
                        tags.join(",")
                    ));
                }
                out.into_bytes()
            }
            EventKind::User { payload, .. } | EventKind::Query { payload, .. } => payload.clone(),
        }
    }

    /// Environment variables, under both `SERF_` and `HEARSAY_`.
    pub fn env(
        &self,
        self_name: &str,
        self_tags: &BTreeMap<String, String>,
    ) -> Vec<(String, String)> {
        let mut vars = vec![
            ("EVENT".to_owned(), self.event_name().to_owned()),
            ("SELF_NAME".to_owned(), self_name.to_owned()),
            (
                "SELF_ROLE".to_owned(),
                self_tags.get("role").cloned().unwrap_or_default(),
            ),
        ];
        for (k, v) in self_tags {
            vars.push((format!("TAG_{}", env_key(k)), v.clone()));
        }
        match &self.kind {
            EventKind::User { name, ltime, .. } => {
                vars.push(("USER_EVENT".into(), name.clone()));
                vars.push(("USER_LTIME".into(), ltime.to_string()));
            }
            EventKind::Query { name, ltime, .. } => {
                vars.push(("QUERY_NAME".into(), name.clone()));
                vars.push(("QUERY_LTIME".into(), ltime.to_string()));
            }
            EventKind::Member { .. } => {}
        }
        let mut out = Vec::with_capacity(vars.len() * 2);
        for (k, v) in vars {
            out.push((format!("HEARSAY_{k}"), v.clone()));
            out.push((format!("SERF_{k}"), v));
        }
        out
    }

    /// The worker queue this event goes to: order is kept per kind.
    fn queue(&self) -> usize {
        match &self.kind {
            EventKind::Member { name, .. } => MEMBER_EVENTS
                .iter()
                .position(|m| m == name)
                .unwrap_or_default(),
            EventKind::User { .. } => MEMBER_EVENTS.len(),
            EventKind::Query { .. } => MEMBER_EVENTS.len() + 1,
        }
    }
}

/// Serf's tag-to-variable rule: upper case, anything not alphanumeric becomes `_`.
fn env_key(k: &str) -> String {
    k.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Where a query handler's output goes.
pub trait Responder: Send + Sync + 'static {
    /// Answers query `id` with `payload`.
    fn respond(&self, id: u64, payload: Vec<u8>);
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// Exit code, `None` when killed or failed to start.
    pub code: Option<i32>,
    /// Killed for running past the timeout.
    pub timed_out: bool,
    /// Captured stdout (capped).
    pub stdout: Vec<u8>,
    /// Captured stderr (capped).
    pub stderr: Vec<u8>,
}

/// Runs `script` with `sh -c`, feeding `stdin`, killing its process group after
/// `timeout`. Output beyond `cap` bytes is read and discarded, so a chatty script never
/// blocks on a full pipe.
pub async fn run_script(
    script: &str,
    env: &[(String, String)],
    stdin: Vec<u8>,
    timeout: Duration,
    cap: usize,
) -> std::io::Result<RunOutcome> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let mut child_stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let feed = async move {
        if let Some(s) = child_stdin.as_mut() {
            // A script that ignores stdin closes the pipe: not an error.
            let _ = s.write_all(&stdin).await;
            let _ = s.shutdown().await;
        }
        drop(child_stdin);
    };
    let work = async {
        let (_, out, err, status) = tokio::join!(
            feed,
            read_capped(stdout, cap),
            read_capped(stderr, LOG_OUTPUT_BYTES_MAX),
            child.wait()
        );
        (out, err, status)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok((stdout, stderr, status)) => Ok(RunOutcome {
            code: status.ok().and_then(|s| s.code()),
            timed_out: false,
            stdout,
            stderr,
        }),
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                // The whole group: `sh -c` may have started children of its own.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill().await;
            Ok(RunOutcome {
                code: None,
                timed_out: true,
                stdout: Vec::new(),
                stderr: Vec::new(),
            })
        }
    }
}

async fn read_capped<R: AsyncRead + Unpin>(r: Option<R>, cap: usize) -> Vec<u8> {
    let Some(mut r) = r else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => {
                let room = cap.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// Shared state the runner reads at run time (it changes with `hearsay tags` and SIGHUP).
pub struct RunnerContext {
    /// This node's name.
    pub self_name: String,
    /// This node's tags.
    pub tags: std::sync::Mutex<BTreeMap<String, String>>,
    /// Handler specs (replaced on SIGHUP).
    pub handlers: std::sync::RwLock<Arc<Vec<HandlerSpec>>>,
    /// Per-run timeout.
    pub timeout: Duration,
    /// Largest query response.
    pub response_bytes_max: usize,
}

/// A queued run: the event and the scripts matched when it was queued.
struct Job {
    event: HandlerEvent,
    scripts: Vec<String>,
}

/// Runs handler scripts on worker tasks; see the module docs.
pub struct Runner {
    queues: Vec<mpsc::Sender<Job>>,
    ctx: Arc<RunnerContext>,
}

impl Runner {
    /// Spawns one worker per event kind on the current runtime.
    pub fn start(
        ctx: Arc<RunnerContext>,
        concurrency: usize,
        responder: Arc<dyn Responder>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(concurrency));
        let mut queues = Vec::new();
        for _ in 0..MEMBER_EVENTS.len() + 2 {
            let (tx, rx) = mpsc::channel(QUEUE_PER_KIND);
            queues.push(tx);
            tokio::spawn(worker(rx, ctx.clone(), permits.clone(), responder.clone()));
        }
        Self { queues, ctx }
    }

    fn handlers(&self) -> Arc<Vec<HandlerSpec>> {
        match self.ctx.handlers.read() {
            Ok(h) => h.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Queues `event` for every matching handler. Never waits: a full queue drops the run
    /// and logs it.
    pub fn dispatch(&self, event: HandlerEvent) {
        let scripts: Vec<String> = self
            .handlers()
            .iter()
            .filter(|h| h.matches(&event))
            .map(|h| h.script.clone())
            .collect();
        if scripts.is_empty() {
            return;
        }
        let q = event.queue();
        let name = event.event_name().to_owned();
        if let Some(tx) = self.queues.get(q)
            && tx.try_send(Job { event, scripts }).is_err()
        {
            tracing::warn!(event = %name, "handler queue full; event not handled");
        }
    }
}

async fn worker(
    mut rx: mpsc::Receiver<Job>,
    ctx: Arc<RunnerContext>,
    permits: Arc<Semaphore>,
    responder: Arc<dyn Responder>,
) {
    while let Some(job) = rx.recv().await {
        let Ok(_permit) = permits.acquire().await else {
            return;
        };
        let tags = match ctx.tags.lock() {
            Ok(t) => t.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let env = job.event.env(&ctx.self_name, &tags);
        let stdin = job.event.stdin();
        let query_id = match &job.event.kind {
            EventKind::Query { id, .. } => Some(*id),
            _ => None,
        };
        let mut responded = false;
        for script in &job.scripts {
            let cap = if query_id.is_some() {
                ctx.response_bytes_max
            } else {
                LOG_OUTPUT_BYTES_MAX
            };
            let event = job.event.event_name();
            match run_script(script, &env, stdin.clone(), ctx.timeout, cap).await {
                Err(e) => tracing::error!(%event, script, error = %e, "handler failed to start"),
                Ok(out) => {
                    log_outcome(event, script, &out);
                    if let (Some(id), false) = (query_id, responded)
                        && !out.timed_out
                    {
                        responder.respond(id, out.stdout);
                        responded = true;
                    }
                }
            }
        }
    }
}

fn log_outcome(event: &str, script: &str, out: &RunOutcome) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.timed_out {
        tracing::warn!(%event, script, "handler timed out and was killed");
    } else if out.code == Some(0) {
        tracing::debug!(%event, script, stdout = %stdout.trim_end(), stderr = %stderr.trim_end(), "handler done");
    } else {
        tracing::warn!(%event, script, code = ?out.code, stdout = %stdout.trim_end(), stderr = %stderr.trim_end(), "handler failed");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn user(name: &str) -> HandlerEvent {
        HandlerEvent {
            kind: EventKind::User {
                name: name.into(),
                ltime: 7,
                payload: b"hi".to_vec(),
            },
        }
    }

    fn member(kind: &'static str) -> HandlerEvent {
        HandlerEvent {
            kind: EventKind::Member {
                name: kind,
                members: vec![MemberLine {
                    name: "web-1".into(),
                    addr: "10.0.0.1".into(),
                    tags: [
                        ("role".to_owned(), "web".to_owned()),
                        ("dc".into(), "x".into()),
                    ]
                    .into_iter()
                    .collect(),
                }],
            },
        }
    }

    #[test]
    fn specs_parse_like_serf() {
        let h = HandlerSpec::parse("handler.sh").unwrap();
        assert_eq!(h.filters, [EventFilter::Any]);
        let h = HandlerSpec::parse("member-join,member-leave=./m.sh a=b").unwrap();
        assert_eq!(
            h.filters,
            [
                EventFilter::Member("member-join"),
                EventFilter::Member("member-leave")
            ]
        );
        assert_eq!(h.script, "./m.sh a=b");
        let h = HandlerSpec::parse("user:deploy=d.sh").unwrap();
        assert_eq!(h.filters, [EventFilter::User(Some("deploy".into()))]);
        let h = HandlerSpec::parse("query=q.sh").unwrap();
        assert_eq!(h.filters, [EventFilter::Query(None)]);
        let h = HandlerSpec::parse("FOO=1 ./run.sh").unwrap();
        assert_eq!(
            (h.filters.as_slice(), h.script.as_str()),
            (&[EventFilter::Any][..], "FOO=1 ./run.sh")
        );
        assert!(
            HandlerSpec::parse("member-jion=x.sh")
                .unwrap_err()
                .to_string()
                .contains("member-jion")
        );
        assert!(HandlerSpec::parse("user=").is_err());
    }

    #[test]
    fn filters_select_events() {
        let h = HandlerSpec::parse("user:deploy,member-failed=x").unwrap();
        assert!(h.matches(&user("deploy")));
        assert!(!h.matches(&user("other")));
        assert!(h.matches(&member("member-failed")));
        assert!(!h.matches(&member("member-join")));
    }

    #[test]
    fn member_stdin_and_env_follow_serf() {
        let e = member("member-join");
        assert_eq!(
            String::from_utf8(e.stdin()).unwrap(),
            "web-1\t10.0.0.1\tweb\tdc=x,role=web\n"
        );
        let tags = [
            ("role".to_owned(), "db".to_owned()),
            ("my-tag".into(), "v".into()),
        ]
        .into_iter()
        .collect();
        let env: BTreeMap<_, _> = user("deploy").env("n1", &tags).into_iter().collect();
        assert_eq!(env["SERF_EVENT"], "user");
        assert_eq!(env["HEARSAY_USER_EVENT"], "deploy");
        assert_eq!(env["SERF_USER_LTIME"], "7");
        assert_eq!(env["SERF_SELF_ROLE"], "db");
        assert_eq!(env["SERF_TAG_MY_TAG"], "v");
        assert_eq!(env["HEARSAY_SELF_NAME"], "n1");
    }

    #[test]
    fn scripts_get_stdin_and_are_killed_on_timeout() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let env = vec![("X".to_owned(), "1".to_owned())];
            let out = run_script(
                "cat; echo $X",
                &env,
                b"in-".to_vec(),
                Duration::from_secs(5),
                4,
            )
            .await
            .unwrap();
            assert_eq!((out.code, out.stdout.as_slice()), (Some(0), &b"in-1"[..]));
            let start = std::time::Instant::now();
            let out = run_script("sleep 30", &[], Vec::new(), Duration::from_millis(200), 10)
                .await
                .unwrap();
            assert!(out.timed_out);
            assert!(start.elapsed() < Duration::from_secs(5));
        });
    }
}
