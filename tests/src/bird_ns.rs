//! BIRD as a router inside a network namespace, installing what it learns in the kernel.

use crate::netns::Netns;
use crate::Lab;
use std::path::PathBuf;
use std::process::Command;

pub struct BirdNs {
    pub dir: PathBuf,
    ns: String,
    process: crate::Process,
}

impl BirdNs {
    /// Starts `bird -f` in `ns` with `conf` (`{dir}` in it is replaced by its directory).
    pub fn start(lab: &Lab, ns: &Netns, tag: &str, conf: &str) -> BirdNs {
        let dir = lab.path(&format!("bird-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        let conf_path = dir.join("bird.conf");
        std::fs::write(&conf_path, conf.replace("{dir}", dir.to_str().unwrap())).unwrap();
        let process = crate::Process::spawn(
            ns.command("bird")
                .arg("-f")
                .arg("-c")
                .arg(&conf_path)
                .arg("-s")
                .arg(dir.join("bird.ctl")),
            &dir.join("bird.log"),
        );
        BirdNs {
            dir,
            ns: ns.name.clone(),
            process,
        }
    }

    pub fn birdc(&self, command: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "birdc", "-s"])
            .arg(self.dir.join("bird.ctl"))
            .arg(command)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// When the BGP protocol `gracewire` came up, ms into the day (`show protocols`); BIRD
    /// converts it from its monotonic clock at each call, so it jitters by a millisecond.
    pub fn bgp_since_ms(&self) -> Option<i64> {
        let out = self.birdc("show protocols gracewire");
        let line = out.lines().find(|l| l.starts_with("gracewire"))?;
        crate::bird::day_ms(line.split_whitespace().nth(4)?)
    }

    /// When BIRD's BFD session to `addr` last changed state, ms into the day (`show bfd
    /// sessions`: address, interface, state, since, ...).
    pub fn bfd_since_ms(&self, addr: &str) -> Option<i64> {
        let out = self.birdc("show bfd sessions");
        let line = out.lines().find(|l| l.starts_with(addr))?;
        crate::bird::day_ms(line.split_whitespace().nth(3)?)
    }

    pub fn log(&self) -> String {
        self.process.log_text()
    }
}
