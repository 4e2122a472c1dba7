//! Control API benchmarks (issue 27), a release gracewire on loopback addresses with FRR and an
//! in-process receiver (`gracewire_e2e::sink`) as its peers (run as root):
//!
//! - `SetAnnouncements` of 10,000 routes: from the call to FRR holding all of them;
//! - `AddAnnouncements` of one route, 1,000 times from a near-empty table and 200 times beside
//!   11,000 routes: from the call to the receiver decoding the UPDATE that carries it (median
//!   and p99), and to the answer;
//! - `WatchEvents`: the daemon's CPU time for the same bursts (10,000 routes set, then
//!   withdrawn) with no watcher and with 100 reading every event, alternating, and the ratio.
//!
//! `cargo run --release -p gracewire-e2e --bin api-bench`

use gracewire::api::proto::{self, control_client::ControlClient, Announcement};
use gracewire::wire::Family;
use gracewire_e2e::frr::Frr;
use gracewire_e2e::{wait_for, Gracewire, Lab, Router};
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const SUITE: u8 = 55;
const GW_ASN: u32 = 64512;
const SET: u32 = 10_000;
const ADDS: u32 = 1_000;
const WATCHERS: usize = 100;
const ROUNDS: u32 = 10;
const T: Duration = Duration::from_secs(60);

fn config(lab: &Lab, sink: Ipv4Addr) -> String {
    format!(
        r#"[global]
asn = {GW_ASN}
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"

[[peers]]
name = "frr"
address = "{frr}"
asn = 65002
local_address = "{gw}"
connect_retry = 1

[[peers]]
name = "sink"
address = "{sink}"
asn = 65003
passive = true
"#,
        gw = lab.addr(1),
        frr = lab.addr(2),
    )
}

fn routes(from: u32, n: u32) -> Vec<Announcement> {
    (from..from + n)
        .map(|i| Announcement {
            prefix: format!("{}/32", Ipv4Addr::from(0x6440_0000 + i)),
            next_hop: Some("192.0.2.1".into()),
            ..Default::default()
        })
        .collect()
}

fn change(source: &str, announcements: Vec<Announcement>) -> proto::AnnouncementsChange {
    proto::AnnouncementsChange {
        source: source.into(),
        announcements,
    }
}

/// FRR's count of prefixes from gracewire, from its summary (cheap to ask at 10,000).
fn frr_received(frr: &Frr) -> usize {
    let out = frr
        .vtysh(&["show bgp ipv4 unicast summary json"])
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    v["peers"]
        .as_object()
        .map(|p| p.values().filter_map(|n| n["pfxRcd"].as_u64()).sum::<u64>())
        .unwrap_or(0) as usize
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    std::env::set_var("GRACEWIRE_BIN", gracewire_e2e::gracewire::build(true));
    let lab = Lab::new(SUITE);
    let sink_addr = lab.addr(3);
    let mut frr = Frr::new(&lab, lab.spec(2, 65002, GW_ASN));
    frr.start();
    let gw = Gracewire::start(&lab, &config(&lab, sink_addr));
    let sinks = gracewire_e2e::sink::runtime();
    let sink = gracewire_e2e::sink::spawn(
        &sinks,
        sink_addr,
        lab.addr(1),
        (65003, 90),
        vec![Family::Ipv4Unicast],
        0,
    );
    gw.wait_established("frr", T);
    gw.wait_established("sink", T);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut api: ControlClient<Channel> = rt
        .block_on(gracewire::api::client::connect(&gw.socket))
        .unwrap();

    // AddAnnouncements one route at a time, from a near-empty table; then SetAnnouncements of
    // 10,000 at FRR; then adds again beside those 10,000.
    let adds = |api: &mut ControlClient<Channel>, label: &str, from: u32, n: u32| {
        let (mut wire, mut answered) = (Vec::new(), Vec::new());
        for i in from..from + n {
            let before = sink.prefixes.load(Ordering::SeqCst);
            let start = Instant::now();
            rt.block_on(api.add_announcements(change("adds", routes(SET + i, 1))))
                .unwrap();
            answered.push(start.elapsed());
            while sink.prefixes.load(Ordering::SeqCst) <= before {
                std::thread::sleep(Duration::from_micros(50));
                assert!(start.elapsed() < T, "add {i} never reached the receiver");
            }
            wire.push(start.elapsed());
        }
        wire.sort();
        answered.sort();
        let ms = |v: &[Duration], p: f64| percentile(v, p).as_secs_f64() * 1e3;
        println!(
            "AddAnnouncements of one route, {n} calls, {label}: call to the UPDATE decoded at the receiver median {:.2} ms, p99 {:.2} ms (answered: median {:.2} ms, p99 {:.2} ms)",
            ms(&wire, 0.5), ms(&wire, 0.99), ms(&answered, 0.5), ms(&answered, 0.99)
        );
    };
    adds(&mut api, "0 to 1,000 routes announced", 0, ADDS);

    let start = Instant::now();
    rt.block_on(api.set_announcements(change("bench", routes(100_000, SET))))
        .unwrap();
    let answered = start.elapsed();
    wait_for("FRR has the 10,000", T, || {
        (frr_received(&frr) >= (ADDS + SET) as usize).then_some(())
    });
    let at_frr = start.elapsed();
    println!(
        "SetAnnouncements of {SET} routes: answered in {:.0} ms, all at FRR in {:.0} ms",
        answered.as_secs_f64() * 1e3,
        at_frr.as_secs_f64() * 1e3
    );
    adds(&mut api, "beside 11,000 announced", ADDS, 200);

    // The daemon's CPU per burst with no watcher and with 100, alternating.
    let pid = gw.process.pid().expect("gracewire runs") as u32;
    let burst = |api: &mut ControlClient<Channel>, round: u32| {
        let before = cpu_seconds(pid);
        let announced = (ADDS + SET + 200) as usize;
        let routes = routes(200_000 + round * SET, SET);
        let seen = sink.prefixes.load(Ordering::SeqCst);
        let start = Instant::now();
        rt.block_on(api.set_announcements(change("burst", routes)))
            .unwrap();
        // Each round's prefixes are new, so the receiver's count of distinct ones grows by all.
        while sink.prefixes.load(Ordering::SeqCst) < seen + SET as usize {
            std::thread::sleep(Duration::from_micros(50));
            assert!(start.elapsed() < T, "the burst never reached the receiver");
        }
        let converged = start.elapsed().as_secs_f64();
        wait_for("the burst at FRR", T, || {
            (frr_received(&frr) >= announced + SET as usize).then_some(())
        });
        rt.block_on(api.set_announcements(change("burst", Vec::new())))
            .unwrap();
        wait_for("the burst withdrawn at FRR", T, || {
            (frr_received(&frr) <= announced).then_some(())
        });
        (cpu_seconds(pid) - before, converged)
    };
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        without.push(burst(&mut api, round * 2));
        let watchers: Vec<_> = (0..WATCHERS)
            .map(|_| {
                let socket = gw.socket.clone();
                rt.spawn(async move {
                    let mut c = gracewire::api::client::connect(&socket).await.unwrap();
                    let mut events = c
                        .watch_events(proto::WatchEventsRequest {})
                        .await
                        .unwrap()
                        .into_inner();
                    let mut n = 0u64;
                    while let Ok(Some(_)) = events.message().await {
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        with.push(burst(&mut api, round * 2 + 1));
        for w in watchers {
            w.abort();
        }
    }
    let mean =
        |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
    let (a, b) = (mean(&without, |r| r.1), mean(&with, |r| r.1));
    println!(
        "SetAnnouncements of {SET} routes to all at the receiver ({ROUNDS} rounds each, alternating): no watcher {:.1} ms, {WATCHERS} watchers {:.1} ms ({:+.1}%)",
        a * 1e3,
        b * 1e3,
        (b / a - 1.0) * 100.0
    );
    let (a, b) = (mean(&without, |r| r.0), mean(&with, |r| r.0));
    let ratios: Vec<f64> = without
        .iter()
        .zip(&with)
        .map(|(a, b)| (b.0 / a.0 - 1.0) * 100.0)
        .collect();
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    println!(
        "daemon CPU per burst of {SET} routes set and withdrawn ({ROUNDS} rounds each, alternating; /proc's CPU time counts in 10 ms ticks): no watcher {:.1} ms, {WATCHERS} watchers {:.1} ms ({:+.1}%; round by round from {lo:+.0}% to {hi:+.0}%)",
        a * 1e3,
        b * 1e3,
        (b / a - 1.0) * 100.0
    );
    let mut gw = gw;
    gw.process.stop("TERM", Duration::from_secs(10));
}
