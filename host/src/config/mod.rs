//! The TOML config file: schema (serde), validation with errors that name the file, the line and
//! the field, and the defaults an operator would expect.
//!
//! Most checks happen while deserializing (typed fields such as [`Asn`], [`Prefix`],
//! [`CommunityValue`]), so the TOML parser's own span points at the bad value. Checks that relate
//! several entries (duplicates, family of a next hop) run afterwards and point at the entry.

pub mod bfd;
mod chunks;
pub mod community;
pub mod health;
mod parse;
#[cfg(test)]
mod tests;
pub(crate) mod validate;
mod values;

pub use bfd::BfdProfile;
pub use community::CommunityValue;
pub use health::HealthCheck;
pub use parse::ConfigError;
pub use values::{Asn, FamilyName, HoldTime, Prefix, RestartTime, RouterId, StaleTime};

use crate::wire::Family;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub global: Global,
    #[serde(default)]
    pub peers: Vec<Spanned<Peer>>,
    #[serde(default)]
    pub announce: Vec<Spanned<Announce>>,
    #[serde(default)]
    pub plugins: Plugins,
    /// BFD timers by name, for peers' `bfd = "NAME"`.
    #[serde(default)]
    pub bfd_profiles: BTreeMap<String, Spanned<BfdProfile>>,
    /// Probes of the services behind announcements, for `[[announce]] health = "NAME"`.
    #[serde(default)]
    pub health_checks: BTreeMap<String, Spanned<HealthCheck>>,
    /// Directory of the config file: relative plugin paths start here.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[plugins.announce]`, `[plugins.gr]`, `[plugins.communities]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Plugins {
    pub announce: Option<PluginConfig>,
    pub gr: Option<PluginConfig>,
    pub communities: Option<PluginConfig>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The component (`.wasm`), relative to the config file's directory.
    pub path: PathBuf,
    /// What routes get when the plugin fails and they have no last good outcome.
    #[serde(default)]
    pub on_error: OnError,
    /// Passed to the plugin's `init`, as JSON.
    #[serde(default)]
    pub config: toml::Table,
    /// Deadline of one call, milliseconds.
    #[serde(default = "default_plugin_timeout_ms")]
    pub timeout_ms: u32,
    /// Linear memory cap, MiB (at most 256).
    #[serde(default = "default_plugin_memory_mb")]
    pub memory_limit_mb: u32,
}

/// A failing plugin leaves routes with their last good outcome; routes without one are
/// announced as configured (`fail-open`) or not at all (`fail-closed`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    #[default]
    FailOpen,
    FailClosed,
}

impl Plugins {
    pub fn get(&self, kind: crate::plugins::PluginKind) -> Option<&PluginConfig> {
        use crate::plugins::PluginKind;
        match kind {
            PluginKind::Announce => self.announce.as_ref(),
            PluginKind::Gr => self.gr.as_ref(),
            PluginKind::Communities => self.communities.as_ref(),
        }
    }
}

impl PluginConfig {
    /// A plugin at `path` with every setting at its default (no `config` table).
    pub fn at(path: PathBuf) -> PluginConfig {
        PluginConfig {
            path,
            on_error: OnError::default(),
            config: toml::Table::new(),
            timeout_ms: default_plugin_timeout_ms(),
            memory_limit_mb: default_plugin_memory_mb(),
        }
    }

    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".into())
    }

    pub fn limits(&self) -> crate::plugins::PluginLimits {
        crate::plugins::PluginLimits {
            timeout: Duration::from_millis(self.timeout_ms as u64),
            memory_bytes: (self.memory_limit_mb.min(256) as usize) << 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    pub asn: Asn,
    pub router_id: RouterId,
    /// Accept sessions here; without it gracewire only connects out.
    pub listen: Option<SocketAddr>,
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Control socket for `gracewire show`; defaults to `<state_dir>/gracewire.sock`.
    pub control_socket: Option<PathBuf>,
    /// Serve `/metrics` (Prometheus), `/healthz` and `/readyz` here; off when absent.
    pub metrics: Option<SocketAddr>,
    /// Restart time advertised in the GR capability, seconds (RFC 4724 §3: at most 4095).
    #[serde(default = "default_restart_time")]
    pub restart_time: RestartTime,
    /// How long, after a GR peer's session is back, its stale routes wait for its End-of-RIB.
    #[serde(default = "default_stale_path_time")]
    pub stale_path_time: u32,
    /// Long-lived GR (RFC 9494): how long, after the restart time, peers may keep our routes
    /// as least-preferred LLGR_STALE ones (seconds, up to 2^24 - 1; 0 = off).
    #[serde(default)]
    pub long_lived_stale_time: StaleTime,
    /// After our own restart, how long route selection waits for End-of-RIB from GR peers.
    #[serde(default = "default_selection_deferral_time")]
    pub selection_deferral_time: u32,
    /// The F bit we advertise: a load-balancer speaker's data plane does not depend on the
    /// speaker process, so forwarding survives its restart.
    #[serde(default = "default_true")]
    pub forwarding_preserved: bool,
    /// Drain (RFC 8326): seconds routes stay announced with GRACEFUL_SHUTDOWN before withdrawal.
    #[serde(default = "default_drain_wait")]
    pub drain_wait: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub name: Option<String>,
    pub address: IpAddr,
    #[serde(default = "default_port")]
    pub port: u16,
    /// A number, or "external" / "internal": any AS of that kind.
    pub asn: crate::fsm::RemoteAs,
    pub local_address: Option<IpAddr>,
    #[serde(default)]
    pub passive: bool,
    #[serde(default = "default_hold_time")]
    pub hold_time: HoldTime,
    /// Seconds before the first reconnect attempt; doubles on each failure, up to 32×.
    #[serde(default = "default_connect_retry")]
    pub connect_retry: u16,
    /// Seconds a connection may take to send its OPEN before it is closed with Hold Timer
    /// Expired (RFC 4271 §8.2.2 "large value": 4 minutes).
    #[serde(default = "default_open_hold_time")]
    pub open_hold_time: u16,
    #[serde(default = "default_vendor")]
    pub vendor: String,
    #[serde(default = "default_families")]
    pub families: Vec<FamilyName>,
    #[serde(default = "default_true")]
    pub graceful_restart: bool,
    /// This peer's long-lived stale time, in place of `[global]`'s.
    pub long_lived_stale_time: Option<StaleTime>,
    /// Per family, the most prefixes the peer may send (`{ ipv4-unicast = 10000 }`); a family
    /// left out has no limit. Also what bounds the RIB's memory per peer.
    #[serde(default)]
    pub max_prefixes: BTreeMap<FamilyName, u32>,
    /// Warn once a family's count passes this share of its limit, in percent.
    #[serde(default = "default_max_prefix_warning")]
    pub max_prefix_warning: u8,
    /// After a limit was passed: seconds before the session may come up again.
    #[serde(default = "default_max_prefix_restart")]
    pub max_prefix_restart: u32,
    /// Only warn when a limit is passed, keep the session.
    #[serde(default)]
    pub max_prefix_warn_only: bool,
    /// TCP-MD5 (RFC 2385) key, inline; `password_file` keeps it out of the config.
    pub password: Option<Secret>,
    /// A file holding the TCP-MD5 key (a Kubernetes Secret mounts as one); one trailing newline
    /// is not part of the key. Read with the config, so a reload reads it again.
    pub password_file: Option<PathBuf>,
    /// eBGP multihop: the TTL we send (default 1 towards eBGP peers, as routers have it).
    pub ebgp_multihop: Option<u8>,
    /// GTSM (RFC 5082): send TTL 255 and accept only segments with TTL 256 - N or more.
    pub ttl_security_hops: Option<u8>,
    /// Always send the OPEN's parameters in RFC 9072's extended encoding (for a peer that
    /// expects it, as FRR's `extended-optional-parameters` does); past 255 octets it is used
    /// anyway.
    #[serde(default)]
    pub extended_optional_parameters: bool,
    /// BFD (RFC 5880) with this `[bfd_profiles]` entry: its failure ends the session at once.
    pub bfd: Option<String>,
    /// RFC 9687 send hold time in seconds: a peer that takes nothing we send for this long is
    /// reset with NOTIFICATION 8. Default: 8 minutes or twice the hold time, the longer.
    pub send_hold_time: Option<u16>,
    /// Our BGP Role towards this eBGP peer (RFC 9234): provider, customer, peer, rs-server
    /// or rs-client. The peer's must pair with it, and routes carry the OTC attribute.
    pub role: Option<crate::wire::Role>,
    /// Refuse the session when the peer sends no role (RFC 9234 §4.2 strict mode).
    #[serde(default)]
    pub strict_role: bool,
    /// Offer the Extended Next Hop capability (RFC 8950): over an IPv6 session, IPv4 routes
    /// go with our IPv6 address as next hop (FRR's `capability extended-nexthop`).
    #[serde(default)]
    pub extended_next_hop: bool,
}

/// A secret from the config: never printed (`Debug` says only that it is set).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Secret {
        Secret(s)
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

fn default_open_hold_time() -> u16 {
    240
}

fn default_max_prefix_warning() -> u8 {
    75
}

fn default_max_prefix_restart() -> u32 {
    60
}

/// One `[[announce]]` entry: its prefix, and what goes with it, shared between the entries
/// that say the same (see [`AttrsSharer`]): 100k announcements under a few dozen services
/// take 32 bytes each, not the 104 of a copy per entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "AnnounceEntry")]
pub struct Announce {
    pub prefix: Prefix,
    pub attrs: Arc<AnnounceAttrs>,
}

/// What an announcement says besides its prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AnnounceAttrs {
    pub next_hop: Option<IpAddr>,
    pub communities: Vec<CommunityValue>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub labels: BTreeMap<String, String>,
    /// The health checks that must all be up for the route to be announced.
    pub health: Vec<String>,
    /// What a check that is down does to the route.
    pub when_down: WhenDown,
}

/// `[[announce]] when_down`: what becomes of a route while one of its checks is down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenDown {
    /// Withdrawn before policy (the default).
    #[default]
    Withdraw,
    /// Kept, labelled `health = "down"`, for the plugins to deprefer.
    Plugins,
}

/// The label gracewire sets on every announcement that names health checks (`up` or
/// `down`), for the plugins; a config's own label may not use it.
pub const HEALTH_LABEL: &str = "health";

/// An `[[announce]]` entry as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnounceEntry {
    prefix: Prefix,
    next_hop: Option<IpAddr>,
    #[serde(default)]
    communities: Vec<CommunityValue>,
    local_pref: Option<u32>,
    med: Option<u32>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    health: HealthNames,
    #[serde(default)]
    when_down: WhenDown,
}

/// `health = "NAME"` or `health = ["A", "B"]`.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum HealthNames {
    #[default]
    None,
    One(String),
    All(Vec<String>),
}

impl From<AnnounceEntry> for Announce {
    fn from(e: AnnounceEntry) -> Announce {
        Announce {
            prefix: e.prefix,
            attrs: Arc::new(AnnounceAttrs {
                next_hop: e.next_hop,
                communities: e.communities,
                local_pref: e.local_pref,
                med: e.med,
                labels: e.labels,
                health: match e.health {
                    HealthNames::None => Vec::new(),
                    HealthNames::One(name) => vec![name],
                    HealthNames::All(names) => names,
                },
                when_down: e.when_down,
            }),
        }
    }
}

/// An announcement as an `[[announce]]` entry would write it (the control socket's answers
/// and `state_dir/announcements.json`): read back, it is the same announcement.
impl serde::Serialize for Announce {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let a = &*self.attrs;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("prefix", &self.prefix.0)?;
        if let Some(nh) = a.next_hop {
            m.serialize_entry("next_hop", &nh)?;
        }
        if !a.communities.is_empty() {
            let communities: Vec<String> = a.communities.iter().map(|c| c.to_string()).collect();
            m.serialize_entry("communities", &communities)?;
        }
        if let Some(v) = a.local_pref {
            m.serialize_entry("local_pref", &v)?;
        }
        if let Some(v) = a.med {
            m.serialize_entry("med", &v)?;
        }
        if !a.labels.is_empty() {
            m.serialize_entry("labels", &a.labels)?;
        }
        if !a.health.is_empty() {
            m.serialize_entry("health", &a.health)?;
        }
        if a.when_down == WhenDown::Plugins {
            m.serialize_entry("when_down", "plugins")?;
        }
        m.end()
    }
}

impl Peer {
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.address.to_string())
    }

    pub fn families(&self) -> Vec<Family> {
        self.families.iter().map(|f| f.0).collect()
    }

    pub fn remote(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }

    pub fn connect_retry(&self) -> Duration {
        Duration::from_secs(self.connect_retry.max(1) as u64)
    }

    /// The long-lived stale time we advertise to this peer (0: no LLGR capability).
    pub fn long_lived_stale_time(&self, global: &Global) -> u32 {
        if !self.graceful_restart {
            return 0;
        }
        self.long_lived_stale_time
            .unwrap_or(global.long_lived_stale_time)
            .0
    }

    pub fn open_hold_time(&self) -> Duration {
        Duration::from_secs(self.open_hold_time as u64)
    }

    /// The TTL of what we send, and the lowest we accept (GTSM), for a session towards this
    /// peer; `None` leaves the system's value. `local_asn`: ours, to tell eBGP from iBGP.
    pub fn ttl(&self, local_asn: u32) -> (Option<u8>, Option<u8>) {
        match (self.ttl_security_hops, self.ebgp_multihop) {
            (Some(hops), _) => (Some(255), Some(255 - hops + 1)),
            (None, Some(ttl)) => (Some(ttl), None),
            (None, None) if !self.asn.is_internal(local_asn) => (Some(1), None),
            (None, None) => (None, None),
        }
    }
}

impl Plugins {
    fn iter_mut(&mut self) -> impl Iterator<Item = (&'static str, &mut PluginConfig)> {
        [
            ("announce", &mut self.announce),
            ("gr", &mut self.gr),
            ("communities", &mut self.communities),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.as_mut().map(|p| (k, p)))
    }
}

impl Global {
    pub fn control_socket(&self) -> PathBuf {
        self.control_socket
            .clone()
            .unwrap_or_else(|| self.state_dir.join("gracewire.sock"))
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/gracewire")
}
fn default_restart_time() -> RestartTime {
    RestartTime(120)
}
fn default_plugin_timeout_ms() -> u32 {
    100
}
fn default_plugin_memory_mb() -> u32 {
    64
}
fn default_stale_path_time() -> u32 {
    360
}
fn default_selection_deferral_time() -> u32 {
    360
}
fn default_drain_wait() -> u32 {
    30
}
fn default_port() -> u16 {
    179
}
fn default_hold_time() -> HoldTime {
    HoldTime(90)
}
fn default_connect_retry() -> u16 {
    5
}
fn default_vendor() -> String {
    "default".into()
}
fn default_families() -> Vec<FamilyName> {
    Family::ALL.into_iter().map(FamilyName).collect()
}
fn default_true() -> bool {
    true
}

impl Config {
    /// Moves the announcements out (the daemon keeps them in its policy candidates, so a big
    /// config is not held twice).
    pub fn take_announcements(&mut self) -> Vec<Announce> {
        let mut announce: Vec<Announce> = std::mem::take(&mut self.announce)
            .into_iter()
            .map(Spanned::into_inner)
            .collect();
        // Collected where the spanned entries were, which are half as big again.
        announce.shrink_to_fit();
        announce
    }

    pub fn plugin(&self, kind: crate::plugins::PluginKind) -> Option<&PluginConfig> {
        self.plugins.get(kind)
    }

    pub fn peers(&self) -> impl Iterator<Item = &Peer> {
        self.peers.iter().map(|p| p.get_ref())
    }

    pub fn announcements(&self) -> impl Iterator<Item = &Announce> {
        self.announce.iter().map(|a| a.get_ref())
    }
}
