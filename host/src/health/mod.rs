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
