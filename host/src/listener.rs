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
