//! The operator surface: the control API (gRPC, `proto/gracewire/v1/control.proto`) served on
//! the owner-only Unix socket ([`server`]), its client side used by the CLI ([`client`]), and
//! the requests, answers and views the daemon deals in. The daemon sees only [`ControlRequest`]
//! and [`ControlResponse`]; [`convert`] maps them to and from the proto messages.

pub mod client;
pub(crate) mod codec;
pub(crate) mod convert;
pub mod events;
pub mod server;
mod views;

pub use codec::MAX_REPEATED;
pub use views::*;

/// The messages and service generated from `proto/gracewire/v1` (host/build.rs).
#[allow(clippy::all)]
pub mod proto {
    tonic::include_proto!("gracewire.v1");
}

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What the daemon is asked: one per control API call ([`server`] makes them from the proto
/// requests).
#[derive(Debug, Clone, PartialEq)]
pub enum ControlRequest {
    /// Sessions and their counters.
    Neighbors,
    /// Routes received from peers (Adj-RIB-In), with the best marked.
    Routes { filter: RouteFilter },
    /// Routes sent to peers (Adj-RIB-Out).
    Advertised { filter: RouteFilter },
    /// Plugins in service, their versions and counters.
    Plugins,
    /// Health checks: their verdicts, last results and the routes they gate.
    Health,
    /// One controller's source ([`crate::sources`]) becomes exactly these announcements
    /// (`[[announce]]` fields; none: the source goes). Only the difference is sent.
    AnnounceSet {
        source: String,
        announcements: Vec<serde_json::Value>,
    },
    /// These announcements join the source, or replace its entry for their prefix.
    AnnounceAdd {
        source: String,
        announcements: Vec<serde_json::Value>,
    },
    /// These prefixes leave the source.
    AnnounceDelete {
        source: String,
        prefixes: Vec<String>,
    },
    /// The announcements of one source (`config` is the config file's), or of every source.
    AnnounceList { source: Option<String> },
    /// Sets a health check up or down whatever its probes say (`None`: auto again).
    HealthSet {
        check: String,
        forced: Option<crate::health::Forced>,
    },
    /// RFC 8326 drain: announce with GRACEFUL_SHUTDOWN, wait, withdraw. Answered when withdrawn.
    /// `if_marked`: only when `decommission` marked the daemon (a preStop hook).
    Drain {
        wait_secs: Option<u64>,
        if_marked: bool,
    },
    /// Mark the daemon for decommission: `drain --if-marked` drains from then on.
    Decommission,
    /// Route refresh (RFC 2918, RFC 7313): `inbound` asks the peer to send its routes again,
    /// `outbound` sends it our Adj-RIB-Out again.
    Refresh {
        peer: String,
        inbound: bool,
        outbound: bool,
    },
    /// Announce normally again after a drain.
    Undrain,
    /// Reset one session; `hard` makes the peer flush our routes.
    Reset { peer: String, hard: bool },
    /// The Prometheus exposition, with the process figures the asker read.
    Metrics { process: ProcessStats },
    /// Readiness: config and plugins loaded, every peer attempted at least once.
    Ready,
    /// Re-read the config file, as SIGHUP does, and answer with the outcome.
    Reload,
    /// What a candidate config and/or plugin files would change at each peer, evaluated as a
    /// reload or swap would and applied nowhere. Paths are absolute.
    Plan {
        config: Option<PathBuf>,
        plugins: Vec<(crate::plugins::PluginKind, PathBuf)>,
        /// Health checks taken as up or down for the plan, whatever their probes say.
        health: Vec<(String, crate::health::Forced)>,
    },
}

/// Figures of the process itself, read from /proc by the metrics server.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    pub resident_memory_bytes: u64,
    pub cpu_seconds: f64,
    pub start_time_seconds: f64,
    pub open_fds: u64,
}

/// Which routes `show routes` / `show advertised` list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteFilter {
    /// Only this peer's.
    pub peer: Option<String>,
    /// A prefix (the routes it covers, itself included) or an address (the routes covering it).
    pub prefix: Option<String>,
}

impl RouteFilter {
    /// Checks the prefix filter and returns a test for routes.
    pub fn matcher(&self) -> Result<impl Fn(&str, &IpNet) -> bool + '_, String> {
        enum Within {
            All,
            Prefix(IpNet),
            Address(IpAddr),
        }
        let within = match self.prefix.as_deref() {
            None => Within::All,
            Some(p) => match (p.parse::<IpNet>(), p.parse::<IpAddr>()) {
                (Ok(net), _) => Within::Prefix(net.trunc()),
                (_, Ok(addr)) => Within::Address(addr),
                _ => return Err(format!("`{p}` is neither a prefix nor an address")),
            },
        };
        Ok(move |peer: &str, prefix: &IpNet| {
            self.peer.as_deref().is_none_or(|p| p == peer)
                && match &within {
                    Within::All => true,
                    Within::Prefix(net) => net.contains(prefix),
                    Within::Address(a) => prefix.contains(a),
                }
        })
    }
}

#[derive(Debug, Clone)]
pub enum ControlResponse {
    Neighbors(Vec<PeerSummary>),
    Plugins(Vec<PluginView>),
    Health(Vec<HealthView>),
    Routes {
        loc_rib_prefixes: usize,
        /// After our own restart, best-route selection waits for End-of-RIB from GR peers.
        selection_deferred: bool,
        routes: Vec<RouteView>,
        /// `show advertised`: announcements no peer is sent because of their health checks.
        withheld: Vec<WithheldView>,
    },
    /// Refused; `code` is the gRPC status the API answers with.
    Error {
        code: Code,
        error: String,
    },
    Done {
        message: String,
    },
    Metrics {
        metrics: String,
    },
    Ready {
        ready: bool,
        /// Peers whose session has not left Idle yet.
        not_attempted: Vec<String>,
    },
    Plan(PlanReport),
    Announcements {
        sources: Vec<SourceView>,
    },
}

/// One source's announcements, as `[[announce]]` entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceView {
    pub source: String,
    pub announcements: Vec<crate::config::Announce>,
}

/// `gracewire plan`'s answer: per Established peer, what would be announced, withdrawn and
/// changed; nothing of it applied.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PlanReport {
    /// The plugin versions the plan loaded (`kind: file sha256`), or removed.
    pub plugins: Vec<String>,
    pub peers: Vec<PeerPlan>,
    /// Peers the candidate config adds: they get their table once their session is up.
    pub new_peers: Vec<String>,
    /// Peers the candidate config removes: their session would end.
    pub removed_peers: Vec<String>,
    /// The health checks the plan took as up or down (`svc: down, now up`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PeerPlan {
    pub peer: String,
    pub announce: Vec<RouteView>,
    pub withdraw: Vec<IpNet>,
    pub change: Vec<RouteChange>,
    pub unchanged: usize,
    /// Plugin failures during the evaluation (their routes keep their last good outcome).
    pub errors: Vec<String>,
}

/// A route that stays announced with other attributes: the new route and what differs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteChange {
    pub route: RouteView,
    /// `field: old -> new`, one per attribute that differs.
    pub differences: Vec<String>,
}

/// Why a request was refused, as the gRPC status code the API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The request itself is wrong (the field named).
    InvalidArgument,
    /// No such peer, check or source.
    NotFound,
    /// The daemon's state refuses it (another source's prefix, a peer not Established).
    FailedPrecondition,
    /// A stated limit.
    ResourceExhausted,
    /// The daemon cannot do it now (stopping, state_dir not writable).
    Unavailable,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::NotFound => "NOT_FOUND",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::Unavailable => "UNAVAILABLE",
        }
    }
}

impl ControlResponse {
    pub fn error(code: Code, error: impl Into<String>) -> ControlResponse {
        ControlResponse::Error {
            code,
            error: error.into(),
        }
    }

    /// The answer for a peer name the config does not have.
    pub fn no_peer(name: &str) -> ControlResponse {
        ControlResponse::error(Code::NotFound, format!("no peer named `{name}`"))
    }
}

pub type ControlSender = mpsc::Sender<(ControlRequest, oneshot::Sender<ControlResponse>)>;

/// The largest request message (gRPC's usual bound): ~50k announcements
/// ([`crate::sources::MAX_PER_REQUEST`]); a larger one is refused before it is read whole.
pub const MAX_REQUEST_BYTES: usize = 4 << 20;
/// Control connections served at once; one more waits in the kernel's backlog.
pub const MAX_CONTROL_CONNECTIONS: usize = 64;
/// Calls in progress over all connections; more wait their turn.
pub const MAX_CALLS_IN_PROGRESS: usize = 16;
/// Calls one connection may have open at once (HTTP/2 streams).
pub const MAX_CALLS_PER_CONNECTION: u32 = 128;
/// How long a new connection may take to start talking HTTP/2, and a call to be answered
/// (a drain's wait comes on top).
pub const CONTROL_DEADLINE: Duration = Duration::from_secs(30);
