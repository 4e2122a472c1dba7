//! The daemon driven without sockets: one file per concern, all through [`harness`].

mod harness;
mod inputs;

mod architecture;
mod bfd;
mod connections;
mod events;
mod health;
mod helper;
mod ingest;
mod interners;
mod limits;
mod long_lived;
mod metrics;
mod next_hops;
mod operate;
mod plan;
mod plugins;
mod races;
mod reload;
mod restart;
mod roles;
mod rules;
mod sources;
mod takeover;
mod update_groups;
