//! The Prometheus exposition (`/metrics`), built from the daemon's state at each scrape with
//! `prometheus-client`: gauges say what is, counters what has happened (they live in the
//! per-peer state and in [`super::telemetry`], across sessions, reloads and plugin swaps).
//! Every name, type and label is documented in docs/operations.md ("Metrics").

use super::health::CheckLabels;
use super::Daemon;
use crate::api::ProcessStats;
use crate::config::FamilyName;
use crate::fsm::State;
use crate::plugins::PluginKind;
use crate::policy::DrainState;
use crate::session::counters::{Direction, KINDS};
use crate::wire::Family as AddressFamily;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerFamilyLabels {
    peer: String,
    family: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    peer: String,
    code: String,
    subcode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindReasonLabels {
    kind: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    kind: String,
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginInfoLabels {
    kind: String,
    version: String,
    path: String,
}

type Gauges<L> = Family<L, Gauge>;
type Counters<L> = Family<L, Counter>;

/// The BGP4-MIB `bgpPeerState` numbering (RFC 4273).
fn state_number(s: State) -> i64 {
    match s {
        State::Idle => 1,
        State::Connect => 2,
        State::Active => 3,
        State::OpenSent => 4,
        State::OpenConfirm => 5,
        State::Established => 6,
    }
}

fn gauges<L>(r: &mut Registry, name: &str, help: &str) -> Gauges<L>
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let f = Gauges::<L>::default();
    r.register(name, help, f.clone());
    f
}

fn counters<L>(r: &mut Registry, name: &str, help: &str) -> Counters<L>
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let f = Counters::<L>::default();
    r.register(name, help, f.clone());
    f
}

fn gauge(r: &mut Registry, name: &str, help: &str, v: i64) {
    let g = Gauge::<i64>::default();
    g.set(v);
    r.register(name, help, g);
}

fn counter(r: &mut Registry, name: &str, help: &str, v: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(v);
    r.register(name, help, c);
}

impl Daemon {
    /// The OpenMetrics text of every gracewire metric, and the process's own.
    pub(crate) fn metrics(&self, process: &ProcessStats) -> String {
        let mut root = Registry::default();
        let r = root.sub_registry_with_prefix("gracewire");
        self.bgp_metrics(r);
        self.gr_metrics(r);
        self.plugin_metrics(r);
        self.bfd_metrics(r);
        self.health_metrics(r);
        let announced = gauges::<SourceLabels>(
            r,
            "announcements",
            "Announcements by source: `config` (the config file) and each controller's (gracewire announce)",
        );
        for (source, n) in self.announced.counts() {
            let source = source.to_string();
            announced
                .get_or_create(&SourceLabels { source })
                .set(n as i64);
        }
        gauge(
            r,
            "drain_state",
            "Drain (RFC 8326): 0 off, 1 announcing GRACEFUL_SHUTDOWN, 2 withdrawn",
            match self.leaving.state() {
                DrainState::Off => 0,
                DrainState::Announcing => 1,
                DrainState::Withdrawn => 2,
            },
        );
        let limits = counters::<LimitLabels>(
            r,
            "limit_reached",
            "Times a limit of the Limits table (docs/security.md) was reached, by limit (logged once a minute)",
        );
        for l in crate::bounds::Limit::ALL {
            limits
                .get_or_create(&LimitLabels {
                    limit: l.name().into(),
                })
                .inc_by(crate::bounds::count(l));
        }
        let reloads = counters::<ResultLabels>(
            r,
            "config_reloads",
            "Config reloads (SIGHUP), by result: ok, refused",
        );
        for (result, n) in [
            ("ok", self.telemetry.reloads_ok),
            ("refused", self.telemetry.reloads_refused),
        ] {
            reloads
                .get_or_create(&ResultLabels {
                    result: result.into(),
                })
                .inc_by(n);
        }
        counter(
            r,
            "bgp_connections_refused",
            "Connections from addresses that are no configured peer, closed at once",
            self.telemetry.strangers,
        );
        process_metrics(&mut root, process);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &root);
        out
    }

    fn health_metrics(&self, r: &mut Registry) {
        let up = gauges::<CheckLabels>(
            r,
            "health_check_up",
            "1 while the check is up (its routes announced); 0 while down or not yet known",
        );
        let transitions = counters::<CheckLabels>(
            r,
            "health_check_transitions",
            "Changes of the check's verdict (unknown, up, down) since the process started",
        );
        r.register(
            "health_check_duration_seconds",
            "Duration of each probe, passed or failed",
            self.health.seconds.clone(),
        );
        for (name, is_up, changes) in self.health.figures() {
            let check = CheckLabels {
                check: name.to_string(),
            };
            up.get_or_create(&check).set(is_up as i64);
            transitions.get_or_create(&check).inc_by(changes);
        }
    }

    fn bfd_metrics(&self, r: &mut Registry) {
        let up = gauges::<PeerLabels>(r, "bfd_session_up", "1 while the peer's BFD session is Up");
        let failures = counters::<PeerLabels>(
            r,
            "bfd_failures",
            "Times the BFD session lost Up to a failure (each ended the BGP session)",
        );
        let detection = Family::<PeerLabels, Gauge<f64, AtomicU64>>::default();
        r.register(
            "bfd_detection_time_seconds",
            "The detection time in force: the remote's multiplier times the slower interval",
            detection.clone(),
        );
        for (name, p) in &self.peers {
            let Some(b) = &p.bfd else { continue };
            let peer = PeerLabels {
                peer: name.to_string(),
            };
            up.get_or_create(&peer)
                .set((b.state == crate::bfd::State::Up) as i64);
            failures.get_or_create(&peer).inc_by(b.failures);
            if let Some(d) = b.detection_time {
                detection.get_or_create(&peer).set(d.as_secs_f64());
            }
        }
    }

    fn bgp_metrics(&self, r: &mut Registry) {
        let up = gauges::<PeerLabels>(
            r,
            "bgp_session_up",
            "1 while the BGP session is Established",
        );
        let state = gauges::<PeerLabels>(r, "bgp_session_state", "FSM state, numbered as BGP4-MIB bgpPeerState: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established");
        let established = counters::<PeerLabels>(
            r,
            "bgp_session_established",
            "Sessions that reached Established",
        );
        let announced = gauges::<PeerFamilyLabels>(
            r,
            "bgp_announced_prefixes",
            "Prefixes in the peer's Adj-RIB-Out",
        );
        let received = gauges::<PeerFamilyLabels>(
            r,
            "bgp_received_prefixes",
            "Prefixes in the peer's Adj-RIB-In",
        );
        let limit = gauges::<PeerFamilyLabels>(
            r,
            "bgp_max_prefixes",
            "The peer's max_prefixes for the family (only families with a limit)",
        );
        let warning = gauges::<PeerFamilyLabels>(
            r,
            "bgp_max_prefix_warning",
            "1 while the received prefixes are at max_prefix_warning percent of max_prefixes or more",
        );
        let messages: Vec<[Counters<PeerLabels>; 2]> = KINDS
            .iter()
            .map(|kind| {
                [Direction::Sent, Direction::Received].map(|d| {
                    let dir = if d == Direction::Sent {
                        "sent"
                    } else {
                        "received"
                    };
                    let help = format!("{} {dir}", kind.replace('_', "-").to_uppercase());
                    counters::<PeerLabels>(r, &format!("bgp_{kind}_{dir}"), &help)
                })
            })
            .collect();
        let coalesced = counters::<PeerLabels>(
            r,
            "bgp_route_refresh_coalesced",
            "ROUTE-REFRESH requests dropped while the last answer was still queued (a limit)",
        );
        let notifications = [Direction::Sent, Direction::Received].map(|d| {
            let dir = if d == Direction::Sent {
                "sent"
            } else {
                "received"
            };
            let help = format!("NOTIFICATIONs {dir}, by error code and subcode");
            counters::<NotificationLabels>(r, &format!("bgp_notifications_by_code_{dir}"), &help)
        });
        for (name, p) in &self.peers {
            let peer = PeerLabels {
                peer: name.to_string(),
            };
            up.get_or_create(&peer).set(p.up.is_some() as i64);
            state.get_or_create(&peer).set(state_number(p.fsm_state));
            established
                .get_or_create(&peer)
                .inc_by(p.totals.established);
            for f in AddressFamily::ALL {
                let labels = PeerFamilyLabels {
                    peer: name.to_string(),
                    family: f.name().into(),
                };
                let sent = p
                    .adj_out
                    .iter()
                    .filter(|(prefix, _)| AddressFamily::of_prefix(prefix) == f)
                    .count();
                announced.get_or_create(&labels).set(sent as i64);
                let count = self.ingest.rib().count(p.rib_id, f);
                received.get_or_create(&labels).set(count as i64);
                if let Some(&max) = p.cfg.max_prefixes.get(&FamilyName(f)) {
                    limit.get_or_create(&labels).set(max as i64);
                    let warn_at = super::limits::warn_at(max, p.cfg.max_prefix_warning);
                    warning
                        .get_or_create(&labels)
                        .set((count as u64 >= warn_at) as i64);
                }
            }
            for (kind, pair) in messages.iter().enumerate() {
                for (i, d) in [Direction::Sent, Direction::Received]
                    .into_iter()
                    .enumerate()
                {
                    pair[i]
                        .get_or_create(&peer)
                        .inc_by(p.totals.messages.get(d, kind));
                }
            }
            coalesced
                .get_or_create(&peer)
                .inc_by(p.totals.messages.coalesced_refreshes());
            for ((d, code, subcode), n) in p.totals.messages.notifications() {
                let labels = NotificationLabels {
                    peer: name.to_string(),
                    code: code.to_string(),
                    subcode: subcode.to_string(),
                };
                notifications[(d == Direction::Received) as usize]
                    .get_or_create(&labels)
                    .inc_by(n);
            }
        }
    }

    fn gr_metrics(&self, r: &mut Registry) {
        let restarting = gauges::<PeerLabels>(
            r,
            "gr_peer_restarting",
            "1 while we keep the peer's routes as its GR helper (RFC 4724 §4.2)",
        );
        let stale = gauges::<PeerLabels>(
            r,
            "gr_stale_routes",
            "The peer's routes kept stale while it restarts",
        );
        let eor = Family::<PeerLabels, Gauge<f64, AtomicU64>>::default();
        r.register(
            "gr_end_of_rib_seconds",
            "From daemon start to our End-of-RIB in the peer's current session",
            eor.clone(),
        );
        for (name, p) in &self.peers {
            let peer = PeerLabels {
                peer: name.to_string(),
            };
            restarting
                .get_or_create(&peer)
                .set(p.gr.helper.is_active() as i64);
            let stale_routes = if p.gr.helper.is_active() {
                self.ingest
                    .rib()
                    .routes_of(p.rib_id)
                    .filter(|(_, r, _)| r.stale)
                    .count()
            } else {
                0
            };
            stale.get_or_create(&peer).set(stale_routes as i64);
            if let Some(at) = p.up.as_ref().and_then(|u| u.eor_sent) {
                eor.get_or_create(&peer).set(at.as_secs_f64());
            }
        }
        counter(
            r,
            "gr_restarts",
            "Starts of gracewire that were graceful restarts, across processes (kept in state_dir)",
            self.telemetry.restarts,
        );
        gauge(
            r,
            "gr_selection_deferred",
            "1 while route selection waits for End-of-RIB after our restart (RFC 4724 §4.1)",
            self.own_restart.deferral.is_deferring() as i64,
        );
        gauge(
            r,
            "gr_restarting",
            "1 while our restart window is open (first OPENs carry R=1)",
            self.own_restart.restarting() as i64,
        );
        let groups: std::collections::BTreeSet<u64> = self
            .peers
            .values()
            .filter(|p| !p.adj_out.is_empty())
            .map(|p| p.adj_out.table_id())
            .collect();
        gauge(
            r,
            "update_groups",
            "Distinct Adj-RIB-Outs held: peers sent the same routes share one (update groups)",
            groups.len() as i64,
        );
        counter(
            r,
            "adj_rib_out_tables_reused",
            "Evaluations that came out as one an alike peer had, answered with that peer's table (not built again)",
            self.telemetry.tables_reused,
        );
        let taken = gauges::<ResultLabels>(
            r,
            "takeover_sessions",
            "Sessions this process took over from the previous one at start (result=resumed), and those it could not resume (result=declined: their peers are in graceful restart)",
        );
        for (result, n) in [
            ("resumed", self.telemetry.takeover_resumed),
            ("declined", self.telemetry.takeover_declined),
        ] {
            let labels = ResultLabels {
                result: result.into(),
            };
            taken.get_or_create(&labels).set(n as i64);
        }
        counter(
            r,
            "takeovers_failed",
            "Takeovers that failed after this process paused its sessions for the new one: they went on here, and BFD started again",
            self.telemetry.takeover_failed,
        );
    }

    fn plugin_metrics(&self, r: &mut Registry) {
        let calls = counters::<KindLabels>(r, "plugin_calls", "Plugin calls (decide, tag, timers)");
        let errors = counters::<KindReasonLabels>(r, "plugin_errors", "Plugin failures, by reason: read, compile, wrong-world, init-rejected, trap, timeout, invalid-answer");
        let swaps = counters::<KindLabels>(r, "plugin_swaps", "New plugin versions put in service");
        let rejections = counters::<KindLabels>(
            r,
            "plugin_rejections",
            "New plugin versions rejected (the running one stayed)",
        );
        let info = gauges::<PluginInfoLabels>(
            r,
            "plugin_info",
            "The plugin version in service (SHA-256 prefix), 1 per kind",
        );
        r.register(
            "plugin_call_duration_seconds",
            "Duration of plugin calls",
            self.telemetry.plugin_seconds.clone(),
        );
        for kind in PluginKind::ALL {
            let labels = KindLabels {
                kind: kind.name().into(),
            };
            calls
                .get_or_create(&labels)
                .inc_by(self.telemetry.plugin_calls.get(&kind).copied().unwrap_or(0));
            let status = self.plugin_status.get(&kind).cloned().unwrap_or_default();
            swaps.get_or_create(&labels).inc_by(status.swaps);
            rejections.get_or_create(&labels).inc_by(status.rejections);
            if let Some(active) = self.export.policy.get(kind) {
                let labels = PluginInfoLabels {
                    kind: kind.name().into(),
                    version: active.plugin.sha256.clone(),
                    path: active.path.display().to_string(),
                };
                info.get_or_create(&labels).set(1);
            }
        }
        let per_rule = gauges::<RuleLabels>(
            r,
            "plugin_rule_routes",
            "Routes announced under each plugin rule, counted once per Established peer (rule=\"\" for outcomes without a name)",
        );
        for ((kind, rule), n) in self.routes_per_rule() {
            let labels = RuleLabels {
                kind: kind.into(),
                rule,
            };
            per_rule.get_or_create(&labels).set(n as i64);
        }
        for ((kind, reason), n) in &self.telemetry.plugin_errors {
            let labels = KindReasonLabels {
                kind: kind.name().into(),
                reason: (*reason).into(),
            };
            errors.get_or_create(&labels).inc_by(*n);
        }
    }

    /// Configured peers whose session has not left Idle yet.
    pub(crate) fn not_attempted(&self) -> Vec<String> {
        self.peers
            .iter()
            .filter(|(_, p)| !p.attempted)
            .map(|(n, _)| n.to_string())
            .collect()
    }
}

/// The standard `process_*` metrics, unprefixed, as every Prometheus client library names them.
fn process_metrics(root: &mut Registry, p: &ProcessStats) {
    gauge(
        root,
        "process_resident_memory_bytes",
        "Resident memory size in bytes",
        p.resident_memory_bytes as i64,
    );
    gauge(
        root,
        "process_open_fds",
        "Number of open file descriptors",
        p.open_fds as i64,
    );
    let cpu = Counter::<f64, AtomicU64>::default();
    cpu.inc_by(p.cpu_seconds);
    root.register(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds",
        cpu,
    );
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(p.start_time_seconds);
    root.register(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds",
        g,
    );
}
