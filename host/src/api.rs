//! The operator surface: a Unix control socket that answers one JSON request per line, and the
//! client side used by `gracewire show`.

use crate::daemon::Daemon;
use crate::wire::{NextHop, PathAttributes};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// One request per line on the control socket, e.g. `{"cmd":"neighbors"}` or
/// `{"cmd":"drain","wait_secs":30}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum ControlRequest {
    /// Sessions and their counters.
    Neighbors,
    /// Routes received from peers (Adj-RIB-In), with the best marked.
    Routes {
        #[serde(default, flatten)]
        filter: RouteFilter,
    },
    /// Routes sent to peers (Adj-RIB-Out).
    Advertised {
        #[serde(default, flatten)]
        filter: RouteFilter,
    },
    /// Plugins in service, their versions and counters.
    Plugins,
    /// RFC 8326 drain: announce with GRACEFUL_SHUTDOWN, wait, withdraw. Answered when withdrawn.
    /// `if_marked`: only when `decommission` marked the daemon (a preStop hook).
    Drain {
        wait_secs: Option<u64>,
        #[serde(default)]
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
    /// What a candidate config and/or plugin files would change at each peer, evaluated as a
    /// reload or swap would and applied nowhere. Paths are absolute.
    Plan {
        #[serde(default)]
        config: Option<PathBuf>,
        #[serde(default)]
        plugins: Vec<(crate::plugins::PluginKind, PathBuf)>,
    },
}

/// Figures of the process itself, read from /proc by the metrics server.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct ProcessStats {
    pub resident_memory_bytes: u64,
    pub cpu_seconds: f64,
    pub start_time_seconds: f64,
    pub open_fds: u64,
}

/// Which routes `show routes` / `show advertised` list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RouteFilter {
    /// Only this peer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// A prefix (the routes it covers, itself included) or an address (the routes covering it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ControlResponse {
    Neighbors(Vec<PeerSummary>),
    Plugins(Vec<PluginView>),
    Routes {
        loc_rib_prefixes: usize,
        /// After our own restart, best-route selection waits for End-of-RIB from GR peers.
        selection_deferred: bool,
        routes: Vec<RouteView>,
    },
    Error {
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerSummary {
    pub name: String,
    pub address: IpAddr,
    pub asn: u32,
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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GrView {
    /// R: the sender was restarting.
    pub restart_state: bool,
    /// N: RFC 8538 graceful NOTIFICATIONs.
    pub notification: bool,
    pub restart_time: u16,
    /// Family and F bit (forwarding state preserved).
    pub families: Vec<(String, bool)>,
    /// Long-lived GR (RFC 9494), from the LLGR capability beside it: family and stale time in
    /// seconds, for the families with a stale time above 0.
    #[serde(default)]
    pub long_lived: Vec<(String, u32)>,
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
                .map(|f| (name(f.family(), f.afi, f.safi), f.stale_time))
                .collect(),
            restart_state: cap.restart_state,
            notification: cap.notification,
            restart_time: cap.restart_time,
            families: cap
                .families
                .iter()
                .map(|f| (name(f.family(), f.afi, f.safi), f.forwarding_preserved))
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
    pub stale: bool,
    pub best: bool,
    /// For an advertised route: who decided it, one entry per plugin kind that took part
    /// (`config` alone when none did). Empty for received routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decided_by: Vec<DecidedBy>,
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
            stale,
            best,
            decided_by: Vec::new(),
        }
    }
}

pub(crate) fn respond(req: ControlRequest, d: &Daemon) -> ControlResponse {
    match req {
        ControlRequest::Neighbors => ControlResponse::Neighbors(d.peer_summaries()),
        ControlRequest::Plugins => ControlResponse::Plugins(d.plugin_views()),
        ControlRequest::Routes { filter } => routes(d, &filter, false),
        ControlRequest::Advertised { filter } => routes(d, &filter, true),
        ControlRequest::Metrics { process } => ControlResponse::Metrics {
            metrics: d.metrics(&process),
        },
        ControlRequest::Ready => {
            let not_attempted = d.not_attempted();
            ControlResponse::Ready {
                ready: not_attempted.is_empty(),
                not_attempted,
            }
        }
        other => ControlResponse::Error {
            error: format!("{other:?} is handled by the daemon loop"),
        },
    }
}

fn routes(d: &Daemon, filter: &RouteFilter, advertised: bool) -> ControlResponse {
    match filter.matcher() {
        Err(error) => ControlResponse::Error { error },
        Ok(keep) => ControlResponse::Routes {
            loc_rib_prefixes: d.loc_rib_len(),
            selection_deferred: d.selection_deferred(),
            routes: if advertised {
                d.advertised_routes(&keep)
            } else {
                d.received_routes(&keep)
            },
        },
    }
}

pub type ControlSender = mpsc::Sender<(ControlRequest, oneshot::Sender<ControlResponse>)>;

/// A request line longer than this is refused and the connection closed (the longest real
/// request, a route filter, is under 1 KiB).
pub const MAX_REQUEST_LINE: usize = 64 << 10;
/// Control connections served at once; one more waits in the kernel's backlog.
pub const MAX_CONTROL_CONNECTIONS: usize = 16;
/// How long a connection may take to send a request line, or to take the answer.
pub const CONTROL_DEADLINE: Duration = Duration::from_secs(30);

/// Serves the control socket until the daemon goes away.
pub async fn serve(path: PathBuf, daemon: ControlSender) -> std::io::Result<()> {
    // A socket left by a previous run (crash, SIGKILL) would make bind fail.
    let _ = std::fs::remove_file(&path);
    // Owner-only (0600) from the start: drain, reset and decommission are operator actions.
    let listener = crate::private::with_umask(0o177, || UnixListener::bind(&path))?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONTROL_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let slot = match slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    crate::bounds::reached(
                        crate::bounds::Limit::ControlConnections,
                        "control connections: the next waits in the kernel's backlog",
                    );
                    let Ok(slot) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    slot
                }
            };
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let daemon = daemon.clone();
            tokio::spawn(async move {
                if let Err(e) = handle(stream, daemon).await {
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::InvalidData | std::io::ErrorKind::TimedOut
                    ) {
                        crate::bounds::reached(crate::bounds::Limit::ControlRequest, &e);
                    }
                    warn!(error = %e, "control connection failed");
                }
                drop(slot);
            });
        }
    });
    Ok(())
}

/// One line of at most `max` bytes (newline not counted); `None` at the end of the stream.
/// A longer line is an error, read no further than `max` + 1 bytes.
pub async fn read_bounded_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncReadExt;
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(max as u64 + 1)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("request line over {max} bytes"),
        ));
    }
    Ok(Some(line))
}

/// An answer as its line on the socket.
fn answer_line(response: &ControlResponse) -> std::io::Result<Vec<u8>> {
    let mut out = serde_json::to_vec(response)?;
    out.push(b'\n');
    Ok(out)
}

async fn handle(stream: UnixStream, daemon: ControlSender) -> std::io::Result<()> {
    crate::private::check_peer(&stream)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let line = tokio::time::timeout(
            CONTROL_DEADLINE,
            read_bounded_line(&mut read, MAX_REQUEST_LINE),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request in time"))?;
        let line = match line {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                let refused = answer_line(&ControlResponse::Error {
                    error: format!("bad request: {e}"),
                })?;
                let _ = tokio::time::timeout(CONTROL_DEADLINE, write.write_all(&refused)).await;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let response = match serde_json::from_slice::<ControlRequest>(line.trim_ascii()) {
            Ok(req) => {
                let (tx, rx) = oneshot::channel();
                if daemon.send((req, tx)).await.is_err() {
                    return Ok(());
                }
                rx.await.unwrap_or(ControlResponse::Error {
                    error: "daemon stopped".into(),
                })
            }
            Err(e) => ControlResponse::Error {
                error: format!("bad request: {e}"),
            },
        };
        let out = answer_line(&response)?;
        tokio::time::timeout(CONTROL_DEADLINE, write.write_all(&out))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "answer not taken in time")
            })??;
    }
}

/// Client side: one request, the raw JSON answer.
pub async fn query(socket: &Path, req: ControlRequest) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let stream = UnixStream::connect(socket).await.with_context(|| {
        format!(
            "cannot reach {}: is `gracewire run` up? (--config names the daemon's config, \
             --socket its control socket)",
            socket.display()
        )
    })?;
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(&req)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    let mut lines = BufReader::new(read).lines();
    let answer = lines
        .next_line()
        .await?
        .context("no answer from gracewire")?;
    Ok(serde_json::from_str(&answer)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn request_lines_are_bounded() {
        let input: &[u8] = b"short\nexactly8\n123456789";
        let mut r = BufReader::new(input);
        assert_eq!(
            read_bounded_line(&mut r, 8).await.unwrap().unwrap(),
            b"short"
        );
        assert_eq!(
            read_bounded_line(&mut r, 8).await.unwrap().unwrap(),
            b"exactly8"
        );
        let err = read_bounded_line(&mut r, 8).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }

    /// A client that sends a line without end gets an error answer once it passes the bound,
    /// not a daemon buffering it; one that sends nothing keeps a slot only until the deadline.
    #[tokio::test]
    async fn a_control_client_cannot_send_an_endless_line() {
        let dir = std::env::temp_dir().join(format!("gw-api-{}", std::process::id()));
        crate::private::private_dir(&dir).unwrap();
        let path = dir.join("control.sock");
        let (tx, _rx) = mpsc::channel(1);
        serve(path.clone(), tx).await.unwrap();
        let stream = UnixStream::connect(&path).await.unwrap();
        let (read, mut write) = stream.into_split();
        let chunk = vec![b'x'; 16 << 10];
        for _ in 0..(MAX_REQUEST_LINE / chunk.len() + 1) {
            if write.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let answer = BufReader::new(read)
            .lines()
            .next_line()
            .await
            .unwrap()
            .unwrap();
        assert!(answer.contains("request line over 65536 bytes"), "{answer}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
