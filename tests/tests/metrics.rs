//! Metrics as an operator's Prometheus sees them: a real Prometheus scrapes gracewire every
//! second while it runs against FRR, through a graceful restart, a route refresh, a reset and a
//! rejected plugin; `promtool check metrics` finds nothing wrong with the exposition, and every
//! name docs/operations.md lists is in Prometheus (and every name exposed is listed).

use gracewire_e2e::backend::Backend;
use gracewire_e2e::frr::Frr;
use gracewire_e2e::prometheus::Prometheus;
use gracewire_e2e::{quoted, wait_for, Gracewire, Lab, PeerSpec, Router};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const SUITE: u8 = 31;
const T: Duration = Duration::from_secs(60);

/// One peer with a prefix limit and BFD (FRR runs no bfdd here: the session stays Down, which
/// BGP does not wait for), a health check on one announcement, and the announce plugin with a
/// named rule: every part that has metrics.
fn config(spec: &PeerSpec, metrics: SocketAddr, backend: SocketAddr, plugin: &Path) -> String {
    format!(
        r#"[global]
asn = 64512
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"
metrics = "{metrics}"

[bfd_profiles.slow]
receive_interval_ms = 1000
transmit_interval_ms = 1000
detect_multiplier = 3

[health_checks.svc]
kind = "tcp"
address = "{backend}"
interval_ms = 200
timeout_ms = 150

[plugins.announce]
path = {plugin}
config = {{ rules = [{{ name = "all" }}] }}

[[peers]]
name = "tor"
address = "{peer}"
asn = {asn}
local_address = "{gw}"
hold_time = 9
connect_retry = 1
max_prefixes = {{ ipv4-unicast = 10 }}
bfd = "slow"

[[announce]]
prefix = "198.51.100.10/32"
next_hop = "192.0.2.1"

[[announce]]
prefix = "198.51.100.11/32"
next_hop = "192.0.2.1"
health = "svc"

[[announce]]
prefix = "2001:db8:100::/64"
next_hop = "2001:db8::1"
"#,
        gw = spec.gracewire_addr,
        peer = spec.addr,
        asn = spec.asn,
        plugin = quoted(plugin.display()),
    )
}

/// Every metric name in docs/operations.md's table, `{a,b}` groups expanded.
fn documented_names() -> BTreeSet<String> {
    let page = gracewire_e2e::workspace().join("docs/operations.md");
    let text = std::fs::read_to_string(page).unwrap();
    let mut names = BTreeSet::new();
    for row in text.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split(" | ").next().unwrap();
        for name in first.split('`').skip(1).step_by(2) {
            names.extend(expand(name));
        }
    }
    names
}

fn expand(name: &str) -> Vec<String> {
    let Some((head, rest)) = name.split_once('{') else {
        return vec![name.to_string()];
    };
    let (group, tail) = rest.split_once('}').unwrap();
    group
        .split(',')
        .flat_map(|g| expand(&format!("{head}{g}{tail}")))
        .collect()
}

/// The metric names of an exposition in the classic format (histograms by their family name).
fn exposed_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect()
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
fn prometheus_sees_every_documented_metric_through_a_restart_a_reset_and_a_swap() {
    let lab = Lab::new(SUITE);
    let mut spec = lab.spec(2, 65002, 64512);
    spec.originate = vec![("203.0.113.0/24".into(), "192.0.2.2".into())];
    let mut frr = Frr::new(&lab, spec.clone());
    frr.start();
    let metrics: SocketAddr = (lab.addr(1), 9179).into();
    let backend_addr: SocketAddr = (lab.addr(10), 8085).into();
    let _backend = Backend::open(backend_addr);
    let plugin = lab.path("announce.wasm");
    let built = gracewire_sdk::testing::build_wasm(&format!(
        "{}/plugins/announce",
        gracewire_e2e::workspace().display()
    ));
    std::fs::copy(built, &plugin).unwrap();
    let mut gw = Gracewire::start(&lab, &config(&spec, metrics, backend_addr, &plugin));
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

    for (name, want) in [
        (
            r#"gracewire_bgp_max_prefixes{peer="tor",family="ipv4-unicast"}"#,
            10.0,
        ),
        (
            r#"gracewire_bgp_max_prefix_warning{peer="tor",family="ipv4-unicast"}"#,
            0.0,
        ),
        (r#"gracewire_bfd_session_up{peer="tor"}"#, 0.0),
        (r#"gracewire_health_check_up{check="svc"}"#, 1.0),
        (r#"gracewire_plugin_info{kind="announce"}"#, 1.0),
        (r#"gracewire_plugin_swaps_total{kind="announce"}"#, 0.0),
        (
            r#"gracewire_plugin_rule_routes{kind="announce",rule="all"}"#,
            3.0,
        ),
        (r#"gracewire_bgp_opens_sent_total{peer="tor"}"#, 1.0),
        (r#"gracewire_bgp_opens_received_total{peer="tor"}"#, 1.0),
        ("gracewire_drain_state", 0.0),
        ("gracewire_gr_restarting", 0.0),
    ] {
        assert_eq!(prom.value(name), Some(want), "{name}");
    }
    for name in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(prom.value(name).is_some_and(|v| v > 0.0), "{name}");
    }
    let started = prom.value("process_start_time_seconds").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        now - started < 300.0 && started <= now,
        "start time {started}, now {now}"
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
    assert_eq!(
        prom.value("gracewire_gr_restarting"),
        Some(1.0),
        "the restart window is open for restart_time"
    );

    // A route refresh both ways, then a reset: the messages are counted by type and code.
    let sent =
        |kind: &str| prom.value(&format!(r#"gracewire_bgp_{kind}_sent_total{{peer="tor"}}"#));
    let refreshes = sent("route_refresh").unwrap();
    gw.cli(&["refresh", "tor"]);
    wait_for("Prometheus: ROUTE-REFRESH sent", T, || {
        (sent("route_refresh")? >= refreshes + 2.0).then_some(())
    });
    gw.cli(&["reset", "tor", "--hard"]);
    wait_for("Prometheus: the reset's NOTIFICATION by code", T, || {
        let n = prom.value(
            r#"gracewire_bgp_notifications_by_code_sent_total{peer="tor",code="6",subcode="9"}"#,
        )?;
        (n == 1.0 && sent("notifications")? == 1.0).then_some(())
    });

    // FRR's `clear bgp` once the session is back: a NOTIFICATION received, counted by code.
    let established = r#"gracewire_bgp_session_established_total{peer="tor"}"#;
    wait_for("Prometheus: session up after the reset", T, || {
        (prom.value(established)? == 2.0 && prom.value(up)? == 1.0 && frr.established())
            .then_some(())
    });
    frr.clear().expect("clear bgp");
    wait_for("Prometheus: FRR's NOTIFICATION by code", T, || {
        let n = prom.value(
            r#"sum(gracewire_bgp_notifications_by_code_received_total{peer="tor",code="6"})"#,
        )?;
        (n == 1.0).then_some(())
    });

    // A new version of the plugin (the same code with a custom section added) is swapped in.
    let mut wasm = std::fs::read(&plugin).unwrap();
    wasm.extend_from_slice(&[0, 8, 7]);
    wasm.extend_from_slice(b"gw-test");
    let new = plugin.with_extension("new");
    std::fs::write(&new, &wasm).unwrap();
    std::fs::rename(&new, &plugin).unwrap();
    wait_for("Prometheus: the new plugin version swapped in", T, || {
        (prom.value(r#"gracewire_plugin_swaps_total{kind="announce"}"#)? == 1.0).then_some(())
    });
    assert_eq!(
        prom.value(r#"gracewire_plugin_info{kind="announce"}"#),
        Some(1.0)
    );

    // A plugin file that does not compile: rejected, counted, the running one stays.
    std::fs::write(&plugin, b"not wasm").unwrap();
    wait_for("Prometheus: the plugin rejected", T, || {
        let rejected = prom.value(r#"gracewire_plugin_rejections_total{kind="announce"}"#)?;
        let errors =
            prom.value(r#"gracewire_plugin_errors_total{kind="announce",reason="compile"}"#)?;
        (rejected == 1.0 && errors == 1.0).then_some(())
    });
    assert_eq!(
        prom.value(r#"gracewire_plugin_info{kind="announce"}"#),
        Some(1.0)
    );

    // Every documented name is in Prometheus, and every exposed one is documented. The BFD
    // detection time exists only while a session is Up (daemon::tests::bfd checks its value).
    let documented = documented_names();
    let (_, exposition) = curl(&format!("http://{metrics}/metrics"));
    let exposed = exposed_names(&exposition);
    let undocumented: Vec<_> = exposed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "exposed, not in docs/operations.md: {undocumented:?}"
    );
    let missing: Vec<_> = documented
        .iter()
        .filter(|n| n.as_str() != "gracewire_bfd_detection_time_seconds")
        .filter(|n| {
            let series = prom.query(&format!(r#"{{__name__=~"{n}(_bucket)?"}}"#));
            series.is_none_or(|s| s.is_empty())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "documented, not in Prometheus: {missing:?}"
    );
    println!(
        "{} documented metric names, each in Prometheus",
        documented.len()
    );
}
