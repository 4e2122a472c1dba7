//! The metrics port's connections, bounded: at most [`MAX_CONNECTIONS`] at once (one more
//! waits in the kernel's backlog, taking no file descriptor of ours), and a connection must
//! send its whole next request within [`IDLE`] of connecting or of its last answer, however
//! it trickles the bytes (a slowloris client that sends a header byte every few seconds is
//! closed at [`IDLE`] all the same). axum's `serve` has neither bound; its `Listener` trait
//! lets the accepted stream carry both.

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
/// How long a connection may take to send its next request (from connecting, or from its
/// last answer), and a pending answer to be taken.
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
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                crate::bounds::reached(
                    crate::bounds::Limit::MetricsConnections,
                    "metrics connections: the next waits in the kernel's backlog",
                );
                self.slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
        };
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

/// An accepted connection that holds its slot until dropped and fails a read (or write) still
/// waiting at its deadline: the idle time after connecting or after the last bytes written.
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
        // Reads do not move the deadline: a request trickled in byte by byte gets no longer.
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => this.past_deadline(cx),
        }
    }
}

impl BoundedStream {
    fn past_deadline<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                crate::bounds::reached(
                    crate::bounds::Limit::MetricsIdle,
                    "a metrics connection idle or trickling its request: closed",
                );
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "metrics connection idle",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for BoundedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                // An answer going out: the next request has the idle time from here.
                let idle = this.idle;
                this.deadline.as_mut().reset(Instant::now() + idle);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.past_deadline(cx),
        }
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
        assert!(crate::bounds::count(crate::bounds::Limit::MetricsConnections) >= 1);
        assert!(crate::bounds::count(crate::bounds::Limit::MetricsIdle) >= 3);
    }

    /// Slowloris: a byte every 100 ms does not keep a connection past the idle time; an
    /// answer written gives the next request the idle time again.
    #[tokio::test]
    async fn a_trickled_request_gets_no_longer_than_an_idle_one() {
        use tokio::io::AsyncWriteExt;
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let mut listener = BoundedListener::new(inner, 2, Duration::from_millis(400));
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await;
            let started = std::time::Instant::now();
            let mut got = Vec::new();
            let mut b = [0u8; 1];
            let mut answered = false;
            loop {
                match s.read(&mut b).await {
                    Ok(0) => return Err(got),
                    Ok(_) => got.push(b[0]),
                    Err(e) => {
                        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
                        return Ok((got, started.elapsed()));
                    }
                }
                if got.len() == 2 && !answered {
                    s.write_all(b"ok").await.unwrap();
                    answered = true;
                }
            }
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        for _ in 0..30 {
            if c.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (got, lasted) = server.await.unwrap().expect("closed by the deadline");
        // Two bytes, the answer (the deadline moves to then, about 100 ms in), then 400 ms
        // more of trickling: about 500 ms and 6 bytes, never the 3 s the client would take.
        assert!(got.len() <= 8, "{} bytes read", got.len());
        assert!(
            lasted >= Duration::from_millis(450) && lasted < Duration::from_millis(1500),
            "{lasted:?}"
        );
    }
}
