//! The metrics port's connections, bounded: at most [`MAX_CONNECTIONS`] at once (one more
//! waits in the kernel's backlog, taking no file descriptor of ours), and a connection whose
//! reads wait longer than [`IDLE`] (a request's headers trickling in, or a kept-alive
//! connection nobody uses) is closed. axum's `serve` has neither; its `Listener` trait lets
//! the accepted stream carry both.

use axum::serve::Listener;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections to the metrics port served at once (Prometheus keeps one per scraper).
pub const MAX_CONNECTIONS: usize = 32;
/// How long a connection may wait for its next bytes (between requests, or within headers).
pub const IDLE: Duration = Duration::from_secs(30);

pub struct BoundedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    idle: Duration,
}

impl BoundedListener {
    pub fn new(inner: TcpListener, max: usize, idle: Duration) -> BoundedListener {
        BoundedListener {
            inner,
            slots: Arc::new(Semaphore::new(max)),
            idle,
        }
    }
}

impl Listener for BoundedListener {
    type Io = BoundedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (BoundedStream, std::net::SocketAddr) {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let stream = BoundedStream {
                        stream,
                        _slot: slot,
                        idle: self.idle,
                        deadline: Box::pin(tokio::time::sleep(self.idle)),
                    };
                    return (stream, addr);
                }
                // Out of descriptors or a connection reset before accept: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted connection that holds its slot until dropped and fails a read that waits past
/// the idle time.
pub struct BoundedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl AsyncRead for BoundedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(r) => {
                let idle = this.idle;
                this.deadline.as_mut().reset(Instant::now() + idle);
                Poll::Ready(r)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "metrics connection idle",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for BoundedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Issue 24: 3,000 idle connections stayed open for a minute. Here, past the cap a
    /// connection waits unserved, and an idle one is closed at the idle time.
    #[tokio::test]
    async fn connections_are_capped_and_idle_ones_closed() {
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let mut listener = BoundedListener::new(inner, 2, Duration::from_millis(300));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await;
                let tx = tx.clone();
                tokio::spawn(async move {
                    let started = std::time::Instant::now();
                    let mut b = [0u8; 16];
                    let r = s.read(&mut b).await.map_err(|e| e.kind());
                    let _ = tx.send((r, started.elapsed(), std::time::Instant::now()));
                });
            }
        });
        let t0 = std::time::Instant::now();
        let _a = TcpStream::connect(addr).await.unwrap();
        let _b = TcpStream::connect(addr).await.unwrap();
        let _c = TcpStream::connect(addr).await.unwrap();
        let mut ends = Vec::new();
        for _ in 0..3 {
            let (r, waited, at) = rx.recv().await.unwrap();
            assert_eq!(r, Err(io::ErrorKind::TimedOut));
            assert!(waited >= Duration::from_millis(290), "{waited:?}");
            ends.push(at.duration_since(t0));
        }
        // The third was served only once one of the first two was closed.
        assert!(ends[2] >= Duration::from_millis(580), "{ends:?}");
    }
}
