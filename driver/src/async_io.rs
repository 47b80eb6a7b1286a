//! Sockets and timer built on `async-io`, shared by the smol and async-std adapters.
//!
//! `async-io` runs its own reactor thread, so these types work under any executor: an
//! adapter only names how its executor spawns ([`Spawner`]) and uses
//! [`AsyncIoRuntime`] with it.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use async_io::{Async, Timer};
use futures_lite::FutureExt;

use crate::runtime::{
    AsyncTcpListener, AsyncTimer, AsyncUdpSocket, BoxFuture, Runtime, TcpConnection,
};

/// How an executor runs a background task: the only part of an `async-io` based
/// [`Runtime`] that differs between executors.
pub trait Spawner: Send + Sync + 'static {
    /// The executor's name (for `Debug`).
    const NAME: &'static str;
    /// Runs `future` to completion in the background, detached.
    fn spawn(future: BoxFuture<()>);
}

/// A [`Runtime`] on `async-io`'s sockets and timer that spawns with `S`.
pub struct AsyncIoRuntime<S>(PhantomData<fn() -> S>);

impl<S> Default for AsyncIoRuntime<S> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<S> Clone for AsyncIoRuntime<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for AsyncIoRuntime<S> {}

impl<S: Spawner> fmt::Debug for AsyncIoRuntime<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AsyncIoRuntime({})", S::NAME)
    }
}

impl<S: Spawner> Runtime for AsyncIoRuntime<S> {
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        new_timer(deadline)
    }

    fn spawn(&self, future: BoxFuture<()>) {
        S::spawn(future);
    }

    fn wrap_udp_socket(&self, socket: UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(&self, listener: TcpListener) -> io::Result<Box<dyn AsyncTcpListener>> {
        wrap_tcp_listener(listener)
    }

    fn connect_tcp(&self, addr: SocketAddr) -> BoxFuture<io::Result<Box<dyn TcpConnection>>> {
        connect_tcp(addr)
    }
}

/// An `async-io` timer.
pub struct IoTimer(Timer);

impl fmt::Debug for IoTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IoTimer")
    }
}

impl AsyncTimer for IoTimer {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.0.set_at(deadline);
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll(cx).map(|_| ())
    }
}

/// `Runtime::new_timer`.
pub fn new_timer(deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
    Box::pin(IoTimer(Timer::at(deadline)))
}

/// An `async-io` UDP socket.
#[derive(Debug)]
pub struct IoUdpSocket(Async<UdpSocket>);

impl AsyncUdpSocket for IoUdpSocket {
    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        dst: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.0.get_ref().send_to(buf, dst) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.0.poll_writable(cx))?;
                }
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        loop {
            match self.0.get_ref().recv_from(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.0.poll_readable(cx))?;
                }
                result => return Poll::Ready(result),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }
}

/// `Runtime::wrap_udp_socket`.
///
/// # Errors
/// When the reactor cannot register the socket.
pub fn wrap_udp_socket(socket: UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
    Ok(Arc::new(IoUdpSocket(Async::new(socket)?)))
}

/// An `async-io` TCP listener.
#[derive(Debug)]
pub struct IoTcpListener(Async<TcpListener>);

impl AsyncTcpListener for IoTcpListener {
    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Box<dyn TcpConnection>, SocketAddr)>> {
        loop {
            match self.0.get_ref().accept() {
                Ok((stream, peer)) => {
                    let stream: Box<dyn TcpConnection> = Box::new(Async::new(stream)?);
                    return Poll::Ready(Ok((stream, peer)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.0.poll_readable(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// `Runtime::wrap_tcp_listener`.
///
/// # Errors
/// When the reactor cannot register the listener.
pub fn wrap_tcp_listener(listener: TcpListener) -> io::Result<Box<dyn AsyncTcpListener>> {
    Ok(Box::new(IoTcpListener(Async::new(listener)?)))
}

/// `Runtime::connect_tcp`.
pub fn connect_tcp(addr: SocketAddr) -> BoxFuture<io::Result<Box<dyn TcpConnection>>> {
    Box::pin(async move {
        let stream = Async::<TcpStream>::connect(addr).await?;
        stream.get_ref().set_nodelay(true)?;
        Ok(Box::new(stream) as Box<dyn TcpConnection>)
    })
}
