//! The [`Runtime`] trait: everything the driver needs from an async runtime, object-safe so
//! one compiled driver serves tokio, smol and async-std alike.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncWrite};

/// A boxed, sendable future, as handed to [`Runtime::spawn`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What an async runtime provides to the driver: a clock, timers, task spawning, a UDP
/// socket and TCP connections.
///
/// Each adapter crate implements this in about a hundred lines; the driver holds it as
/// `Arc<dyn Runtime>`. Sockets are bound by the driver with `std::net` (so IPv4/IPv6 and
/// port handling live in one place) and handed over non-blocking for wrapping.
pub trait Runtime: Send + Sync + Debug + 'static {
    /// A timer that fires at `deadline` and can be reset.
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>>;

    /// Runs `future` to completion in the background.
    fn spawn(&self, future: BoxFuture<()>);

    /// Wraps a bound, non-blocking UDP socket.
    ///
    /// # Errors
    /// When the runtime cannot register the socket.
    fn wrap_udp_socket(&self, socket: UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>>;

    /// Wraps a bound, listening, non-blocking TCP listener.
    ///
    /// # Errors
    /// When the runtime cannot register the listener.
    fn wrap_tcp_listener(&self, listener: TcpListener) -> io::Result<Box<dyn AsyncTcpListener>>;

    /// Opens a TCP connection to `addr`. The driver applies its own connect timeout.
    fn connect_tcp(&self, addr: SocketAddr) -> BoxFuture<io::Result<Box<dyn TcpConnection>>>;

    /// The current time. Runtimes with a virtual clock may override it.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A resettable one-shot timer.
pub trait AsyncTimer: Send + Debug + 'static {
    /// Moves the deadline (earlier or later); the timer fires again after a reset.
    fn reset(self: Pin<&mut Self>, deadline: Instant);
    /// Ready once the deadline has passed.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

/// A UDP socket as the pump uses it: one task sends and receives.
pub trait AsyncUdpSocket: Send + Sync + Debug + 'static {
    /// Sends one datagram; `Pending` when the socket buffer is full (backpressure).
    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        dst: SocketAddr,
    ) -> Poll<io::Result<usize>>;
    /// Receives one datagram into `buf`.
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>>;
    /// The bound address.
    ///
    /// # Errors
    /// As the OS reports.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A TCP listener.
pub trait AsyncTcpListener: Send + Debug + 'static {
    /// Accepts one connection and gives its peer address.
    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Box<dyn TcpConnection>, SocketAddr)>>;
}

/// A TCP connection: `futures-io` reading and writing. Implemented for every such type;
/// tokio's stream needs a small adapter (see `hearsay-tokio`).
pub trait TcpConnection: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> TcpConnection for T {}

/// Waits until `deadline` on `runtime`'s timer.
pub async fn sleep_until(runtime: &dyn Runtime, deadline: Instant) {
    let mut timer = runtime.new_timer(deadline);
    std::future::poll_fn(|cx| timer.as_mut().poll(cx)).await;
}

/// Waits for `span` on `runtime`'s timer.
pub async fn sleep(runtime: &dyn Runtime, span: Duration) {
    sleep_until(runtime, runtime.now() + span).await;
}

/// The deadline passed before the operation completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("timed out")]
pub struct TimedOut;

/// Runs `future` for at most `span`.
///
/// # Errors
/// [`TimedOut`] when `span` passes first (the future is dropped).
pub async fn timeout<F: Future>(
    runtime: &dyn Runtime,
    span: Duration,
    future: F,
) -> Result<F::Output, TimedOut> {
    futures_lite::future::or(async { Ok(future.await) }, async {
        sleep(runtime, span).await;
        Err(TimedOut)
    })
    .await
}
