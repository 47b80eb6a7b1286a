//! The stream channel over TCP: length-prefixed frames on short-lived, one-way connections.
//!
//! ```text
//! sender                                   receiver (our listener)
//!   connect ───────────────────────────────▶ accept, spawn a reader task
//!   ┌──────────────┬──────────────────┐
//!   │ u32 BE len n │ n bytes of frame │ ─────▶ read, check 0 < n ≤ stream_bytes_max,
//!   └──────────────┴──────────────────┘        forward (peer, frame) to the pump
//!   … more frames …                             (bounded channel: waits when full)
//!   close ─────────────────────────────────▶ EOF at a frame boundary ends the task
//! ```
//!
//! Replies are not read back on the same connection: a push-pull answer is a new frame the
//! peer sends to our advertised address. Every read and write has a timeout; a bad length,
//! a truncated frame or a stalled peer closes the connection and bumps a counter.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};

use crate::pump::{Counters, Inbound, SendResult};
use crate::runtime::{AsyncTcpListener, Runtime, TcpConnection, sleep, timeout};

/// Bytes of the frame length prefix.
pub const LEN_PREFIX_BYTES: usize = 4;

/// Largest allocation made up front for an inbound frame; larger frames grow as bytes
/// arrive, so a lying length prefix cannot make the node allocate `stream_bytes_max`.
const INITIAL_FRAME_CAPACITY: usize = 64 * 1024;

/// Limits shared by the stream tasks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamLimits {
    pub frame_bytes_max: usize,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
    pub inbound_max: usize,
}

/// Prefixes `frame` with its length.
pub(crate) fn encode_frame(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LEN_PREFIX_BYTES + frame.len());
    // Frames are capped by `stream_bytes_max` (≤ 1 GiB), so the length fits a u32.
    out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    out.extend_from_slice(frame);
    out
}

/// Connects to `dst`, writes one length-prefixed frame and closes; reports the outcome.
pub(crate) async fn send_frame(
    rt: Arc<dyn Runtime>,
    dst: SocketAddr,
    framed: Vec<u8>,
    limits: StreamLimits,
    counters: Arc<Counters>,
    done: async_channel::Sender<SendResult>,
) {
    let ok = match timeout(&*rt, limits.connect_timeout, rt.connect_tcp(dst)).await {
        Ok(Ok(mut conn)) => {
            let write = async {
                conn.write_all(&framed).await?;
                conn.flush().await?;
                conn.close().await
            };
            match timeout(&*rt, limits.io_timeout, write).await {
                Ok(Ok(())) => true,
                Ok(Err(_)) | Err(_) => {
                    counters.stream_write_errors.fetch_add(1, Ordering::Relaxed);
                    false
                }
            }
        }
        Ok(Err(_)) | Err(_) => {
            counters
                .stream_connect_failures
                .fetch_add(1, Ordering::Relaxed);
            false
        }
    };
    if ok {
        counters.stream_frames_sent.fetch_add(1, Ordering::Relaxed);
    }
    // The pump may be gone; nothing to report to then.
    let _ = done.send(SendResult { dst, ok }).await;
}

/// Accepts connections until the pump stops, one reader task each.
pub(crate) async fn accept_loop(
    rt: Arc<dyn Runtime>,
    mut listener: Box<dyn AsyncTcpListener>,
    frames: async_channel::Sender<Inbound>,
    stop: async_channel::Receiver<()>,
    limits: StreamLimits,
    counters: Arc<Counters>,
) {
    loop {
        let accept = async { Some(std::future::poll_fn(|cx| listener.poll_accept(cx)).await) };
        // `stop` never carries a message: it closes when the pump ends.
        let stopped = async {
            let _ = stop.recv().await;
            None
        };
        match futures_lite::future::or(stopped, accept).await {
            None => return,
            Some(Ok((conn, peer))) => {
                let open = counters
                    .inbound_streams_open
                    .fetch_add(1, Ordering::Relaxed);
                if open >= limits.inbound_max as u64 {
                    counters
                        .inbound_streams_open
                        .fetch_sub(1, Ordering::Relaxed);
                    counters
                        .inbound_streams_rejected
                        .fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                counters.inbound_streams.fetch_add(1, Ordering::Relaxed);
                let task = read_frames(
                    rt.clone(),
                    conn,
                    peer,
                    frames.clone(),
                    limits,
                    counters.clone(),
                );
                rt.spawn(Box::pin(task));
            }
            Some(Err(_)) => {
                // Out of file descriptors and similar: back off instead of spinning.
                counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                sleep(&*rt, Duration::from_millis(20)).await;
            }
        }
    }
}

/// Why a connection's reader stopped.
enum ReadEnd {
    /// Clean end of stream at a frame boundary.
    Eof,
    /// An I/O error, a timeout, a truncated frame or a bad length; counted.
    Bad,
}

/// Reads frames from one connection and forwards them to the pump.
async fn read_frames(
    rt: Arc<dyn Runtime>,
    mut conn: Box<dyn TcpConnection>,
    peer: SocketAddr,
    frames: async_channel::Sender<Inbound>,
    limits: StreamLimits,
    counters: Arc<Counters>,
) {
    loop {
        let frame = match timeout(&*rt, limits.io_timeout, read_frame(&mut conn, &limits)).await {
            Ok(Ok(frame)) => frame,
            Ok(Err(ReadEnd::Eof)) => break,
            Ok(Err(ReadEnd::Bad)) => {
                counters
                    .stream_frames_rejected
                    .fetch_add(1, Ordering::Relaxed);
                break;
            }
            Err(_) => {
                counters.stream_timeouts.fetch_add(1, Ordering::Relaxed);
                break;
            }
        };
        if frames.send(Inbound { from: peer, frame }).await.is_err() {
            break;
        }
    }
    counters
        .inbound_streams_open
        .fetch_sub(1, Ordering::Relaxed);
}

async fn read_frame(
    conn: &mut Box<dyn TcpConnection>,
    limits: &StreamLimits,
) -> Result<Vec<u8>, ReadEnd> {
    let mut prefix = [0u8; LEN_PREFIX_BYTES];
    let mut got = 0;
    while got < prefix.len() {
        match conn.read(&mut prefix[got..]).await {
            Ok(0) if got == 0 => return Err(ReadEnd::Eof),
            Ok(0) | Err(_) => return Err(ReadEnd::Bad),
            Ok(n) => got += n,
        }
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if len == 0 || len > limits.frame_bytes_max {
        return Err(ReadEnd::Bad);
    }
    let mut frame = Vec::with_capacity(len.min(INITIAL_FRAME_CAPACITY));
    let read = conn
        .take(len as u64)
        .read_to_end(&mut frame)
        .await
        .map_err(|_| ReadEnd::Bad)?;
    if read != len {
        return Err(ReadEnd::Bad);
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_a_big_endian_length_prefix() {
        assert_eq!(encode_frame(&[7, 8, 9]), vec![0, 0, 0, 3, 7, 8, 9]);
    }
}
