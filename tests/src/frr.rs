//! FRR's bgpd, standalone (no zebra), queried with `vtysh`.

use crate::{try_run, Lab, PeerRoute, PeerSpec, Process, Router};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// FRR prints well-known communities by name; the tests compare numbers.
fn numeric_community(c: &str) -> String {
    match c {
        "gracefulShutdown" | "graceful-shutdown" => "65535:0",
        "blackhole" => "65535:666",
        "noExport" | "no-export" => "65535:65281",
        "noAdvertise" | "no-advertise" => "65535:65282",
        "localAs" | "local-AS" => "65535:65283",
        "llgr-stale" | "llgrStale" => "65535:6",
        "no-llgr" | "noLlgr" => "65535:7",
        other => other,
    }
    .to_string()
}

pub struct Frr {
    spec: PeerSpec,
    dir: PathBuf,
    log: PathBuf,
    process: Option<Process>,
    /// Network namespace to run in, if not the host's.
    pub netns: Option<String>,
    /// More `neighbor <gracewire> ...` lines (`ebgp-multihop 2`, `ttl-security hops 1`).
    pub neighbor_lines: Vec<String>,
}

impl Frr {
    pub fn new(lab: &Lab, spec: PeerSpec) -> Frr {
        let host = spec.addr.octets()[3];
        let dir = lab.path(&format!("frr-{host}"));
        std::fs::create_dir_all(&dir).unwrap();
        Frr {
            log: dir.join("bgpd.log"),
            dir,
            spec,
            process: None,
            netns: None,
            neighbor_lines: Vec::new(),
        }
    }

    fn config_text(&self) -> String {
        let s = &self.spec;
        let gw = s.gracewire_addr;
        let mut gr = if s.graceful_restart {
            format!(
                "bgp graceful-restart\n bgp graceful-restart restart-time {}\n",
                s.restart_time
            )
        } else {
            "bgp graceful-restart-disable\n".into()
        };
        if s.graceful_restart && s.forwarding_preserved {
            gr.push_str(" bgp graceful-restart preserve-fw-state\n");
        }
        if let Some(t) = s.long_lived_stale_time {
            gr.push_str(&format!(
                " bgp long-lived-graceful-restart stale-time {t}\n"
            ));
        }
        if s.hard_admin_reset {
            gr.push_str(" bgp hard-administrative-reset\n");
        } else {
            gr.push_str(" no bgp hard-administrative-reset\n");
        }
        let nets = |v6: bool| {
            s.originate
                .iter()
                .filter(|(p, _)| p.contains(':') == v6)
                .map(|(p, _)| format!("  network {p}\n"))
                .collect::<String>()
        };
        format!(
            "frr defaults traditional\nhostname frr{host}\nlog stdout debugging\n\
             router bgp {asn}\n bgp router-id {addr}\n no bgp ebgp-requires-policy\n no bgp network import-check\n \
             no bgp default ipv4-unicast\n {gr} neighbor {gw} remote-as {gw_asn}\n neighbor {gw} update-source {addr}\n {pw}\
             neighbor {gw} timers connect 1\n neighbor {gw} timers 3 9\n\
             address-family ipv4 unicast\n{v4}  neighbor {gw} activate\n exit-address-family\n\
             address-family ipv6 unicast\n{v6}  neighbor {gw} activate\n exit-address-family\n",
            pw = s
                .password
                .iter()
                .map(|p| format!("password {p}"))
                .chain(self.neighbor_lines.iter().cloned())
                .map(|l| format!("neighbor {gw} {l}\n "))
                .collect::<String>(),
            host = s.addr.octets()[3],
            asn = s.asn,
            addr = s.addr,
            gw_asn = s.gracewire_asn,
            v4 = nets(false),
            v6 = nets(true),
        )
    }

    pub fn vtysh(&self, commands: &[&str]) -> Option<String> {
        let mut c = Command::new("vtysh");
        c.arg("--vty_socket").arg(&self.dir).args(["-d", "bgpd"]);
        for cmd in commands {
            c.args(["-c", cmd]);
        }
        try_run(&mut c)
    }

    fn json(&self, command: &str) -> Value {
        self.vtysh(&[command])
            .and_then(|o| serde_json::from_str(&o).ok())
            .unwrap_or(Value::Null)
    }

    fn rib(&self, afi: &str) -> Vec<PeerRoute> {
        let table = self.json(&format!("show bgp {afi} unicast json"));
        let mut routes = Vec::new();
        for prefix in table["routes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(p, _)| p)
        {
            let detail = self.json(&format!("show bgp {afi} unicast {prefix} json"));
            for path in detail["paths"].as_array().into_iter().flatten() {
                if path["peer"]["peerId"] != self.spec.gracewire_addr.to_string() {
                    continue;
                }
                let strings = |v: &Value| -> Vec<String> {
                    v["list"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.as_str())
                        .map(numeric_community)
                        .collect()
                };
                routes.push(PeerRoute {
                    prefix: prefix.clone(),
                    next_hop: path["nexthops"][0]["ip"].as_str().unwrap_or("").to_string(),
                    as_path: path["aspath"]["segments"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|s| s["list"].as_array().cloned().unwrap_or_default())
                        .filter_map(|a| a.as_u64())
                        .map(|a| a as u32)
                        .collect(),
                    med: path["metric"].as_u64().map(|m| m as u32),
                    local_pref: path["locPrf"].as_u64().map(|m| m as u32),
                    communities: strings(&path["community"]),
                    large_communities: strings(&path["largeCommunity"]),
                    stale: path["stale"] == true,
                    otc: path["otc"].as_u64().map(|a| a as u32),
                });
            }
        }
        routes
    }

    fn configure(&self, afi: &str, line: &str) {
        let asn = format!("router bgp {}", self.spec.asn);
        let af = format!("address-family {afi} unicast");
        self.vtysh(&["configure terminal", &asn, &af, line])
            .expect("vtysh configure");
    }

    /// `show bgp neighbors <gracewire> json`, the entry for gracewire.
    pub fn neighbor_json(&self) -> Value {
        let v = self.json(&format!(
            "show bgp neighbors {} json",
            self.spec.gracewire_addr
        ));
        v[self.spec.gracewire_addr.to_string()].clone()
    }

    /// `clear bgp` towards gracewire: with the N bit negotiated FRR sends a Hard Reset.
    pub fn clear(&self) -> Option<String> {
        self.vtysh(&[&format!("clear bgp {}", self.spec.gracewire_addr)])
    }

    fn pidfile(&self) -> PathBuf {
        self.dir.join("bgpd.pid")
    }
}

impl Router for Frr {
    fn updates_received(&self) -> Option<u64> {
        self.neighbor_json()["messageStats"]["updatesRecv"].as_u64()
    }

    fn session_mark(&self) -> Option<String> {
        let n = self.neighbor_json();
        (n["bgpState"] == "Established")
            .then(|| format!("{} established", n["connectionsEstablished"]))
    }

    fn kind(&self) -> &'static str {
        "frr"
    }

    fn spec(&self) -> &PeerSpec {
        &self.spec
    }

    fn spec_mut(&mut self) -> &mut PeerSpec {
        &mut self.spec
    }

    fn established(&self) -> bool {
        let v = self.json(&format!(
            "show bgp neighbors {} json",
            self.spec.gracewire_addr
        ));
        v[self.spec.gracewire_addr.to_string()]["bgpState"] == "Established"
    }

    /// From the two tables alone, not a detail query per prefix.
    fn route_count(&self) -> usize {
        let gw = self.spec.gracewire_addr.to_string();
        ["ipv4", "ipv6"]
            .iter()
            .map(|afi| {
                let table = self.json(&format!("show bgp {afi} unicast json"));
                let routes = table["routes"].as_object().cloned().unwrap_or_default();
                routes
                    .values()
                    .filter(|paths| {
                        let paths = paths.as_array().cloned().unwrap_or_default();
                        paths.iter().any(|p| p["peerId"] == gw.as_str())
                    })
                    .count()
            })
            .sum()
    }

    fn routes(&self) -> Vec<PeerRoute> {
        let mut r = self.rib("ipv4");
        r.extend(self.rib("ipv6"));
        r
    }

    fn originate(&mut self, prefix: &str, next_hop: &str) {
        let afi = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        self.configure(afi, &format!("network {prefix}"));
        self.spec.originate.push((prefix.into(), next_hop.into()));
    }

    fn withdraw(&mut self, prefix: &str) {
        let afi = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        self.configure(afi, &format!("no network {prefix}"));
        self.spec.originate.retain(|(p, _)| p != prefix);
    }

    fn start(&mut self) {
        self.process = None;
        let conf = self.dir.join("bgpd.conf");
        std::fs::write(&conf, self.config_text()).unwrap();
        let _ = std::fs::remove_file(self.pidfile());
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "/usr/lib/frr/bgpd"]);
                c
            }
            None => Command::new("/usr/lib/frr/bgpd"),
        };
        let p = Process::spawn(
            cmd.arg("-f")
                .arg(&conf)
                .args([
                    "-l",
                    &self.spec.addr.to_string(),
                    "-n",
                    "-Z",
                    "-S",
                    "--vty_socket",
                ])
                .arg(&self.dir)
                .arg("-i")
                .arg(self.pidfile())
                .arg("-z")
                .arg(self.dir.join("zserv.api")),
            &self.log,
        );
        self.process = Some(p);
        crate::wait_for("FRR vty", Duration::from_secs(10), || {
            self.vtysh(&["show bgp summary"]).map(|_| ())
        });
    }

    fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop("KILL", Duration::from_secs(5));
        }
    }
}
