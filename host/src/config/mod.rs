//! The TOML config file: schema (serde), validation with errors that name the file, the line and
//! the field, and the defaults an operator would expect.
//!
//! Most checks happen while deserializing (typed fields such as [`Asn`], [`Prefix`],
//! [`CommunityValue`]), so the TOML parser's own span points at the bad value. Checks that relate
//! several entries (duplicates, family of a next hop) run afterwards and point at the entry.

pub mod bfd;
mod chunks;
pub mod community;
#[cfg(test)]
mod tests;

pub use bfd::BfdProfile;
pub use community::CommunityValue;

use crate::wire::Family;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
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
    pub asn: Asn,
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
#[derive(Debug, Clone, Deserialize)]
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
}

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
            }),
        }
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
            (None, None) if self.asn.0 != local_asn => (Some(1), None),
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

/// Deserializes `T` through `FromStr`-like validation with a message serde will place.
macro_rules! validated {
    ($name:ident($inner:ty) from $raw:ty, |$v:ident| $check:expr) => {
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let $v = <$raw>::deserialize(d)?;
                let checked: Result<$inner, String> = $check;
                checked.map($name).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An AS number: 1 ..= 4294967295, not AS_TRANS (RFC 6793 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asn(pub u32);
validated!(Asn(u32) from i64, |v| match u32::try_from(v) {
    Ok(0) => Err("AS number 0 is reserved (RFC 7607)".into()),
    Ok(23456) => Err("AS 23456 is AS_TRANS and cannot be used as a real AS number".into()),
    Ok(a) => Ok(a),
    Err(_) => Err(format!("AS number {v} is out of range 1..4294967295")),
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterId(pub Ipv4Addr);
validated!(RouterId(Ipv4Addr) from String, |v| match v.parse::<Ipv4Addr>() {
    Ok(a) if a.is_unspecified() => Err("router_id 0.0.0.0 is not allowed (RFC 6286)".into()),
    Ok(a) => Ok(a),
    Err(_) => Err(format!("router_id `{v}` is not an IPv4 address")),
});

/// Hold time in seconds: 0 (no keepalives) or 3..=65535 (RFC 4271 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldTime(pub u16);
validated!(HoldTime(u16) from i64, |v| match u16::try_from(v) {
    Ok(h) if h == 0 || h >= 3 => Ok(h),
    _ => Err(format!("hold_time {v} must be 0 or between 3 and 65535 seconds")),
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartTime(pub u16);
validated!(RestartTime(u16) from i64, |v| match u16::try_from(v) {
    Ok(t) if t <= 4095 => Ok(t),
    _ => Err(format!("restart_time {v} must be between 0 and 4095 seconds (12 bits, RFC 4724)")),
});

/// Long-lived stale time in seconds: 24 bits on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StaleTime(pub u32);
validated!(StaleTime(u32) from i64, |v| match u32::try_from(v) {
    Ok(t) if t <= crate::wire::long_lived::MAX_STALE_TIME => Ok(t),
    _ => Err(format!("long_lived_stale_time {v} must be between 0 and 16777215 seconds (24 bits, RFC 9494)")),
});

/// A prefix in canonical form (no host bits set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix(pub IpNet);
validated!(Prefix(IpNet) from String, |v| match v.parse::<IpNet>() {
    Ok(p) if p.trunc() == p => Ok(p),
    Ok(p) => Err(format!("prefix `{v}` has host bits set; did you mean `{}`?", p.trunc())),
    Err(_) => Err(format!("`{v}` is not a prefix (expected e.g. 198.51.100.10/32 or 2001:db8::/64)")),
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FamilyName(pub Family);
validated!(FamilyName(Family) from String, |v| v.parse::<Family>());

/// A config error with its place: `file:line:column: field: message`.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Deserializes `text`; an error carries the parser's span, the field path and the message.
fn deserialize<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Result<T, (Option<Range<usize>>, String, String)> {
    serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
        // `Spanned` adds a private segment to the path; operators should not see it.
        let field = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "");
        let inner = e.into_inner();
        let field = if field == "." { String::new() } else { field };
        (inner.span(), field, inner.message().to_string())
    })
}

/// The `[[announce]]` entries of one chunk of a big config (see [`chunks`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnounceChunk {
    #[serde(default)]
    announce: Vec<Spanned<Announce>>,
}

/// Makes announcements that say the same share one [`AnnounceAttrs`]. Configs with many
/// announcements repeat a few label sets (pools, services) and next hops; a copy of their own
/// would cost each announcement several allocations, ~700 bytes with its label map.
#[derive(Default)]
struct AttrsSharer(HashSet<Arc<AnnounceAttrs>>);

impl AttrsSharer {
    fn share(&mut self, attrs: &mut Arc<AnnounceAttrs>) {
        match self.0.get(attrs) {
            Some(s) => *attrs = s.clone(),
            None => {
                self.0.insert(attrs.clone());
            }
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

fn error_at(
    text: &str,
    path: &Path,
    span: Option<Range<usize>>,
    field: String,
    message: String,
) -> ConfigError {
    let (line, column) = span.map_or((0, 0), |s| line_col(text, s.start));
    ConfigError {
        file: path.to_owned(),
        line,
        column,
        field,
        message,
    }
}

/// The `[[announce]]` entries at `entries`, read [`chunks::CHUNK`] at a time, the chunks spread
/// over the cores (TOML parsing is most of a restart's time with 100k announcements: ~1 s on
/// one core of the CI machine).
fn announce_chunks(
    text: &str,
    path: &Path,
    entries: &[Range<usize>],
    sharer: &mut AttrsSharer,
) -> Result<Vec<Spanned<Announce>>, ConfigError> {
    let parse = |k: usize,
                 group: &[Range<usize>],
                 sharer: &mut AttrsSharer|
     -> Result<Vec<Spanned<Announce>>, ConfigError> {
        let (chunk, offset) = chunks::chunk_text(text, group);
        let shift = |s: Range<usize>| s.start + offset..s.end + offset;
        let part: AnnounceChunk = deserialize(&chunk).map_err(|(span, field, msg)| {
            let field = chunks::shift_field(&field, k * chunks::CHUNK);
            error_at(text, path, span.map(shift), field, msg)
        })?;
        Ok(part
            .announce
            .into_iter()
            .map(|a| {
                let mut a = Spanned::new(shift(a.span()), a.into_inner());
                sharer.share(&mut a.get_mut().attrs);
                a
            })
            .collect())
    };
    let groups: Vec<&[Range<usize>]> = entries.chunks(chunks::CHUNK).collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(groups.len())
        .max(1);
    // Each entry is read into its own slot, so the result is built where it will stay (no
    // second copy of 100k entries while they are put in order).
    let mut slots: Vec<Option<Spanned<Announce>>> = (0..entries.len()).map(|_| None).collect();
    type Chunk<'a> = (
        usize,
        &'a [Range<usize>],
        &'a mut [Option<Spanned<Announce>>],
    );
    let mut work: Vec<Vec<Chunk>> = (0..workers).map(|_| Vec::new()).collect();
    for (k, (group, slot)) in groups
        .iter()
        .zip(slots.chunks_mut(chunks::CHUNK))
        .enumerate()
    {
        work[k % workers].push((k, group, slot));
    }
    let mut errors: Vec<(usize, ConfigError)> = std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .into_iter()
            .map(|mine| {
                let parse = &parse;
                scope.spawn(move || {
                    // Its own sharer: a chunk's entries hold few distinct settings between them.
                    let mut sharer = AttrsSharer::default();
                    let mut errors = Vec::new();
                    for (k, group, slot) in mine {
                        match parse(k, group, &mut sharer) {
                            Ok(read) if read.len() == slot.len() => {
                                for (s, a) in slot.iter_mut().zip(read) {
                                    *s = Some(a);
                                }
                            }
                            Ok(_) => errors.push((
                                k,
                                error_at(
                                    text,
                                    path,
                                    group.first().cloned(),
                                    "announce".into(),
                                    "an [[announce]] entry could not be told from the next".into(),
                                ),
                            )),
                            Err(e) => errors.push((k, e)),
                        }
                    }
                    errors
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a config chunk parser panicked"))
            .collect()
    });
    // The first error in the file, as a reading from the top would have met it.
    errors.sort_by_key(|(k, _)| *k);
    if let Some((_, e)) = errors.into_iter().next() {
        return Err(e);
    }
    Ok(slots
        .into_iter()
        .map(|a| {
            let mut a = a.expect("every entry read");
            sharer.share(&mut a.get_mut().attrs);
            a
        })
        .collect())
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        let config = Config::parse_owned(text, path, chunks::CHUNKED_FROM);
        // The parser's document is gone; its pages would otherwise stay with the process.
        crate::heap::release_free_memory();
        config
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::parse_with(text, path, chunks::CHUNKED_FROM)
    }

    /// [`parse`](Self::parse), reading `[[announce]]` entries in chunks from `chunked_from`
    /// entries on (tests and fuzzing use small thresholds to reach the chunked path).
    pub fn parse_with(text: &str, path: &Path, chunked_from: usize) -> Result<Config, ConfigError> {
        Config::parse_owned(text.to_owned(), path, chunked_from)
    }

    fn parse_owned(
        mut text: String,
        path: &Path,
        chunked_from: usize,
    ) -> Result<Config, ConfigError> {
        let mut sharer = AttrsSharer::default();
        // Announcements in chunks first, then the rest of the file with them blanked in place:
        // a blanked copy held the text twice (11 MB more at 100k announcements).
        let entries = chunks::announce_entries(&text).filter(|e| e.len() >= chunked_from);
        let chunked = match &entries {
            Some(entries) => {
                let announce = announce_chunks(&text, path, entries, &mut sharer)?;
                chunks::blank_in_place(&mut text, entries);
                Some(announce)
            }
            None => None,
        };
        drop(entries);
        let text = text;
        let at = |span: Option<Range<usize>>, field: String, message: String| {
            error_at(&text, path, span, field, message)
        };
        let mut config: Config =
            deserialize(&text).map_err(|(span, field, msg)| at(span, field, msg))?;
        match chunked {
            None => {
                for a in &mut config.announce {
                    sharer.share(&mut a.get_mut().attrs);
                }
            }
            Some(announce) => {
                if let Some(a) = config.announce.first() {
                    return Err(at(
                        Some(a.span()),
                        "announce".into(),
                        "announcements are given both as [[announce]] tables and as an array"
                            .into(),
                    ));
                }
                config.announce = announce;
            }
        }
        config
            .validate()
            .map_err(|(span, field, message)| at(Some(span), field, message))?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base_dir = config.base_dir.clone();
        for (i, peer) in config.peers.iter_mut().enumerate() {
            let span = peer.span();
            let peer = peer.get_mut();
            let Some(file) = peer.password_file.as_mut() else {
                continue;
            };
            if file.is_relative() {
                *file = base_dir.join(&*file);
            }
            let key = std::fs::read_to_string(&*file).map_err(|e| {
                at(
                    Some(span.clone()),
                    format!("peers[{i}].password_file"),
                    format!("cannot read {}: {e}", file.display()),
                )
            })?;
            let key = key.strip_suffix('\n').unwrap_or(&key);
            let key = key.strip_suffix('\r').unwrap_or(key);
            if key.is_empty() || key.len() > crate::sockopt::MD5_MAX_KEY_LEN {
                return Err(at(
                    Some(span),
                    format!("peers[{i}].password_file"),
                    format!(
                        "{}: a TCP-MD5 key of 1..={} bytes is expected",
                        file.display(),
                        crate::sockopt::MD5_MAX_KEY_LEN
                    ),
                ));
            }
            peer.password = Some(Secret(key.to_string()));
        }
        for (kind, p) in config.plugins.iter_mut() {
            if p.path.is_relative() {
                p.path = base_dir.join(&p.path);
            }
            if p.timeout_ms == 0 || p.memory_limit_mb == 0 || p.memory_limit_mb > 256 {
                return Err(at(
                    text.find(&format!("[plugins.{kind}")).map(|o| o..o),
                    format!("plugins.{kind}"),
                    "timeout_ms must be positive and memory_limit_mb within 1..=256".into(),
                ));
            }
        }
        Ok(config)
    }

    /// Checks across entries. Errors carry the span of the entry they concern.
    fn validate(&self) -> Result<(), (Range<usize>, String, String)> {
        for (name, profile) in &self.bfd_profiles {
            if let Err((field, message)) = profile.get_ref().check() {
                return Err((
                    profile.span(),
                    format!("bfd_profiles.{name}.{field}"),
                    message,
                ));
            }
        }
        // One peer per address, whatever the port: an accepted connection finds its peer by
        // the remote address alone, and the listener's TCP-MD5 key is set per address.
        let mut seen: BTreeMap<IpAddr, usize> = BTreeMap::new();
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        for (i, p) in self.peers.iter().enumerate() {
            let (span, peer) = (p.span(), p.get_ref());
            if let Some(first) = seen.insert(peer.address, i) {
                return Err((
                    span,
                    format!("peers[{i}].address"),
                    format!(
                        "duplicate peer {} (already defined as peers[{first}]; one peer per \
                         address, whatever the port: connections and TCP-MD5 keys are matched \
                         by address)",
                        peer.address
                    ),
                ));
            }
            if let Some(first) = names.insert(peer.name(), i) {
                return Err((
                    span,
                    format!("peers[{i}].name"),
                    format!(
                        "duplicate peer name `{}` (already used by peers[{first}])",
                        peer.name()
                    ),
                ));
            }
            if peer.families.is_empty() {
                return Err((
                    span,
                    format!("peers[{i}].families"),
                    "at least one family is needed".into(),
                ));
            }
            if let Some((f, _)) = peer.max_prefixes.iter().find(|(_, n)| **n == 0) {
                return Err((
                    span,
                    format!("peers[{i}].max_prefixes.{}", f.0),
                    "a limit of 0 prefixes would reset the session at its first route; leave \
                     the family out for no limit"
                        .into(),
                ));
            }
            if let Some(profile) = &peer.bfd {
                if !self.bfd_profiles.contains_key(profile) {
                    let known: Vec<&str> = self.bfd_profiles.keys().map(String::as_str).collect();
                    return Err((
                        span,
                        format!("peers[{i}].bfd"),
                        format!("no [bfd_profiles.{profile}] (profiles: {known:?})"),
                    ));
                }
            }
            if peer.long_lived_stale_time.is_some_and(|t| t.0 > 0) && !peer.graceful_restart {
                return Err((
                    span,
                    format!("peers[{i}].long_lived_stale_time"),
                    "long-lived GR needs graceful_restart = true: RFC 9494 sends its capability only beside GR's".into(),
                ));
            }
            if peer.send_hold_time.is_some_and(|t| t < 3) {
                return Err((
                    span,
                    format!("peers[{i}].send_hold_time"),
                    "at least 3 seconds (RFC 9687 suggests 8 minutes); leave it out for the default".into(),
                ));
            }
            if peer.open_hold_time < 3 {
                return Err((
                    span,
                    format!("peers[{i}].open_hold_time"),
                    "at least 3 seconds: a peer needs a moment to answer with its OPEN".into(),
                ));
            }
            if !(1..=100).contains(&peer.max_prefix_warning) {
                return Err((
                    span,
                    format!("peers[{i}].max_prefix_warning"),
                    "a share of the limit in percent: 1..=100".into(),
                ));
            }
            if peer.password.is_some() && peer.password_file.is_some() {
                return Err((
                    span,
                    format!("peers[{i}].password"),
                    "password and password_file both set: keep one (password_file keeps the key out of the config)".into(),
                ));
            }
            if peer
                .password
                .as_ref()
                .is_some_and(|k| k.expose().len() > crate::sockopt::MD5_MAX_KEY_LEN)
            {
                return Err((
                    span,
                    format!("peers[{i}].password"),
                    format!(
                        "a TCP-MD5 key is at most {} bytes",
                        crate::sockopt::MD5_MAX_KEY_LEN
                    ),
                ));
            }
            if peer.ebgp_multihop.is_some() && peer.ttl_security_hops.is_some() {
                return Err((
                    span,
                    format!("peers[{i}].ttl_security_hops"),
                    "ebgp_multihop and ttl_security_hops exclude each other: GTSM sends TTL 255 and checks what arrives".into(),
                ));
            }
            if peer.ebgp_multihop == Some(0) {
                return Err((
                    span,
                    format!("peers[{i}].ebgp_multihop"),
                    "a TTL of 1..=255".into(),
                ));
            }
            if peer.ttl_security_hops.is_some_and(|h| h == 0 || h == 255) {
                return Err((
                    span,
                    format!("peers[{i}].ttl_security_hops"),
                    "hops between us and the peer: 1..=254 (1: directly connected)".into(),
                ));
            }
            if peer.max_prefix_restart == 0 {
                return Err((
                    span,
                    format!("peers[{i}].max_prefix_restart"),
                    "at least 1 second (`gracewire reset PEER` brings the session back sooner)"
                        .into(),
                ));
            }
            if let Some(local) = peer.local_address {
                if local.is_ipv4() != peer.address.is_ipv4() {
                    return Err((
                        span,
                        format!("peers[{i}].local_address"),
                        format!(
                            "local_address {local} and address {} are of different IP versions",
                            peer.address
                        ),
                    ));
                }
            }
        }
        let mut prefixes: BTreeMap<IpNet, usize> = BTreeMap::new();
        for (i, a) in self.announce.iter().enumerate() {
            let (span, ann) = (a.span(), a.get_ref());
            if let Some(first) = prefixes.insert(ann.prefix.0, i) {
                return Err((
                    span,
                    format!("announce[{i}].prefix"),
                    format!(
                        "prefix {} is announced twice (already in announce[{first}])",
                        ann.prefix.0
                    ),
                ));
            }
            if let Some(nh) = ann.attrs.next_hop {
                if nh.is_ipv4() != matches!(ann.prefix.0, IpNet::V4(_)) {
                    return Err((
                        span,
                        format!("announce[{i}].next_hop"),
                        format!(
                            "next hop {nh} is not of the same IP version as prefix {}",
                            ann.prefix.0
                        ),
                    ));
                }
                if nh.is_unspecified() || nh.is_multicast() {
                    return Err((
                        span,
                        format!("announce[{i}].next_hop"),
                        format!("next hop {nh} is not a usable unicast address"),
                    ));
                }
            }
        }
        Ok(())
    }

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
