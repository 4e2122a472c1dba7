//! gracewire: a BGP speaker with native Graceful Restart whose routing policy lives in
//! WebAssembly plugins. The library holds the pure protocol parts (`wire`, `fsm`, `rib`) and the
//! tokio tasks that drive them (`daemon`, `session`).

pub mod api;
pub mod bfd;
pub mod bounds;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod fsm;
pub mod fuzzing;
pub mod gr;
pub mod health;
pub mod heap;
pub mod http;
pub mod listener;
pub mod plugins;
pub mod policy;
pub mod private;
pub mod rib;
pub mod session;
pub mod sockopt;
pub mod sources;
pub mod takeover;
pub mod text;
pub mod wire;
