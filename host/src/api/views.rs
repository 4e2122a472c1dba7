//! What the control socket shows: peers, sessions, plugins and routes, as the daemon reports them.

use crate::wire::{NextHop, PathAttributes};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

impl RouteView {
    /// `field: old -> new` for each attribute in which `new` differs from `self`, and who
    /// decided it if both say.
    pub fn differences(&self, new: &RouteView) -> Vec<String> {
        fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
            v.as_ref().map_or("-".into(), |v| v.to_string())
        }
        fn words<T: std::fmt::Display>(v: &[T]) -> String {
            let all: Vec<String> = v.iter().map(T::to_string).collect();
            if all.is_empty() {
                "-".into()
            } else {
                all.join(" ")
            }
        }
        let mut out = Vec::new();
        let mut field = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name}: {a} -> {b}"));
            }
        };
        field(
            "next hop",
            self.next_hop.to_string(),
            new.next_hop.to_string(),
        );
        field("AS path", words(&self.as_path), words(&new.as_path));
        field("origin", opt(&self.origin), opt(&new.origin));
        field("MED", opt(&self.med), opt(&new.med));
        field("LOCAL_PREF", opt(&self.local_pref), opt(&new.local_pref));
        field("OTC", opt(&self.otc), opt(&new.otc));
        field(
            "communities",
            words(&self.communities),
            words(&new.communities),
        );
        field(
            "large communities",
            words(&self.large_communities),
            words(&new.large_communities),
        );
        if !self.decided_by.is_empty() && !new.decided_by.is_empty() {
            field(
                "decided by",
                DecidedBy::line(&self.decided_by),
                DecidedBy::line(&new.decided_by),
            );
        }
        out
    }
}

impl PeerSummary {
    /// The AS as `show neighbors` prints it: `65002`, or `65002 (external)` when the config
    /// gives a kind, `external` before the peer's OPEN says which.
    pub fn asn_text(&self) -> String {
        match (
            self.remote_as.parse::<u32>().is_ok() || self.remote_as.is_empty(),
            self.asn,
        ) {
            (true, n) => n.to_string(),
            (false, 0) => self.remote_as.clone(),
            (false, n) => format!("{n} ({})", self.remote_as),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerSummary {
    pub name: String,
    pub address: IpAddr,
    /// The peer's AS: configured, or learned from its OPEN for a kind; 0 while unknown.
    pub asn: u32,
    /// The config's `asn`: the number, "external" or "internal".
    #[serde(default)]
    pub remote_as: String,
    pub state: String,
    pub uptime_secs: Option<u64>,
    pub families: Vec<String>,
    pub received: usize,
    pub advertised: usize,
    pub updates_received: u64,
    pub updates_sent: u64,
    /// The restart time the peer advertised, when it offered Graceful Restart.
    pub peer_graceful_restart: Option<u16>,
    /// Families whose routes we keep stale while the peer restarts (GR helper).
    pub stale_families: Vec<String>,
    /// Past the peer's restart time, kept as LLGR_STALE (RFC 9494).
    #[serde(default)]
    pub long_lived_stale: bool,
    /// Families the peer has sent End-of-RIB for in this session.
    pub end_of_rib_received: Vec<String>,
    pub last_error: Option<String>,
    /// What the current session negotiated, while it is up.
    #[serde(default)]
    pub session: Option<SessionView>,
    /// Settings changed since the session's OPEN: they take effect at the next one.
    #[serde(default)]
    pub pending: Vec<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// A TCP-MD5 password is configured (never the password itself).
    #[serde(default)]
    pub tcp_md5: bool,
    /// The TTL we send and the lowest we accept (GTSM), when set.
    #[serde(default)]
    pub ttl: Option<u8>,
    #[serde(default)]
    pub min_ttl: Option<u8>,
    /// The peer's BFD session, when it has one.
    #[serde(default)]
    pub bfd: Option<BfdView>,
    /// Peers sharing this one's Adj-RIB-Out and encoded UPDATEs (its update group), itself
    /// included; empty while nothing is advertised to it.
    #[serde(default)]
    pub update_group: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BfdView {
    pub state: String,
    /// Why it last changed (RFC 5880 diagnostic).
    pub diag: String,
    /// Times Up was lost to a failure.
    pub failures: u64,
    pub detection_time_ms: Option<u64>,
    pub multihop: bool,
    /// Seconds in this state.
    pub since_secs: u64,
}

/// An Established session's capabilities, both ways.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionView {
    pub hold_time_secs: u64,
    pub keepalive_secs: u64,
    pub families: Vec<String>,
    pub four_octet_as: bool,
    pub extended_message: bool,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    /// The GR capability we sent in this session's OPEN.
    pub local_graceful_restart: Option<GrView>,
    /// The GR capability the peer sent.
    pub peer_graceful_restart: Option<GrView>,
    /// BGP roles (RFC 9234): ours on this session and the one the peer sent.
    #[serde(default)]
    pub local_role: Option<String>,
    #[serde(default)]
    pub peer_role: Option<String>,
    /// IPv4 routes with IPv6 next hops (RFC 8950), negotiated both ways.
    #[serde(default)]
    pub extended_next_hop: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GrView {
    /// R: the sender was restarting.
    pub restart_state: bool,
    /// N: RFC 8538 graceful NOTIFICATIONs.
    pub notification: bool,
    pub restart_time: u16,
    /// Family and F bit (forwarding state preserved).
    pub families: Vec<GrFamily>,
    /// Long-lived GR (RFC 9494), from the LLGR capability beside it: family and stale time in
    /// seconds, for the families with a stale time above 0.
    #[serde(default)]
    pub long_lived: Vec<LongLivedFamily>,
}

/// A family in a GR capability, and whether its forwarding state was kept (F bit).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GrFamily {
    pub family: String,
    pub forwarding: bool,
}

/// A family in a long-lived GR capability (RFC 9494) and its stale time in seconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LongLivedFamily {
    pub family: String,
    pub stale_time: u32,
}

impl GrView {
    pub fn of(
        cap: &crate::wire::GracefulRestartCap,
        long_lived: Option<&crate::wire::LongLivedCap>,
    ) -> GrView {
        let name = |f: Option<crate::wire::Family>, afi: u16, safi: u8| {
            f.map_or_else(
                || format!("afi {afi} safi {safi}"),
                |f| f.name().to_string(),
            )
        };
        GrView {
            // A stale time of 0 is no long-lived GR for the family (FRR sends it by default).
            long_lived: long_lived
                .iter()
                .flat_map(|l| &l.families)
                .filter(|f| f.stale_time > 0)
                .map(|f| LongLivedFamily {
                    family: name(f.family(), f.afi, f.safi),
                    stale_time: f.stale_time,
                })
                .collect(),
            restart_state: cap.restart_state,
            notification: cap.notification,
            restart_time: cap.restart_time,
            families: cap
                .families
                .iter()
                .map(|f| GrFamily {
                    family: name(f.family(), f.afi, f.safi),
                    forwarding: f.forwarding_preserved,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginView {
    pub kind: String,
    /// Absent when no plugin of this kind is configured.
    pub path: Option<String>,
    /// First octets of the SHA-256 of the version in service.
    pub version: Option<String>,
    pub on_error: Option<String>,
    pub calls: u64,
    pub errors: u64,
    pub instantiations: u64,
    /// Candidate batches handed to the plugin (once per config version and instance).
    pub prepares: u64,
    pub mean_call_us: Option<f64>,
    pub swaps: u64,
    pub rejections: u64,
    pub last_swap_ms: Option<f64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteView {
    pub peer: String,
    pub prefix: IpNet,
    pub next_hop: IpAddr,
    pub as_path: Vec<u32>,
    pub origin: Option<String>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    /// Only to Customer (RFC 9234): the AS that sent the route down or sideways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otc: Option<u32>,
    pub stale: bool,
    pub best: bool,
    /// For an advertised route: who decided it, one entry per plugin kind that took part
    /// (`config` alone when none did). Empty for received routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decided_by: Vec<DecidedBy>,
}

/// An announcement held back from every peer by its health checks, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WithheldView {
    pub prefix: IpNet,
    /// One per check that is not up: `web down`, `web down, held 42 s`, `web set down`,
    /// `web has no verdict yet`.
    pub why: Vec<String>,
}

/// One part in deciding an advertised route.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DecidedBy {
    /// `announce` or `communities`, or `config`: no plugin took part, the route is as written.
    pub by: String,
    /// The plugin version (its file's SHA-256 prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The rule name the plugin gave the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The plugin failed: the route kept its last good outcome, or got the plugin's
    /// `on_error` if it had none.
    #[serde(default)]
    pub fallback: bool,
}

impl std::fmt::Display for DecidedBy {
    /// `config`, `announce@1a2b3c4d:rule`, `announce@1a2b3c4d` (no rule name) or
    /// `communities@1a2b3c4d fallback`: the version cut to 8 digits, as short hashes are.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.by)?;
        if let Some(v) = &self.version {
            write!(f, "@{}", &v[..v.len().min(8)])?;
        }
        if let Some(rule) = &self.rule {
            write!(f, ":{rule}")?;
        }
        if self.fallback {
            f.write_str(" fallback")?;
        }
        Ok(())
    }
}

impl DecidedBy {
    /// The parts of `why`, in the order the plugins run.
    pub fn of(why: &crate::policy::Why) -> Vec<DecidedBy> {
        use crate::policy::Source;
        let part = |by: &str, source: &Source| match source {
            Source::Configured => None,
            Source::Plugin { version, rule } => Some(DecidedBy {
                by: by.into(),
                version: Some(version.to_string()),
                rule: rule.as_ref().map(|r| r.to_string()),
                fallback: false,
            }),
            Source::Fallback { version } => Some(DecidedBy {
                by: by.into(),
                version: Some(version.to_string()),
                rule: None,
                fallback: true,
            }),
        };
        let parts: Vec<DecidedBy> = [
            part("announce", &why.announce),
            part("communities", &why.communities),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            return vec![DecidedBy {
                by: "config".into(),
                version: None,
                rule: None,
                fallback: false,
            }];
        }
        parts
    }

    /// The parts as one line: `announce@1a2b3c4d:gold communities@5e6f7a8b:web`.
    pub fn line(parts: &[DecidedBy]) -> String {
        let words: Vec<String> = parts.iter().map(DecidedBy::to_string).collect();
        words.join(" ")
    }
}

impl RouteView {
    pub fn new(
        peer: &str,
        prefix: IpNet,
        nh: NextHop,
        a: &PathAttributes,
        stale: bool,
        best: bool,
    ) -> Self {
        RouteView {
            peer: peer.to_string(),
            prefix,
            next_hop: nh.addr(),
            as_path: a
                .as_path
                .as_ref()
                .map(|p| p.asns().collect())
                .unwrap_or_default(),
            origin: a.origin.map(|o| format!("{o:?}").to_lowercase()),
            med: a.med,
            local_pref: a.local_pref,
            communities: a
                .communities
                .iter()
                .map(|c| format!("{}:{}", c >> 16, c & 0xffff))
                .collect(),
            large_communities: a
                .large_communities
                .iter()
                .map(|l| format!("{}:{}:{}", l.global, l.local1, l.local2))
                .collect(),
            otc: a.otc,
            stale,
            best,
            decided_by: Vec::new(),
        }
    }
}

/// One health check as `gracewire health` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HealthView {
    pub check: String,
    /// tcp, http or exec.
    pub kind: String,
    /// What the probes say: unknown (not yet `rise` or `fall` results), up or down.
    pub status: String,
    /// What an operator set (`up`, `down`), in force over `status`; `None`: auto.
    pub forced: Option<String>,
    /// Seconds in this status (since the start for unknown).
    pub since_secs: f64,
    /// Changes of status since the process started.
    pub transitions: u64,
    /// Seconds left of a hold-down after repeated flaps, if one is in force.
    pub held_secs: Option<f64>,
    /// Seconds since the last probe ended, and how long it took in milliseconds.
    pub last_secs: Option<f64>,
    pub last_ms: Option<f64>,
    /// Why the last probe failed, if it did.
    pub error: Option<String>,
    /// The announcements that name it.
    pub serves: usize,
}
