//! Health checks of the services behind announcements (`[health_checks.NAME]`): the probes
//! (`probe`: tcp, http, exec, on tokio) and the pure machine that turns their results into a
//! verdict without flapping (`machine`). The daemon keeps one machine per check
//! (`daemon/health.rs`) and announces a route only while every check it names is up.
//!
//! The probes live in the host, next to the sessions, never in a plugin: they need sockets and
//! child processes, which the plugin sandbox does not give.

pub mod machine;
pub mod probe;

pub use machine::{Machine, Saved, Status};
pub use probe::Report;

/// An operator's verdict (`gracewire health set NAME up|down`), in force over the probes'
/// until set back to `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forced {
    Up,
    Down,
}

impl Forced {
    pub fn as_str(self) -> &'static str {
        match self {
            Forced::Up => "up",
            Forced::Down => "down",
        }
    }
}

/// A check's machine as the restart record keeps it, with what it probed: a check whose probe
/// changed meanwhile (another address, URL or command) starts anew.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedCheck {
    pub probe: u64,
    #[serde(flatten)]
    pub machine: Saved,
}

/// What a check probes, as a number: FNV-1a over its fields, the same in every process that
/// reads the same config (a build that formats them otherwise only starts the check anew).
/// Timers and rise/fall are left out, so tuning them keeps the verdict.
pub fn probe_fingerprint(c: &crate::config::HealthCheck) -> u64 {
    let what = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        c.kind, c.address, c.url, c.expect_status, c.body_contains, c.command
    );
    what.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
