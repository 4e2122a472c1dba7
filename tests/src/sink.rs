//! Minimal BGP receivers for benchmarks: each connects to a speaker from its own loopback
//! address, completes the OPEN exchange (4-octet AS, IPv4 and IPv6 unicast), counts the
//! prefixes announced per family with gracewire's own decoder, notes when End-of-RIB has come
//! for every family it waits for, and answers KEEPALIVEs. Many run as tasks on one tokio
//! runtime, so a thousand of them cost the benchmark machine little.

use gracewire::wire::{AttrContext, Family, Update};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// What one receiver has seen so far.
#[derive(Debug, Default)]
pub struct SinkState {
    pub established: AtomicBool,
    /// When the first session came up.
    pub up_at: Mutex<Option<Instant>>,
    /// When the first prefix arrived.
    pub first_route_at: Mutex<Option<Instant>>,
    pub prefixes: AtomicUsize,
    /// Every UPDATE received (End-of-RIBs included), and every prefix announced in them,
    /// the same one again included: what a takeover must not add to.
    pub updates: AtomicUsize,
    pub announcements: AtomicUsize,
    /// When `expect` prefixes had arrived (0: not counted).
    pub expect: usize,
    pub full_at: Mutex<Option<Instant>>,
    /// When End-of-RIB had arrived for every family waited for.
    pub done_at: Mutex<Option<Instant>>,
    pub sessions: AtomicUsize,
}

impl SinkState {
    pub fn done_at(&self) -> Option<Instant> {
        *self.done_at.lock().unwrap()
    }

    pub fn up_at(&self) -> Option<Instant> {
        *self.up_at.lock().unwrap()
    }

    pub fn first_route_at(&self) -> Option<Instant> {
        *self.first_route_at.lock().unwrap()
    }

    pub fn full_at(&self) -> Option<Instant> {
        *self.full_at.lock().unwrap()
    }
}

/// Starts a receiver on `rt`: from `local`, to `speaker:179`, as `asn`, retrying the
/// connection every 10 ms until the speaker listens. `families` are the End-of-RIBs it waits
/// for; `expect` the prefix count that makes it full.
pub fn spawn(
    rt: &tokio::runtime::Runtime,
    local: Ipv4Addr,
    speaker: Ipv4Addr,
    (asn, hold_time): (u32, u16),
    families: Vec<Family>,
    expect: usize,
) -> Arc<SinkState> {
    let state = Arc::new(SinkState {
        expect,
        ..Default::default()
    });
    let s = state.clone();
    rt.spawn(async move {
        loop {
            if let Err(e) = session(&s, local, speaker, asn, hold_time, &families).await {
                tracing_free_log(&format!("sink {local}: {e}"));
            }
            s.established.store(false, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    state
}

fn tracing_free_log(msg: &str) {
    if std::env::var_os("SINK_DEBUG").is_some() {
        eprintln!("{msg}");
    }
}

/// The runtime receivers run on: one worker is plenty for a thousand idle sessions.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn session(
    state: &SinkState,
    local: Ipv4Addr,
    speaker: Ipv4Addr,
    asn: u32,
    hold_time: u16,
    families: &[Family],
) -> std::io::Result<()> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((local, 0)))?;
    let mut stream = socket.connect(SocketAddr::from((speaker, 179))).await?;
    stream.set_nodelay(true)?;
    state.sessions.fetch_add(1, Ordering::SeqCst);
    // With Graceful Restart, so that every speaker sends End-of-RIB.
    stream
        .write_all(&crate::raw::open_with(asn, local, hold_time, true))
        .await?;
    let keepalive = crate::raw::message(4, &[]);
    let mut ticker = tokio::time::interval(Duration::from_secs((hold_time / 3).max(1) as u64));
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut waiting: Vec<Family> = families.to_vec();
    let mut seen = Seen::new(state.expect);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        tokio::select! {
            _ = ticker.tick() => stream.write_all(&keepalive).await?,
            n = stream.read(&mut chunk) => {
                let n = n?;
                if n == 0 {
                    return Err(std::io::Error::other("closed by the speaker"));
                }
                buf.extend_from_slice(&chunk[..n]);
                let mut at = 0;
                while buf.len() - at >= 19 {
                    let len = u16::from_be_bytes([buf[at + 16], buf[at + 17]]) as usize;
                    if buf.len() - at < len {
                        break;
                    }
                    let (kind, body) = (buf[at + 18], &buf[at + 19..at + len]);
                    match kind {
                        1 => {
                            stream.write_all(&keepalive).await?;
                            state.established.store(true, Ordering::SeqCst);
                            state.up_at.lock().unwrap().get_or_insert_with(Instant::now);
                        }
                        2 => count(state, body, &mut waiting, &mut seen),
                        3 => return Err(std::io::Error::other(format!("NOTIFICATION {body:?}"))),
                        _ => {}
                    }
                    at += len;
                }
                buf.drain(..at);
            }
        }
    }
}

/// The prefixes a session has seen. The announce benches send /32s numbered up from
/// 100.64.0.0 (`speaker::prefix`): those sit in a bitmap, as a thousand sinks of 100k
/// routes each would spend seconds and gigabytes hashing them; any other prefix is hashed.
struct Seen {
    dense: Vec<u64>,
    other: std::collections::HashSet<ipnet::IpNet>,
}

impl Seen {
    const BASE: u32 = u32::from_be_bytes([100, 64, 0, 0]);

    fn new(expect: usize) -> Seen {
        Seen {
            dense: vec![0; expect.div_ceil(64)],
            other: Default::default(),
        }
    }

    /// Whether `p` is new.
    fn insert(&mut self, p: ipnet::IpNet) -> bool {
        if let ipnet::IpNet::V4(v4) = p {
            let i = u32::from(v4.addr()).wrapping_sub(Self::BASE) as usize;
            if v4.prefix_len() == 32 && i < self.dense.len() * 64 {
                let (word, bit) = (i / 64, 1u64 << (i % 64));
                let new = self.dense[word] & bit == 0;
                self.dense[word] |= bit;
                return new;
            }
        }
        self.other.insert(p)
    }
}

/// Counts distinct prefixes: a speaker may announce one twice.
fn count(state: &SinkState, body: &[u8], waiting: &mut Vec<Family>, seen: &mut Seen) {
    let Ok(update) = Update::decode(
        body,
        AttrContext {
            four_octet_as: true,
            external: true,
        },
    ) else {
        return;
    };
    state.updates.fetch_add(1, Ordering::Relaxed);
    if let Some(family) = update.end_of_rib() {
        waiting.retain(|f| *f != family);
        if waiting.is_empty() {
            state
                .done_at
                .lock()
                .unwrap()
                .get_or_insert_with(Instant::now);
        }
        return;
    }
    let v4 = update.nlri.iter().map(|p| ipnet::IpNet::V4(*p));
    let v6 = update.mp_reach.iter().flat_map(|m| m.nlri.iter().copied());
    let all: Vec<ipnet::IpNet> = v4.chain(v6).collect();
    state.announcements.fetch_add(all.len(), Ordering::Relaxed);
    if !all.is_empty() {
        state
            .first_route_at
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
    }
    let n = all.into_iter().filter(|p| seen.insert(*p)).count();
    let total = state.prefixes.fetch_add(n, Ordering::Relaxed) + n;
    if state.expect > 0 && total >= state.expect {
        state
            .full_at
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
    }
}

#[cfg(test)]
mod tests {
    use super::Seen;

    #[test]
    fn a_prefix_is_new_once_in_the_bitmap_or_outside_it() {
        let mut seen = Seen::new(100);
        for p in [
            "100.64.0.0/32",
            "100.64.0.99/32",
            "100.64.0.127/32",
            "100.64.0.128/32",
            "100.64.0.5/31",
            "2001:db8::/32",
        ] {
            let p = p.parse().unwrap();
            assert!(seen.insert(p), "{p} first time");
            assert!(!seen.insert(p), "{p} again");
        }
        // Room for 128 (two words): three in the bitmap; past its end, another length and
        // IPv6 were hashed.
        assert_eq!(seen.other.len(), 3);
    }
}
