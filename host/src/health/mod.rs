//! Health checks of the services behind announcements (`[health_checks.NAME]`): the probes
//! (`probe`: tcp, http, exec, on tokio) and the pure machine that turns their results into a
//! verdict without flapping (`machine`). The daemon keeps one machine per check
//! (`daemon/health.rs`) and announces a route only while every check it names is up.
//!
//! The probes live in the host, next to the sessions, never in a plugin: they need sockets and
//! child processes, which the plugin sandbox does not give.

pub mod machine;
pub mod probe;

pub use machine::{Machine, Status};
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
