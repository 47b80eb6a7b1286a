//! The CLI's side of the JSON-lines dialect: connect, handshake, send requests, read
//! replies.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::rpc::json::{
    LINE_BYTES_MAX, LineError, RPC_VERSION, WireRequest, WireResponse, read_line,
};

/// How long the client waits for the agent to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why talking to the agent failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing accepted the connection.
    #[error("error connecting to agent at {addr}: {source}")]
    Connect {
        /// Where.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The connection was not accepted in time.
    #[error("error connecting to agent at {addr}: timed out")]
    ConnectTimeout {
        /// Where.
        addr: String,
    },
    /// The agent refused the handshake (a wrong token, another version).
    #[error("handshake with agent at {addr} failed: {source}")]
    Handshake {
        /// Where.
        addr: String,
        /// Why.
        source: Box<ClientError>,
    },
    /// The agent answered the request with an error.
    #[error("{0}")]
    Agent(String),
    /// Writing to the agent failed.
    #[error("error talking to agent: {0}")]
    Write(std::io::Error),
    /// The request could not be encoded.
    #[error("cannot encode the request: {0}")]
    Encode(serde_json::Error),
    /// A reply that is not a reply.
    #[error("bad reply from agent: {0}")]
    BadReply(serde_json::Error),
    /// The agent closed the connection.
    #[error("the agent closed the connection")]
    Closed,
    /// Reading from the agent failed.
    #[error("error reading from agent: {0}")]
    Read(LineError),
}

/// A connected, handshaken client.
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_seq: u64,
}

impl Client {
    /// Connects to `addr` and performs the handshake.
    ///
    /// # Errors
    /// Connection failures and the agent's handshake error (e.g. a wrong token).
    pub async fn connect(addr: &str, auth: Option<String>) -> Result<Self, ClientError> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::ConnectTimeout {
                addr: addr.to_owned(),
            })?
            .map_err(|source| ClientError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        let (r, w) = stream.into_split();
        let mut c = Self {
            reader: BufReader::new(r),
            writer: w,
            next_seq: 0,
        };
        c.call(WireRequest::Handshake {
            version: RPC_VERSION,
            auth,
        })
        .await
        .map_err(|e| ClientError::Handshake {
            addr: addr.to_owned(),
            source: Box::new(e),
        })?;
        Ok(c)
    }

    /// Sends a request; returns its `seq`.
    ///
    /// # Errors
    /// Connection failures.
    pub async fn send(&mut self, req: &WireRequest) -> Result<u64, ClientError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut v = serde_json::to_value(req).map_err(ClientError::Encode)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("seq".into(), Value::from(seq));
        }
        let mut line = v.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .await
            .map_err(ClientError::Write)?;
        Ok(seq)
    }

    /// Reads the next response line.
    ///
    /// # Errors
    /// Connection closed or unreadable reply.
    pub async fn recv(&mut self) -> Result<WireResponse, ClientError> {
        match read_line(&mut self.reader, LINE_BYTES_MAX).await {
            Ok(Some(line)) => serde_json::from_str(&line).map_err(ClientError::BadReply),
            Ok(None) => Err(ClientError::Closed),
            Err(e) => Err(ClientError::Read(e)),
        }
    }

    /// Sends a request and waits for its final reply (streamed items are skipped).
    ///
    /// # Errors
    /// The agent's error message, or connection failures.
    pub async fn call(&mut self, req: WireRequest) -> Result<Value, ClientError> {
        let seq = self.send(&req).await?;
        loop {
            let r = self.recv().await?;
            if r.seq != seq || !r.is_final() {
                continue;
            }
            return match (r.body, r.error) {
                (_, Some(e)) => Err(ClientError::Agent(e)),
                (Some(b), None) => Ok(b),
                (None, None) => Ok(Value::Null),
            };
        }
    }
}
