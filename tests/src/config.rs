//! The gracewire configs of the e2e tests, written in one place: `[global]` for the lab's
//! address, the peers with the lab's defaults, then anything else verbatim (announcements,
//! plugins, BFD profiles).
//!
//! Values are TOML as it is written in the file: numbers as they are, strings through
//! [`quoted`]. Setting a key again replaces it, so a test states only what differs.

use std::fmt::{self, Display, Write};
use std::net::IpAddr;

/// A config for a gracewire at `addr`; `{state_dir}` is filled in by [`crate::Gracewire`].
#[derive(Clone, Debug)]
pub struct GwConfig {
    addr: IpAddr,
    global: Settings,
    peers: Vec<Settings>,
    text: String,
}

/// A TOML string.
pub fn quoted(v: impl Display) -> String {
    format!("\"{v}\"")
}

impl GwConfig {
    /// AS 64512 with `addr` as its router id, listening on `addr:179`.
    pub fn new(addr: impl Into<IpAddr>) -> GwConfig {
        let addr = addr.into();
        let mut global = Settings::default();
        global.set("asn", 64512);
        global.set("router_id", quoted(addr));
        global.set("listen", quoted(std::net::SocketAddr::new(addr, 179)));
        global.set("state_dir", quoted("{state_dir}"));
        GwConfig {
            addr,
            global,
            peers: Vec::new(),
            text: String::new(),
        }
    }

    /// Sets `key` in `[global]`.
    pub fn global(mut self, key: &str, value: impl Display) -> GwConfig {
        self.global.set(key, value);
        self
    }

    /// Leaves `key` out of `[global]` (e.g. `listen`, for a daemon that only connects).
    pub fn without(mut self, key: &str) -> GwConfig {
        self.global.remove(key);
        self
    }

    /// A peer we connect to from our address, with the lab's timers: hold time 9 s, connect
    /// retry 1 s.
    pub fn peer(mut self, name: &str, address: impl Display, asn: u32) -> GwConfig {
        let mut p = Settings::peer(name, address, asn);
        p.set("local_address", quoted(self.addr));
        p.set("hold_time", 9);
        p.set("connect_retry", 1);
        self.peers.push(p);
        self
    }

    /// A peer that connects to us, without GR: what a raw test peer is.
    pub fn raw_peer(mut self, name: &str, address: impl Display, asn: u32) -> GwConfig {
        let mut p = Settings::peer(name, address, asn);
        p.set("passive", true);
        p.set("graceful_restart", false);
        self.peers.push(p);
        self
    }

    /// Sets `key` on the peer added last.
    pub fn set(mut self, key: &str, value: impl Display) -> GwConfig {
        self.peers
            .last_mut()
            .expect("GwConfig::set after a peer")
            .set(key, value);
        self
    }

    /// Leaves `key` out of the peer added last.
    pub fn unset(mut self, key: &str) -> GwConfig {
        self.peers
            .last_mut()
            .expect("GwConfig::unset after a peer")
            .remove(key);
        self
    }

    /// TOML appended after the peers as it is.
    pub fn text(mut self, toml: &str) -> GwConfig {
        self.text.push_str(toml);
        if !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        self
    }

    /// One `[[announce]]` per prefix, with `next_hop`.
    pub fn announce<P: Display>(
        mut self,
        prefixes: impl IntoIterator<Item = P>,
        next_hop: &str,
    ) -> GwConfig {
        for p in prefixes {
            let _ = write!(
                self.text,
                "\n[[announce]]\nprefix = \"{p}\"\nnext_hop = \"{next_hop}\"\n"
            );
        }
        self
    }
}

impl Display for GwConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[global]\n{}", self.global)?;
        for p in &self.peers {
            writeln!(f, "[[peers]]\n{p}")?;
        }
        f.write_str(&self.text)
    }
}

/// `key = value` lines in the order first set.
#[derive(Clone, Debug, Default)]
struct Settings(Vec<(String, String)>);

impl Settings {
    fn peer(name: &str, address: impl Display, asn: u32) -> Settings {
        let mut p = Settings::default();
        p.set("name", quoted(name));
        p.set("address", quoted(address));
        p.set("asn", asn);
        p
    }

    fn set(&mut self, key: &str, value: impl Display) {
        let value = value.to_string();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }
}

impl Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0
            .iter()
            .try_for_each(|(k, v)| writeln!(f, "{k} = {v}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn a_config_is_what_gracewire_reads() {
        let c = GwConfig::new(Ipv4Addr::new(127, 0, 9, 1))
            .global("metrics", quoted("127.0.9.1:9179"))
            .peer("gobgp", "127.0.9.2", 65002)
            .set("hold_time", 30)
            .raw_peer("raw", "127.0.9.3", 65003)
            .set("send_hold_time", 3)
            .announce(["198.51.100.10/32"], "192.0.2.1")
            .to_string()
            .replace("{state_dir}", "/tmp/gw-config-test");
        let config = gracewire::config::Config::parse(&c, std::path::Path::new("test.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{c}"));
        assert_eq!(config.peers.len(), 2, "{c}");
        assert_eq!(
            config.peers[0].get_ref().hold_time.0,
            30,
            "set replaces: {c}"
        );
        assert!(config.peers[1].get_ref().passive);
        assert_eq!(c.matches("\nhold_time = ").count(), 1, "{c}");
    }
}
