//! A TCP echo server and a client that measures continuity, for the data-plane test.
//!
//! `gw-echo server ADDR` echoes every connection. `gw-echo client ADDR CONNECTIONS INTERVAL_MS
//! SECONDS` keeps CONNECTIONS connections open, sends a numbered 8-octet message on each every
//! INTERVAL_MS, and prints one JSON line: resets, lost messages and the longest echo stall.
//! `gw-echo probe ADDR INTERVAL_MS SECONDS` opens a new connection every INTERVAL_MS (each a
//! new source port, so ECMP spreads them over the paths), echoes one message on it with a 200 ms
//! deadline, and prints how many failed and the span from the first failure to the end of the
//! last: how long some traffic went nowhere.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn server(addr: &str) {
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    println!("listening");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut s = stream;
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
}

struct Outcome {
    sent: u64,
    echoed: u64,
    reset: bool,
    max_stall: Duration,
}

fn one_connection(addr: &str, interval: Duration, until: Instant) -> Outcome {
    let mut out = Outcome {
        sent: 0,
        echoed: 0,
        reset: false,
        max_stall: Duration::ZERO,
    };
    let Ok(mut s) = TcpStream::connect(addr) else {
        out.reset = true;
        return out;
    };
    s.set_nodelay(true).ok();
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut seq = 0u64;
    while Instant::now() < until {
        let sent_at = Instant::now();
        if s.write_all(&seq.to_be_bytes()).is_err() {
            out.reset = true;
            break;
        }
        out.sent += 1;
        let mut back = [0u8; 8];
        if s.read_exact(&mut back).is_err() || u64::from_be_bytes(back) != seq {
            out.reset = true;
            break;
        }
        out.echoed += 1;
        out.max_stall = out.max_stall.max(sent_at.elapsed());
        seq += 1;
        std::thread::sleep(interval.saturating_sub(sent_at.elapsed()));
    }
    out
}

fn client(addr: &str, connections: usize, interval_ms: u64, seconds: u64) {
    let until = Instant::now() + Duration::from_secs(seconds);
    let interval = Duration::from_millis(interval_ms);
    let handles: Vec<_> = (0..connections)
        .map(|_| {
            let addr = addr.to_string();
            std::thread::spawn(move || one_connection(&addr, interval, until))
        })
        .collect();
    let outcomes: Vec<Outcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let resets = outcomes.iter().filter(|o| o.reset).count();
    let sent: u64 = outcomes.iter().map(|o| o.sent).sum();
    let echoed: u64 = outcomes.iter().map(|o| o.echoed).sum();
    let max_stall = outcomes
        .iter()
        .map(|o| o.max_stall)
        .max()
        .unwrap_or_default();
    println!(
        "{{\"connections\":{connections},\"resets\":{resets},\"sent\":{sent},\"lost\":{},\"max_stall_ms\":{}}}",
        sent - echoed,
        max_stall.as_millis()
    );
}

/// One probe: connect, echo 8 octets, close, all within 200 ms.
fn probe_once(addr: &std::net::SocketAddr) -> bool {
    let deadline = Duration::from_millis(200);
    let Ok(mut s) = TcpStream::connect_timeout(addr, deadline) else {
        return false;
    };
    s.set_read_timeout(Some(deadline)).ok();
    s.set_nodelay(true).ok();
    let mut back = [0u8; 8];
    s.write_all(b"gwprobe!").is_ok() && s.read_exact(&mut back).is_ok() && &back == b"gwprobe!"
}

fn probe(addr: &str, interval_ms: u64, seconds: u64) {
    let addr: std::net::SocketAddr = addr.parse().expect("ADDR is IP:PORT");
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let interval = Duration::from_millis(interval_ms);
    let (mut probes, mut failed) = (0u64, 0u64);
    let mut span: Option<(Duration, Duration)> = None;
    while Instant::now() < until {
        let at = Instant::now();
        probes += 1;
        if !probe_once(&addr) {
            failed += 1;
            let (from, to) = (at - start, start.elapsed());
            span = Some(span.map_or((from, to), |(f, _)| (f, to)));
        }
        std::thread::sleep(interval.saturating_sub(at.elapsed()));
    }
    let ms = |d: Duration| d.as_millis();
    let (first, last) = span.unwrap_or_default();
    println!(
        "{{\"probes\":{probes},\"failed\":{failed},\"first_failure_ms\":{},\"failure_span_ms\":{}}}",
        ms(first),
        ms(last.saturating_sub(first))
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("server") => server(&args[2]),
        Some("client") => client(
            &args[2],
            args[3].parse().unwrap(),
            args[4].parse().unwrap(),
            args[5].parse().unwrap(),
        ),
        Some("probe") => probe(
            &args[2],
            args[3].parse().unwrap(),
            args[4].parse().unwrap(),
        ),
        _ => eprintln!(
            "usage: gw-echo server ADDR | client ADDR CONNECTIONS INTERVAL_MS SECONDS | probe ADDR INTERVAL_MS SECONDS"
        ),
    }
}
