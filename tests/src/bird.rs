//! BIRD 2, configured by file (re-read with `birdc configure`), queried with `birdc`.

use crate::{try_run, Lab, PeerRoute, PeerSpec, Process, Router};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub struct Bird {
    spec: PeerSpec,
    dir: PathBuf,
    process: Option<Process>,
    /// More lines in the `protocol bgp` block (`local role provider;`).
    pub protocol_lines: Vec<String>,
}

impl Bird {
    pub fn new(lab: &Lab, spec: PeerSpec) -> Bird {
        let dir = lab.path(&format!("bird-{}", spec.addr.octets()[3]));
        std::fs::create_dir_all(&dir).unwrap();
        Bird {
            dir,
            spec,
            process: None,
            protocol_lines: Vec::new(),
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }

    fn config_text(&self) -> String {
        let s = &self.spec;
        let statics = |v6: bool| {
            s.originate
                .iter()
                .filter(|(p, _)| p.contains(':') == v6)
                .map(|(p, _)| format!("  route {p} blackhole;\n"))
                .collect::<String>()
        };
        let nh = |v6: bool| {
            s.originate
                .iter()
                .find(|(p, _)| p.contains(':') == v6)
                .map(|(_, nh)| nh.clone())
        };
        let gr = if s.graceful_restart {
            let ll = s.long_lived_stale_time.map_or(String::new(), |t| {
                format!(" long lived graceful restart on; long lived stale time {t};")
            });
            format!(
                "graceful restart on; graceful restart time {};{ll}",
                s.restart_time
            )
        } else {
            "graceful restart off;".into()
        };
        let export = |v6: bool| match nh(v6) {
            Some(nh) => format!("export where source = RTS_STATIC; next hop address {nh};"),
            None => "export none;".into(),
        };
        format!(
            "router id {addr};\nlog stderr all;\nprotocol device {{}}\n\
             protocol static s4 {{ ipv4;\n{s4}}}\nprotocol static s6 {{ ipv6;\n{s6}}}\n\
             protocol bgp gracewire {{\n  local {addr} as {asn};\n  neighbor {gw} as {gw_asn};\n  \
             multihop; strict bind on; connect retry time 1; hold time 9; keepalive time 3;\n  {gr}\n  {password}\n  {extra}\n  \
             ipv4 {{ import all; {e4} }};\n  ipv6 {{ import all; {e6} }};\n}}\n",
            addr = s.addr,
            asn = s.asn,
            gw = s.gracewire_addr,
            gw_asn = s.gracewire_asn,
            s4 = statics(false),
            s6 = statics(true),
            e4 = export(false),
            e6 = export(true),
            password = s
                .password
                .as_ref()
                .map_or(String::new(), |p| format!("password \"{p}\";")),
            extra = self.protocol_lines.join("\n  "),
        )
    }

    fn write_config(&self) -> PathBuf {
        let conf = self.dir.join("bird.conf");
        std::fs::write(&conf, self.config_text()).unwrap();
        conf
    }

    pub fn birdc(&self, command: &str) -> Option<String> {
        try_run(
            Command::new("birdc")
                .arg("-s")
                .arg(self.socket())
                .arg(command),
        )
    }

    /// Sets the extra `protocol bgp` lines and has BIRD read its config again.
    pub fn set_protocol_lines(&mut self, lines: &[&str]) {
        self.protocol_lines = lines.iter().map(|l| l.to_string()).collect();
        self.reconfigure();
    }

    fn reconfigure(&self) {
        self.write_config();
        let out = self.birdc("configure").unwrap_or_default();
        assert!(
            out.contains("Reconfigured") || out.contains("Reconfiguration"),
            "birdc configure: {out}"
        );
    }
}

/// Parses `show route all` output into routes.
fn parse_routes(text: &str) -> Vec<PeerRoute> {
    let mut routes: Vec<PeerRoute> = Vec::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if !line.starts_with(char::is_whitespace) && first.contains('/') {
            routes.push(PeerRoute {
                prefix: first.to_string(),
                ..Default::default()
            });
            continue;
        }
        let Some(r) = routes.last_mut() else { continue };
        let line = line.trim();
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        let pairs = |v: &str| -> Vec<String> {
            v.split(')')
                .filter_map(|c| c.trim().strip_prefix('('))
                .map(|c| c.split(',').map(str::trim).collect::<Vec<_>>().join(":"))
                .collect()
        };
        match key {
            "BGP.as_path" => {
                r.as_path = value
                    .split_whitespace()
                    .filter_map(|a| a.parse().ok())
                    .collect()
            }
            "BGP.next_hop" => {
                r.next_hop = value.split_whitespace().next().unwrap_or("").to_string()
            }
            "BGP.med" => r.med = value.parse().ok(),
            "BGP.local_pref" => r.local_pref = value.parse().ok(),
            "BGP.community" => r.communities = pairs(value),
            "BGP.large_community" => r.large_communities = pairs(value),
            "BGP.otc" => r.otc = value.parse().ok(),
            _ => {}
        }
    }
    routes
}

/// `16:02:11.123` as milliseconds of the day.
pub fn day_ms(t: &str) -> Option<i64> {
    let (hms, ms) = t.split_once('.').unwrap_or((t, "0"));
    let mut parts = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some(((h * 60 + m) * 60 + s) * 1000 + ms.parse::<i64>().ok()?)
}

impl Router for Bird {
    /// BIRD prints the time from its monotonic clock converted at each call, so the same
    /// session's time can differ by a millisecond between two calls; a new session comes up
    /// at least a connect retry later.
    fn same_session(&self, a: &str, b: &str) -> bool {
        match (day_ms(a), day_ms(b)) {
            (Some(a), Some(b)) => (a - b).abs() < 50,
            _ => a == b,
        }
    }

    /// `Import updates:` of `show protocols all`, its first column (received), summed over
    /// both channels.
    fn updates_received(&self) -> Option<u64> {
        let out = self.birdc("show protocols all gracewire")?;
        let counts = out.lines().filter_map(|l| {
            let rest = l.trim().strip_prefix("Import updates:")?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        });
        Some(counts.sum())
    }

    /// `show protocols` has when the protocol last changed state: `gracewire BGP --- up
    /// 16:02:11.123 Established`.
    fn session_mark(&self) -> Option<String> {
        let out = self.birdc("show protocols gracewire")?;
        let line = out.lines().find(|l| l.starts_with("gracewire"))?;
        line.contains("Established")
            .then(|| line.split_whitespace().nth(4).unwrap_or("").to_string())
    }

    fn kind(&self) -> &'static str {
        "bird"
    }

    fn spec(&self) -> &PeerSpec {
        &self.spec
    }

    fn spec_mut(&mut self) -> &mut PeerSpec {
        &mut self.spec
    }

    fn established(&self) -> bool {
        self.birdc("show protocols gracewire")
            .is_some_and(|o| o.contains("Established"))
    }

    /// BIRD does not show a stale mark per route: while it is a GR helper for the session
    /// ("Neighbor graceful restart active", until End-of-RIB) every route from it is stale.
    fn routes(&self) -> Vec<PeerRoute> {
        let gr_active = self
            .birdc("show protocols all gracewire")
            .is_some_and(|o| o.contains("graceful restart active"));
        let mut all = Vec::new();
        for table in ["master4", "master6"] {
            let cmd = format!("show route all table {table} protocol gracewire");
            let Some(text) = self.birdc(&cmd) else {
                continue;
            };
            for mut r in parse_routes(&text) {
                r.stale = gr_active;
                all.push(r);
            }
        }
        all
    }

    fn originate(&mut self, prefix: &str, next_hop: &str) {
        self.spec.originate.push((prefix.into(), next_hop.into()));
        self.reconfigure();
    }

    fn withdraw(&mut self, prefix: &str) {
        self.spec.originate.retain(|(p, _)| p != prefix);
        self.reconfigure();
    }

    fn start(&mut self) {
        self.process = None;
        let conf = self.write_config();
        let mut cmd = Command::new("bird");
        if self.spec.forwarding_preserved && self.spec.graceful_restart {
            cmd.arg("-R"); // graceful restart recovery: F=1
        }
        let p = Process::spawn(
            cmd.arg("-f")
                .arg("-c")
                .arg(&conf)
                .arg("-s")
                .arg(self.socket()),
            &self.dir.join("bird.log"),
        );
        self.process = Some(p);
        crate::wait_for("BIRD control socket", Duration::from_secs(10), || {
            self.birdc("show status").map(|_| ())
        });
    }

    fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop("KILL", Duration::from_secs(5));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_show_route_all() {
        let text = "Table master4:\n198.51.100.10/32     unreachable [gracewire 08:31:08.656 from 127.0.0.11] * (100) [AS64512i]\n\
                    \tType: BGP univ\n\tBGP.origin: IGP\n\tBGP.as_path: 64512 65000\n\tBGP.next_hop: 192.0.2.1\n\tBGP.med: 20\n\
                    \tBGP.local_pref: 100\n\tBGP.community: (64512,100) (64512,200)\n\tBGP.large_community: (64512, 1, 2)\n";
        let r = &super::parse_routes(text)[0];
        assert_eq!(r.prefix, "198.51.100.10/32");
        assert_eq!(r.as_path, vec![64512, 65000]);
        assert_eq!(r.med, Some(20));
        assert_eq!(r.communities, vec!["64512:100", "64512:200"]);
        assert_eq!(r.large_communities, vec!["64512:1:2"]);
    }
}
