//! Metrics as an operator's Prometheus sees them: a real Prometheus scrapes gracewire every
//! second while it runs against FRR, through a graceful restart; `promtool check metrics` finds
//! nothing wrong with the exposition.

use gracewire_e2e::frr::Frr;
use gracewire_e2e::prometheus::Prometheus;
use gracewire_e2e::{wait_for, Gracewire, Lab, PeerSpec, Router};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

const SUITE: u8 = 31;
const T: Duration = Duration::from_secs(60);

fn config(spec: &PeerSpec, metrics: SocketAddr) -> String {
    format!(
        r#"[global]
asn = 64512
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"
metrics = "{metrics}"

[[peers]]
name = "tor"
address = "{peer}"
asn = {asn}
local_address = "{gw}"
hold_time = 9
connect_retry = 1

[[announce]]
prefix = "198.51.100.10/32"
next_hop = "192.0.2.1"

[[announce]]
prefix = "198.51.100.11/32"
next_hop = "192.0.2.1"

[[announce]]
prefix = "2001:db8:100::/64"
next_hop = "2001:db8::1"
"#,
        gw = spec.gracewire_addr,
        peer = spec.addr,
        asn = spec.asn,
    )
}

fn curl(url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "--max-time", "5", url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_string(), body.to_string())
}

#[test]
fn prometheus_sees_the_session_the_routes_and_a_graceful_restart() {
    let lab = Lab::new(SUITE);
    let mut spec = lab.spec(2, 65002, 64512);
    spec.originate = vec![("203.0.113.0/24".into(), "192.0.2.2".into())];
    let mut frr = Frr::new(&lab, spec.clone());
    frr.start();
    let metrics: SocketAddr = (lab.addr(1), 9179).into();
    let mut gw = Gracewire::start(&lab, &config(&spec, metrics));
    let prom = Prometheus::start(&lab, (lab.addr(90), 9090).into(), metrics);

    let up = r#"gracewire_bgp_session_up{peer="tor"}"#;
    wait_for("Prometheus: session up", T, || {
        (prom.value(up) == Some(1.0)).then_some(())
    });
    let announced = |family: &str| {
        prom.value(&format!(
            r#"gracewire_bgp_announced_prefixes{{peer="tor",family="{family}"}}"#
        ))
    };
    wait_for("Prometheus: announced counts", T, || {
        (announced("ipv4-unicast") == Some(2.0) && announced("ipv6-unicast") == Some(1.0))
            .then_some(())
    });
    let received = prom.value(r#"sum(gracewire_bgp_received_prefixes{peer="tor"})"#);
    assert_eq!(received, Some(1.0), "FRR's route");
    assert_eq!(
        prom.value(r#"gracewire_bgp_session_state{peer="tor"}"#),
        Some(6.0)
    );
    let restarts_before = prom.value("gracewire_gr_restarts_total").unwrap();
    let established_before = prom
        .value(r#"gracewire_bgp_session_established_total{peer="tor"}"#)
        .unwrap();
    assert_eq!(established_before, 1.0);

    // The probes and the exposition, as Kubernetes and promtool see them.
    let (head, body) = curl(&format!("http://{metrics}/healthz"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}{body}");
    let (head, body) = curl(&format!("http://{metrics}/readyz"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}{body}");
    let (head, exposition) = curl(&format!("http://{metrics}/metrics"));
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool: {report}"
    );

    // A graceful restart: the session comes back, one more restart is counted, and the
    // restart record carried the count into the new process.
    gw.process.stop("TERM", Duration::from_secs(10));
    wait_for("Prometheus: target down", T, || {
        (prom.value(r#"up{job="gracewire"}"#) == Some(0.0)).then_some(())
    });
    gw.restart();
    wait_for("Prometheus: restart counted, session up again", T, || {
        let restarts = prom.value("gracewire_gr_restarts_total")?;
        (restarts == restarts_before + 1.0 && prom.value(up) == Some(1.0)).then_some(())
    });
    assert!(frr.established());
    wait_for("Prometheus: announced counts after the restart", T, || {
        (announced("ipv4-unicast") == Some(2.0) && announced("ipv6-unicast") == Some(1.0))
            .then_some(())
    });
}
