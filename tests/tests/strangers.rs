//! Whatever arrives on port 179: connections from addresses that are no configured peer are
//! closed before a byte is read, counted and logged sparingly; a configured peer with the wrong
//! AS gets OPEN error 2/2; a session beside it all is never touched.

use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::raw::{open, RawSession};
use gracewire_e2e::{quoted, wait_for, Gracewire, GwConfig, Lab, Router};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const SUITE: u8 = 34;
const T: Duration = Duration::from_secs(30);
const STRANGERS: u8 = 200;

#[test]
fn strangers_are_refused_and_the_real_session_never_notices() {
    let lab = Lab::new(SUITE);
    let mut spec = lab.spec(2, 65001, 64512);
    spec.originate = vec![("203.0.113.0/24".into(), "192.0.2.2".into())];
    let mut gobgp = GoBgp::new(&lab, spec);
    gobgp.start();
    let gw_addr = lab.addr(1);
    let metrics: SocketAddr = (gw_addr, 9179).into();
    let config = GwConfig::new(gw_addr)
        .global("metrics", quoted(metrics))
        .peer("gobgp", lab.addr(2), 65001)
        .raw_peer("wrong-as", lab.addr(3), 65005)
        .announce(["198.51.100.10/32"], "192.0.2.1")
        .to_string();
    let gw = Gracewire::start(&lab, &config);
    gw.wait_established("gobgp", T);
    wait_for("gobgpd has our route", T, || {
        (gobgp.routes().len() == 1).then_some(())
    });
    let opens = gobgp.opens_received();

    // Strangers from 200 loopback addresses, each with an OPEN and then garbage.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..STRANGERS {
        let from = Ipv4Addr::new(127, SUITE, 200, i);
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.bind(&SocketAddr::from((from, 0)).into()).unwrap();
        socket
            .connect_timeout(
                &SocketAddr::from((gw_addr, 179)).into(),
                Duration::from_secs(2),
            )
            .unwrap();
        let mut stream: TcpStream = socket.into();
        let t = Instant::now();
        let _ = stream.write_all(&open(65009, from));
        let _ = stream.write_all(&[0x42; 300]);
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).unwrap_or(0);
        assert_eq!(
            n, 0,
            "stranger {from}: gracewire sent {n} bytes, it must send nothing"
        );
        slowest = slowest.max(t.elapsed());
    }
    println!(
        "{STRANGERS} strangers refused in {:?}, slowest close {slowest:?}",
        started.elapsed()
    );
    assert!(slowest < Duration::from_secs(2));

    // A configured peer with the wrong AS: OPEN error 2/2, Bad Peer AS.
    let mut wrong = RawSession::connect_raw(lab.addr(3), gw_addr).unwrap();
    wrong.send(&open(65099, Ipv4Addr::new(192, 0, 2, 3)));
    let body = wrong.expect(3, T).expect("NOTIFICATION");
    assert_eq!(body[..2], [2, 2], "Bad Peer AS");
    // And one that sends garbage instead of an OPEN: a header error, closed.
    let mut garbage = RawSession::connect_raw(lab.addr(3), gw_addr).unwrap();
    garbage.send(&[0u8; 19]);
    let body = garbage.expect(3, T).expect("NOTIFICATION");
    assert_eq!(body[..2], [1, 1], "Connection Not Synchronized");

    // Counted, logged sparingly, and the real session never noticed.
    let exposition = std::process::Command::new("curl")
        .args(["-s", &format!("http://{metrics}/metrics")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&exposition.stdout);
    let refused = text
        .lines()
        .find_map(|l| l.strip_prefix("gracewire_bgp_connections_refused_total "))
        .unwrap_or_else(|| panic!("no refused counter in\n{text}"));
    assert_eq!(refused.trim(), STRANGERS.to_string());
    let log = gw.process.log_text();
    let lines = log
        .lines()
        .filter(|l| l.contains("not a configured peer"))
        .count();
    assert!(
        (1..=3).contains(&lines),
        "{lines} log lines for {STRANGERS} strangers"
    );
    assert_eq!(
        gobgp.opens_received(),
        opens,
        "the real session is the same one"
    );
    assert!(gobgp.established());
    assert_eq!(gobgp.routes().len(), 1);
    assert_eq!(gw.neighbor("gobgp")["state"], "Established");
}
