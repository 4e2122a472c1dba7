//! A real Prometheus server (Debian's `prometheus`) scraping a target every second, queried
//! through its HTTP API with curl.

use crate::{try_run, wait_for, Lab, Process};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

pub struct Prometheus {
    pub addr: SocketAddr,
    _process: Process,
}

impl Prometheus {
    /// Starts Prometheus on `addr`, scraping `target` (host:port) every second.
    pub fn start(lab: &Lab, addr: SocketAddr, target: SocketAddr) -> Prometheus {
        let config = lab.path("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: gracewire\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let process = Process::spawn(
            Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    lab.path("prometheus-data").display()
                ))
                .arg(format!("--web.listen-address={addr}")),
            &lab.path("prometheus.log"),
        );
        let p = Prometheus {
            addr,
            _process: process,
        };
        wait_for("Prometheus serving", Duration::from_secs(30), || {
            p.query("up").map(|_| ())
        });
        p
    }

    /// The instant vector for `promql`, `None` while Prometheus does not answer.
    pub fn query(&self, promql: &str) -> Option<Vec<Value>> {
        let out = try_run(
            Command::new("curl")
                .args(["-s", "-G", "--max-time", "5"])
                .arg(format!("http://{}/api/v1/query", self.addr))
                .arg("--data-urlencode")
                .arg(format!("query={promql}")),
        )?;
        let v: Value = serde_json::from_str(&out).ok()?;
        (v["status"] == "success").then(|| v["data"]["result"].as_array().cloned())?
    }

    /// The single value `promql` evaluates to, if there is exactly one series.
    pub fn value(&self, promql: &str) -> Option<f64> {
        match self.query(promql)?.as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }
}

/// gracewire's exposition at `addr` (`/metrics`, fetched with curl), when it answers.
pub fn exposition(addr: SocketAddr) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "5"])
        .arg(format!("http://{addr}/metrics"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The value of the sample `series` (name and labels as exposed) in an exposition.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        let value = l.strip_prefix(series)?.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}
