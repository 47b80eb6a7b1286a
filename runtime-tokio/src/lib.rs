//! # hearsay-tokio
//!
//! Runs a Hearsay node on [tokio](https://tokio.rs). All the logic is in `hearsay-driver`;
//! this crate only supplies tokio's timer, spawn, UDP socket and TCP streams.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hearsay_tokio::Error> {
//! use hearsay_tokio::{Config, NodeOptions};
//!
//! let node = hearsay_tokio::start(Config::lan(), NodeOptions::new("web-1", "0.0.0.0:7946".parse().unwrap())?)?;
//! node.join(&["10.0.0.2:7946".parse().unwrap()]).await?;
//! for m in node.members().await? {
//!     println!("{} {} {}", m.name, m.addr, m.state.as_str());
//! }
//! node.shutdown().await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::io::{AsyncRead, AsyncWrite};
use tokio::io::ReadBuf;
use tokio::runtime::Handle;

pub use hearsay_driver::protocol::{
    self, Config, Event, LamportTime, Member, MemberState, QueryId, QueryParams, Tags,
};
use hearsay_driver::{AsyncTcpListener, AsyncTimer, AsyncUdpSocket, BoxFuture, TcpConnection};
pub use hearsay_driver::{
    DriverConfig, Error, Hearsay, NodeOptions, QueryReply, QueryResponses, Stats, Subscription,
};

/// Starts a node on the current tokio runtime: binds UDP and TCP on `options.bind` and
/// spawns the driver.
///
/// # Errors
/// [`Error::Io`] when called outside a tokio runtime or when binding fails; otherwise as
/// [`hearsay_driver::start`].
pub fn start(config: Config, options: NodeOptions) -> Result<Hearsay, Error> {
    let runtime = TokioRuntime::current().map_err(|e| Error::Io(io::Error::other(e)))?;
    hearsay_driver::start(Arc::new(runtime), config, options)
}

/// [`hearsay_driver::Runtime`] for tokio.
#[derive(Clone, Debug)]
pub struct TokioRuntime(Handle);

impl TokioRuntime {
    /// The runtime the caller runs in.
    ///
    /// # Errors
    /// When called outside a tokio runtime.
    pub fn current() -> Result<Self, tokio::runtime::TryCurrentError> {
        Handle::try_current().map(Self)
    }

    /// A specific runtime.
    pub fn new(handle: Handle) -> Self {
        Self(handle)
    }
}

impl hearsay_driver::Runtime for TokioRuntime {
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        let _guard = self.0.enter();
        Box::pin(Sleep(Box::pin(tokio::time::sleep_until(deadline.into()))))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        self.0.spawn(future);
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let _guard = self.0.enter();
        Ok(Arc::new(UdpSocket(tokio::net::UdpSocket::from_std(
            socket,
        )?)))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Box<dyn AsyncTcpListener>> {
        let _guard = self.0.enter();
        Ok(Box::new(TcpListener(tokio::net::TcpListener::from_std(
            listener,
        )?)))
    }

    fn connect_tcp(&self, addr: SocketAddr) -> BoxFuture<io::Result<Box<dyn TcpConnection>>> {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(TcpStream(stream)) as Box<dyn TcpConnection>)
        })
    }
}

/// tokio's `Sleep` is `!Unpin`; boxing it keeps the projection safe.
#[derive(Debug)]
struct Sleep(Pin<Box<tokio::time::Sleep>>);

impl AsyncTimer for Sleep {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.get_mut().0.as_mut().reset(deadline.into());
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.as_mut().poll(cx)
    }
}

#[derive(Debug)]
struct UdpSocket(tokio::net::UdpSocket);

impl AsyncUdpSocket for UdpSocket {
    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        dst: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.0.poll_send_to(cx, buf, dst)
    }

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut buf = ReadBuf::new(buf);
        self.0
            .poll_recv_from(cx, &mut buf)
            .map_ok(|from| (buf.filled().len(), from))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

#[derive(Debug)]
struct TcpListener(tokio::net::TcpListener);

impl AsyncTcpListener for TcpListener {
    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Box<dyn TcpConnection>, SocketAddr)>> {
        self.0.poll_accept(cx).map_ok(|(stream, peer)| {
            let _ = stream.set_nodelay(true);
            (Box::new(TcpStream(stream)) as Box<dyn TcpConnection>, peer)
        })
    }
}

/// tokio's stream seen through the `futures-io` traits the driver uses.
struct TcpStream(tokio::net::TcpStream);

impl AsyncRead for TcpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        tokio::io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, &mut buf)
            .map_ok(|()| buf.filled().len())
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.0), cx)
    }
}
