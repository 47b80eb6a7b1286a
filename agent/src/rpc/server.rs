//! The connection layer of the RPC server, the same for every dialect: accepting,
//! connection slots, the session (handshake and auth), one task per request, streaming
//! output and `stop`.
//!
//! ```text
//! accept ─ slot? ─▶ serve::<D>(stream)
//!                    reader: D::read ─▶ Incoming ─▶ session gate ─▶ spawn ops::execute
//!                                                     │ stop: abort    │ Sink: items
//!                    writer task ◀── Outgoing (bounded) ◀──────────────┘ final reply
//!                    D::encode ─▶ socket
//! ```
//!
//! A dialect only frames and translates (see [`Dialect`]); every limit, the handshake
//! and auth rules and the streaming behaviour live here so all dialects share them.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::AbortHandle;

use crate::agent::Agent;
use crate::rpc::json::JsonLines;
use crate::rpc::ops;
use crate::rpc::request::{Item, Outgoing, Reply, Request, RpcError};

/// Most RPC connections served at once; more are answered with an error and closed.
const CONNECTIONS_MAX: usize = 64;
/// Replies queued per connection; streamed items beyond it are dropped.
const REPLY_BUFFER: usize = 256;

/// What a dialect read off the wire.
pub enum Incoming {
    /// A request with its sequence number.
    Request {
        /// Echoed by every reply to it.
        seq: u64,
        /// The request.
        request: Request,
    },
    /// Input that is not a valid request: answered with an error, the connection stays.
    Malformed {
        /// The sequence number when it could be read, else 0.
        seq: u64,
        /// Why.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The peer closed the connection or it failed.
    Closed,
}

/// A wire format: framing plus translation between wire messages and the typed
/// [`Request`] / [`Outgoing`]. One value per connection.
pub trait Dialect: Send + 'static {
    /// The protocol version a handshake must name.
    const VERSION: u32;

    /// Reads the next request. Never buffers without bound, whatever the peer sends.
    fn read<R: AsyncBufRead + Unpin + Send>(
        &mut self,
        r: &mut R,
    ) -> impl Future<Output = Incoming> + Send;

    /// Appends the wire form of `out` to `buf`.
    fn encode(out: &Outgoing, buf: &mut Vec<u8>);
}

/// Why the session refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Every connection slot is taken; the connection is closed.
    #[error("too many RPC connections")]
    TooManyConnections,
    /// A second handshake on one connection; the session is unchanged.
    #[error("duplicate handshake")]
    DuplicateHandshake,
    /// The client speaks another version; the session stays closed.
    #[error("unsupported RPC version {got} (agent speaks {want})")]
    Version {
        /// What the client named.
        got: u32,
        /// What the agent speaks.
        want: u32,
    },
    /// A missing or wrong token; the connection is closed.
    #[error("invalid RPC auth token")]
    BadToken,
    /// A request before the handshake; ignored.
    #[error("handshake required before any other request")]
    HandshakeRequired,
    /// `stop` for a request that is not streaming (any more).
    #[error("no stream with seq {0}")]
    NoStream(u64),
}

/// Where a streaming operation sends its items.
pub struct Sink {
    seq: u64,
    tx: mpsc::Sender<Outgoing>,
}

/// The client of a [`Sink`] has gone.
#[derive(Debug)]
pub struct Gone;

impl Sink {
    /// Sends an item, waiting for room (for items a client must not miss).
    pub async fn send(&self, item: Item) {
        let _ = self.tx.send(Outgoing::item(self.seq, item)).await;
    }

    /// Sends an item if there is room, else drops it: a slow client misses items rather
    /// than holding up the agent.
    ///
    /// # Errors
    /// [`Gone`] when the connection has closed.
    pub fn offer(&self, item: Item) -> Result<(), Gone> {
        match self.tx.try_send(Outgoing::item(self.seq, item)) {
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Gone),
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => Ok(()),
        }
    }
}

/// Accepts RPC connections until the process ends.
pub async fn listen(agent: Arc<Agent>, listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
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
            tokio::spawn(refuse::<JsonLines>(
                stream,
                SessionError::TooManyConnections,
            ));
            continue;
        };
        let agent = agent.clone();
        tokio::spawn(async move {
            tracing::debug!(%peer, "RPC client connected");
            serve(agent, stream, JsonLines::default()).await;
            drop(permit);
        });
    }
}

/// Answers a connection with one error and closes it.
async fn refuse<D: Dialect>(mut stream: TcpStream, why: SessionError) {
    let mut buf = Vec::new();
    D::encode(&Outgoing::error(0, why), &mut buf);
    let _ = stream.write_all(&buf).await;
}

/// Where a connection's session stands.
#[derive(Debug, Default)]
struct Session {
    open: bool,
}

/// What the reader does after a request.
enum Next {
    Continue,
    Close,
}

/// One connection: its session, its running streams and where replies go.
struct Connection {
    agent: Arc<Agent>,
    tx: mpsc::Sender<Outgoing>,
    session: Session,
    streams: BTreeMap<u64, AbortHandle>,
}

impl Connection {
    async fn send(&self, out: Outgoing) {
        let _ = self.tx.send(out).await;
    }

    async fn handle<D: Dialect>(&mut self, seq: u64, request: Request) -> Next {
        match request {
            Request::Handshake { version, auth } => {
                match self.handshake(version, D::VERSION, auth.as_deref()) {
                    Ok(reply) => self.send(Outgoing::reply(seq, reply)).await,
                    Err(e) => {
                        let close = e == SessionError::BadToken;
                        if close {
                            tracing::warn!("RPC client presented a wrong auth token");
                        }
                        self.send(Outgoing::error(seq, e)).await;
                        if close {
                            return Next::Close;
                        }
                    }
                }
            }
            _ if !self.session.open => {
                self.send(Outgoing::error(seq, SessionError::HandshakeRequired))
                    .await;
            }
            Request::Stop { stop_seq } => {
                let reply = match self.streams.remove(&stop_seq) {
                    Some(h) => {
                        h.abort();
                        self.send(Outgoing::reply(stop_seq, Reply::Stopped)).await;
                        Outgoing::reply(seq, Reply::Done)
                    }
                    None => Outgoing::error(seq, SessionError::NoStream(stop_seq)),
                };
                self.send(reply).await;
            }
            request => self.spawn(seq, request),
        }
        Next::Continue
    }

    fn handshake(
        &mut self,
        version: u32,
        want: u32,
        auth: Option<&str>,
    ) -> Result<Reply, SessionError> {
        if self.session.open {
            return Err(SessionError::DuplicateHandshake);
        }
        if version != want {
            return Err(SessionError::Version { got: version, want });
        }
        if let Some(token) = self.agent.settings.rpc_auth.as_deref()
            && auth != Some(token)
        {
            return Err(SessionError::BadToken);
        }
        self.session.open = true;
        Ok(Reply::Handshake { version: want })
    }

    /// Runs a request on its own task, so requests on one connection run concurrently.
    fn spawn(&mut self, seq: u64, request: Request) {
        self.streams.retain(|_, h| !h.is_finished());
        let streaming = request.is_streaming();
        let agent = self.agent.clone();
        let sink = Sink {
            seq,
            tx: self.tx.clone(),
        };
        let handle = tokio::spawn(async move {
            let out = match ops::execute(&agent, request, &sink).await {
                Ok(reply) => Outgoing::reply(seq, reply),
                Err(e) => Outgoing::error(seq, e),
            };
            let _ = sink.tx.send(out).await;
        });
        if streaming {
            self.streams.insert(seq, handle.abort_handle());
        }
    }
}

/// Serves one connection in dialect `D` until the peer closes it.
pub async fn serve<D: Dialect>(agent: Arc<Agent>, stream: TcpStream, mut dialect: D) {
    let (r, mut w) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Outgoing>(REPLY_BUFFER);
    let writer = tokio::spawn(async move {
        let mut buf = Vec::new();
        while let Some(out) = rx.recv().await {
            buf.clear();
            D::encode(&out, &mut buf);
            if w.write_all(&buf).await.is_err() {
                return;
            }
        }
        let _ = w.shutdown().await;
    });
    let mut reader = BufReader::new(r);
    let mut conn = Connection {
        agent,
        tx,
        session: Session::default(),
        streams: BTreeMap::new(),
    };
    loop {
        match dialect.read(&mut reader).await {
            Incoming::Closed => break,
            Incoming::Malformed { seq, error } => {
                conn.send(Outgoing::error(seq, RpcError::Decode(error)))
                    .await;
            }
            Incoming::Request { seq, request } => {
                if let Next::Close = conn.handle::<D>(seq, request).await {
                    break;
                }
            }
        }
    }
    for (_, h) in std::mem::take(&mut conn.streams) {
        h.abort();
    }
    drop(conn);
    let _ = writer.await;
}
