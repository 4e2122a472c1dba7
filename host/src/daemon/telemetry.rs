//! What the daemon counts for its metrics beyond what its state already says: reloads, plugin
//! calls, errors and call durations (kept across plugin swaps, so they only grow), and GR
//! restarts (kept in the restart record, across processes).

use crate::plugins::{PluginError, PluginKind};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabels {
    pub kind: String,
}

fn call_histogram() -> Histogram {
    // 10 µs .. ~2.6 s: a GR profile call is ~1 µs... a 100k-route batch tens of ms.
    Histogram::new(exponential_buckets(1e-5, 4.0, 10))
}

pub(crate) struct Telemetry {
    pub reloads_ok: u64,
    pub reloads_refused: u64,
    pub plugin_calls: BTreeMap<PluginKind, u64>,
    pub plugin_errors: BTreeMap<(PluginKind, &'static str), u64>,
    pub plugin_seconds: Family<KindLabels, Histogram, fn() -> Histogram>,
    /// Starts that were graceful restarts, this one included.
    pub restarts: u64,
    /// Connections from addresses that are no configured peer, closed at once.
    pub strangers: u64,
    pub strangers_unlogged: u64,
    pub stranger_logged: Option<std::time::Instant>,
    /// Evaluations answered with an alike peer's table (see `BuiltTables`).
    pub tables_reused: u64,
    /// Sessions taken over from the previous process at start, and those it handed over that
    /// could not be resumed (`crate::takeover`).
    pub takeover_resumed: u64,
    pub takeover_declined: u64,
    /// Takeovers that failed after this process paused its sessions: they went on here.
    pub takeover_failed: u64,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            reloads_ok: 0,
            reloads_refused: 0,
            plugin_calls: BTreeMap::new(),
            plugin_errors: BTreeMap::new(),
            plugin_seconds: Family::new_with_constructor(call_histogram),
            restarts: 0,
            strangers: 0,
            strangers_unlogged: 0,
            stranger_logged: None,
            tables_reused: 0,
            takeover_resumed: 0,
            takeover_declined: 0,
            takeover_failed: 0,
        }
    }
}

impl Telemetry {
    pub fn plugin_call(&mut self, kind: PluginKind, took: Duration) {
        *self.plugin_calls.entry(kind).or_default() += 1;
        let labels = KindLabels {
            kind: kind.name().into(),
        };
        self.plugin_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub fn plugin_error(&mut self, kind: PluginKind, e: &PluginError) {
        *self.plugin_errors.entry((kind, e.reason())).or_default() += 1;
    }
}
