//! Bidirectional Forwarding Detection (RFC 5880 asynchronous mode; RFC 5881 single hop,
//! RFC 5883 multihop), written by hand: no maintained Rust crate implements a BFD session
//! (the crates that exist are packet parsers or abandoned), and the machine is small.
//!
//! - `packet.rs`: Control packets <-> bytes and the packet-only reception checks;
//! - `session.rs`: one session's state machine, sans-IO;
//! - `io.rs`: the task that owns every session, its sockets and timers;
//! - `sockets.rs`: the send and receive sockets, and reading a datagram with its TTL;
//! - `handover.rs`: what a planned restart or a takeover hands the next process.

pub mod handover;
pub mod io;
pub mod packet;
pub mod session;
mod sockets;

pub use handover::Inherited;
pub use packet::{Diag, Discard, Packet, State};
pub use session::{Change, Input, Output, Params, Session};
