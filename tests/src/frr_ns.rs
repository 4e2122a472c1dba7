//! FRR as a router inside a network namespace: zebra (so routes reach the kernel), bgpd, and
//! bfdd when BFD is wanted (bgpd reaches bfdd through zebra; bfdd binds UDP 3784 for the whole
//! namespace).

use crate::netns::Netns;
use crate::{wait_for, Lab};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub struct FrrNs {
    pub dir: PathBuf,
    ns: String,
    daemons: Vec<&'static str>,
}

impl FrrNs {
    /// Starts zebra, bfdd (if `bfdd_conf`) and bgpd in `ns`.
    pub fn start(
        lab: &Lab,
        ns: &Netns,
        tag: &str,
        bgpd_conf: &str,
        bfdd_conf: Option<&str>,
    ) -> FrrNs {
        let dir = lab.path(&format!("frr-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        // FRR runs as user frr: it must reach its directory.
        Command::new("chmod")
            .arg("755")
            .arg(lab.dir.path())
            .status()
            .unwrap();
        // Each daemon logs to DIR/NAME.log.
        let log = |name: &str| format!("log file {}/{name}.log debugging\n", dir.display());
        std::fs::write(dir.join("bgpd.conf"), log("bgpd") + bgpd_conf).unwrap();
        if let Some(conf) = bfdd_conf {
            std::fs::write(dir.join("bfdd.conf"), log("bfdd") + conf).unwrap();
        }
        Command::new("chown")
            .args(["-R", "frr:frr"])
            .arg(&dir)
            .status()
            .unwrap();
        let d = dir.to_str().unwrap().to_string();
        let common = |name: &str| -> Vec<String> {
            vec![
                format!("/usr/lib/frr/{name}"),
                "-d".into(),
                "-u".into(),
                "frr".into(),
                "-g".into(),
                "frr".into(),
                "-i".into(),
                format!("{d}/{name}.pid"),
                "-z".into(),
                format!("{d}/zserv.api"),
                "--vty_socket".into(),
                d.clone(),
            ]
        };
        let exec = |args: Vec<String>| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ns.exec(&args);
        };
        let mut zebra = common("zebra");
        zebra.extend(["-f".into(), "/dev/null".into()]);
        exec(zebra);
        wait_for("zebra socket", Duration::from_secs(10), || {
            dir.join("zserv.api").exists().then_some(())
        });
        let mut daemons = vec!["zebra"];
        if bfdd_conf.is_some() {
            let mut bfdd = common("bfdd");
            bfdd.extend([
                "-f".into(),
                format!("{d}/bfdd.conf"),
                "--bfdctl".into(),
                format!("{d}/bfdd.sock"),
            ]);
            exec(bfdd);
            daemons.push("bfdd");
        }
        let mut bgpd = common("bgpd");
        bgpd.extend(["-f".into(), format!("{d}/bgpd.conf")]);
        exec(bgpd);
        daemons.push("bgpd");
        FrrNs {
            dir,
            ns: ns.name.clone(),
            daemons,
        }
    }

    /// `vtysh -d DAEMON -c COMMAND` inside the namespace.
    pub fn vtysh(&self, daemon: &str, command: &str) -> Option<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "vtysh", "--vty_socket"])
            .arg(&self.dir)
            .args(["-d", daemon, "-c", command])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn json(&self, daemon: &str, command: &str) -> Value {
        self.vtysh(daemon, command)
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null)
    }

    /// The BFD session with `peer` as bfdd reports it (`show bfd peers json`).
    pub fn bfd_peer(&self, peer: &str) -> Value {
        self.json("bfdd", "show bfd peers json")
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["peer"] == peer)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// bgpd's state of the session with `peer`.
    pub fn bgp_state(&self, peer: &str) -> String {
        self.json("bgpd", &format!("show bgp neighbors {peer} json"))[peer]["bgpState"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn log(&self) -> String {
        ["bgpd", "bfdd"]
            .iter()
            .map(|d| std::fs::read_to_string(self.dir.join(format!("{d}.log"))).unwrap_or_default())
            .collect()
    }
}

impl Drop for FrrNs {
    fn drop(&mut self) {
        for d in &self.daemons {
            if let Ok(p) = std::fs::read_to_string(self.dir.join(format!("{d}.pid"))) {
                let _ = Command::new("kill").args(["-9", p.trim()]).status();
            }
        }
    }
}
