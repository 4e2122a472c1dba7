//! Accepts BGP connections and hands them to the daemon, which knows which peer they belong to.

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info};

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    info!(%addr, "listening for BGP connections");
    Ok(listener)
}

/// Binds, trying again every 100 ms up to `retries` times while the address is in use (the
/// process being replaced may still hold it).
pub async fn bind_patiently(addr: SocketAddr, retries: u32) -> std::io::Result<TcpListener> {
    let mut left = retries;
    loop {
        match bind(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && left > 0 => {
                left -= 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// The listening socket a previous process handed over (`crate::takeover`).
pub fn adopt(listener: std::net::TcpListener, addr: SocketAddr) -> std::io::Result<TcpListener> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    info!(%addr, "listening for BGP connections on the socket taken over");
    Ok(listener)
}

pub fn spawn(listener: TcpListener, to_daemon: mpsc::Sender<(TcpStream, SocketAddr)>) {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, from)) => {
                    debug!(%from, "incoming connection");
                    if to_daemon.send((stream, from)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    });
}
