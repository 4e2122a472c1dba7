//! A service for health checks to probe: a TCP listener that accepts and closes every
//! connection until it is closed itself. (A listener nobody accepts on fills its backlog
//! after ~128 probes, and the probes then time out: a different failure from a dead service.)

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Backend {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    /// Listens on `addr` (panics if it cannot) and accepts until closed.
    pub fn open(addr: SocketAddr) -> Backend {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("backend {addr}: {e}"));
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => drop(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Backend {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops accepting and closes the listener: connections are refused from now on.
    pub fn close(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.shut();
    }
}
