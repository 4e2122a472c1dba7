//! gobgpd, configured by file, queried with the `gobgp` CLI over its gRPC API.

use crate::{community_string, run, try_run, Lab, PeerRoute, PeerSpec, Process, Router};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub struct GoBgp {
    spec: PeerSpec,
    api_port: u16,
    config: PathBuf,
    log: PathBuf,
    /// gobgpd's `-l`: debug (what tests read) unless a benchmark asks for less.
    pub log_level: &'static str,
    process: Option<Process>,
}

impl GoBgp {
    pub fn new(lab: &Lab, spec: PeerSpec) -> GoBgp {
        let host = spec.addr.octets()[3];
        let g = GoBgp {
            api_port: lab.port(host),
            config: lab.path(&format!("gobgpd-{host}.toml")),
            log: lab.path(&format!("gobgpd-{host}.log")),
            log_level: "debug",
            spec,
            process: None,
        };
        g
    }

    fn config_text(&self) -> String {
        let s = &self.spec;
        let long_lived = s.long_lived_stale_time.filter(|_| s.graceful_restart);
        let gr = if s.graceful_restart {
            format!(
                "  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = {}\n    notification-enabled = true\n{}",
                s.restart_time,
                if long_lived.is_some() { "    long-lived-enabled = true\n" } else { "" }
            )
        } else {
            String::new()
        };
        let family = |name: &str| {
            let mut mp = if s.graceful_restart {
                "    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n"
                    .to_string()
            } else {
                String::new()
            };
            if let Some(t) = long_lived {
                mp.push_str(&format!("    [neighbors.afi-safis.long-lived-graceful-restart.config]\n      enabled = true\n      restart-time = {t}\n"));
            }
            format!("  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{name}\"\n{mp}")
        };
        format!(
            r#"[global.config]
  as = {asn}
  router-id = "{addr}"
  port = 179
  local-address-list = ["{addr}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{gw}"
    peer-as = {gw_asn}
  [neighbors.transport.config]
    local-address = "{addr}"
  [neighbors.timers.config]
    connect-retry = 1
    idle-hold-time-after-reset = 1
    hold-time = 9
    keepalive-interval = 3
{gr}{v4}{v6}"#,
            asn = s.asn,
            addr = s.addr,
            gw = s.gracewire_addr,
            gw_asn = s.gracewire_asn,
            v4 = family("ipv4-unicast"),
            v6 = family("ipv6-unicast"),
        )
    }

    fn cli(&self) -> Command {
        let mut c = Command::new("gobgp");
        c.args(["-u", "127.0.0.1", "-p", &self.api_port.to_string()]);
        c
    }

    fn rib(&self, family: &str) -> Vec<PeerRoute> {
        let Some(out) = try_run(self.cli().args(["global", "rib", "-a", family, "-j"])) else {
            return Vec::new();
        };
        let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        let mut routes = Vec::new();
        for (prefix, paths) in v.as_object().into_iter().flatten() {
            for path in paths.as_array().into_iter().flatten() {
                if path["neighbor-ip"] != self.spec.gracewire_addr.to_string() {
                    continue;
                }
                let mut r = PeerRoute {
                    prefix: prefix.clone(),
                    stale: path["stale"] == true,
                    ..Default::default()
                };
                for a in path["attrs"].as_array().into_iter().flatten() {
                    match a["type"].as_u64() {
                        Some(2) => {
                            for seg in a["as_paths"].as_array().into_iter().flatten() {
                                r.as_path.extend(
                                    seg["asns"]
                                        .as_array()
                                        .into_iter()
                                        .flatten()
                                        .filter_map(|x| x.as_u64())
                                        .map(|x| x as u32),
                                );
                            }
                        }
                        Some(3) | Some(14) => {
                            r.next_hop = a["nexthop"].as_str().unwrap_or("").to_string()
                        }
                        Some(4) => r.med = a["metric"].as_u64().map(|x| x as u32),
                        Some(5) => r.local_pref = a["value"].as_u64().map(|x| x as u32),
                        Some(8) => {
                            r.communities = a["communities"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|c| c.as_u64())
                                .map(community_string)
                                .collect()
                        }
                        Some(32) => {
                            r.large_communities = a["value"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|l| {
                                    format!("{}:{}:{}", l["ASN"], l["LocalData1"], l["LocalData2"])
                                })
                                .collect()
                        }
                        _ => {}
                    }
                }
                routes.push(r);
            }
        }
        routes
    }

    /// Runs `gobgp ARGS` against this daemon; `None` on failure.
    pub fn cli_run(&self, args: &[&str]) -> Option<String> {
        try_run(self.cli().args(args))
    }

    /// `gobgp neighbor <gracewire> -j`.
    pub fn neighbor_json(&self) -> Value {
        try_run(
            self.cli()
                .args(["neighbor", &self.spec.gracewire_addr.to_string(), "-j"]),
        )
        .and_then(|o| serde_json::from_str(&o).ok())
        .unwrap_or(Value::Null)
    }

    /// OPEN messages received from gracewire: stays 1 while the session is the same one.
    pub fn opens_received(&self) -> u64 {
        self.neighbor_json()["state"]["messages"]["received"]["open"]
            .as_u64()
            .unwrap_or(0)
    }

    /// When gobgpd received each of gracewire's paths (unix seconds), by prefix.
    pub fn ages(&self) -> std::collections::BTreeMap<String, u64> {
        let mut out = std::collections::BTreeMap::new();
        for family in ["ipv4", "ipv6"] {
            let Some(o) = try_run(self.cli().args(["global", "rib", "-a", family, "-j"])) else {
                continue;
            };
            let v: Value = serde_json::from_str(&o).unwrap_or(Value::Null);
            for (prefix, paths) in v.as_object().into_iter().flatten() {
                for p in paths.as_array().into_iter().flatten() {
                    if p["neighbor-ip"] == self.spec.gracewire_addr.to_string() {
                        out.insert(prefix.clone(), p["age"].as_u64().unwrap_or(0));
                    }
                }
            }
        }
        out
    }

    /// SIGSTOP / SIGCONT: the daemon freezes with its TCP sessions open.
    pub fn freeze(&self, frozen: bool) {
        if let Some(p) = &self.process {
            p.signal(if frozen { "STOP" } else { "CONT" });
        }
    }

    /// SIGTERM: gobgpd sends NOTIFICATION Cease and exits.
    pub fn terminate(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop("TERM", Duration::from_secs(5));
        }
    }
}

impl Router for GoBgp {
    fn updates_received(&self) -> Option<u64> {
        self.neighbor_json()["state"]["messages"]["received"]["update"].as_u64()
    }

    fn session_mark(&self) -> Option<String> {
        // OPENs received from gracewire: one per session.
        self.established()
            .then(|| self.opens_received().to_string())
    }

    fn kind(&self) -> &'static str {
        "gobgp"
    }

    fn spec(&self) -> &PeerSpec {
        &self.spec
    }

    fn spec_mut(&mut self) -> &mut PeerSpec {
        &mut self.spec
    }

    fn established(&self) -> bool {
        let Some(out) =
            try_run(
                self.cli()
                    .args(["neighbor", &self.spec.gracewire_addr.to_string(), "-j"]),
            )
        else {
            return false;
        };
        serde_json::from_str::<Value>(&out)
            .map(|v| v["state"]["session_state"] == 6)
            .unwrap_or(false)
    }

    fn routes(&self) -> Vec<PeerRoute> {
        let mut r = self.rib("ipv4");
        r.extend(self.rib("ipv6"));
        r
    }

    fn originate(&mut self, prefix: &str, next_hop: &str) {
        let family = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        run(self.cli().args([
            "global", "rib", "add", prefix, "nexthop", next_hop, "-a", family,
        ]));
    }

    fn withdraw(&mut self, prefix: &str) {
        let family = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        run(self
            .cli()
            .args(["global", "rib", "del", prefix, "-a", family]));
    }

    fn start(&mut self) {
        self.process = None;
        // A fresh API port per start: gobgpd binds it without SO_REUSEADDR, so the old port can
        // be unusable for a minute (TIME_WAIT) after a kill.
        self.api_port = crate::free_port();
        std::fs::write(&self.config, self.config_text()).unwrap();
        let mut cmd = Command::new("gobgpd");
        if self.spec.forwarding_preserved && self.spec.graceful_restart {
            cmd.arg("-r"); // graceful restart: F=1 for its families
        }
        let p = Process::spawn(
            cmd.arg("-f").arg(&self.config).args([
                "--api-hosts",
                &format!("127.0.0.1:{}", self.api_port),
                "-l",
                self.log_level,
                "--log-plain",
            ]),
            &self.log,
        );
        self.process = Some(p);
        crate::wait_for("gobgpd API", Duration::from_secs(10), || {
            try_run(self.cli().args(["global"])).map(|_| ())
        });
        for (prefix, nh) in self.spec.originate.clone() {
            self.originate(&prefix, &nh);
        }
    }

    fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop("KILL", Duration::from_secs(5));
        }
    }
}
