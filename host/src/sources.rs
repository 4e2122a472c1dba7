//! Announcement sources: who asked for each announced prefix. The config file's `[[announce]]`
//! entries are the source `config`; a controller names its own source and sets, adds or
//! deletes its announcements over the control socket (`gracewire announce`). Each prefix has
//! one source: a prefix that a second source claims is refused, both named, so two controllers
//! (or a controller and the file) never fight over a route.
//!
//! Sources set this way are kept in `state_dir/announcements.json` (mode 0600, written to a
//! temporary file and renamed), written before the request is answered, and read by the next
//! process (a restart or a takeover) before it sends any peer its first table: a restart
//! keeps them as it keeps the config's.
//!
//! Every entry is checked as a config `[[announce]]` entry is, with the same messages, and
//! a change is checked whole before any of it applies: a refused request changes nothing.
//!
//! Bounds (each refusal names it): [`MAX_PER_REQUEST`] announcements in one request,
//! [`MAX_ANNOUNCEMENTS`] over all sources set this way, [`MAX_SOURCES`] sources, and a state
//! file of at most [`MAX_FILE_BYTES`].

use crate::config::validate::announcement;
use crate::config::{Announce, Config};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The source of the config file's announcements; changed by editing the file and reloading.
pub const CONFIG: &str = "config";
/// Announcements one request may carry (a 4 MiB request holds ~50k of real ones).
pub const MAX_PER_REQUEST: usize = 50_000;
/// Announcements all controllers' sources may hold together.
pub const MAX_ANNOUNCEMENTS: usize = 200_000;
/// Controllers' sources at once.
pub const MAX_SOURCES: usize = 64;
/// The longest source name.
pub const MAX_NAME: usize = 64;
/// The file in `state_dir` that keeps the controllers' sources.
pub const FILE: &str = "announcements.json";
/// A longer state file is not ours to trust ([`MAX_ANNOUNCEMENTS`] take ~30 MB at most).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

pub use crate::api::Code;

/// A refused change: nothing of it applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: Code,
    pub message: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

fn refuse<T>(code: Code, message: impl Into<String>) -> Result<T, Refused> {
    Err(Refused {
        code,
        message: message.into(),
    })
}

/// What a request does to its source.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The source's whole set becomes this (empty: the source goes).
    Set(Vec<serde_json::Value>),
    /// These are added, or replace the source's own entry for their prefix.
    Add(Vec<serde_json::Value>),
    /// These prefixes leave the source; each must be in it.
    Delete(Vec<String>),
}

/// The announcements of every controller's source, by source and prefix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    api: BTreeMap<String, BTreeMap<IpNet, Announce>>,
}

/// What a change did, for the answer and the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    /// The source's announcements after it.
    pub now: usize,
}

/// `state_dir/announcements.json`.
#[derive(Serialize, Deserialize)]
struct SavedFile {
    version: u32,
    sources: BTreeMap<String, Vec<serde_json::Value>>,
}

const FILE_VERSION: u32 = 1;

impl Sources {
    /// The controllers' sources and their announcements, by source.
    pub fn iter(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = &Announce>)> {
        self.api.iter().map(|(s, a)| (s.as_str(), a.values()))
    }

    /// Every announcement of the controllers' sources.
    pub fn announcements(&self) -> impl Iterator<Item = &Announce> {
        self.api.values().flat_map(|a| a.values())
    }

    pub fn len(&self) -> usize {
        self.api.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.api.is_empty()
    }

    /// The sources after `change` to `source`, checked against `config` (its health checks
    /// and plugins), the config's announcements (`configured` tells its prefixes) and the
    /// other sources; `self` is left as it is.
    pub fn changed(
        &self,
        source: &str,
        change: Change,
        config: &Config,
        configured: &dyn Fn(&IpNet) -> bool,
    ) -> Result<(Sources, Delta), Refused> {
        source_name(source)?;
        let old = self.api.get(source);
        let mut set = match &change {
            Change::Set(_) => BTreeMap::new(),
            Change::Add(_) | Change::Delete(_) => old.cloned().unwrap_or_default(),
        };
        match change {
            Change::Set(entries) | Change::Add(entries) => {
                let entries = self.parse(source, entries, config, configured)?;
                for a in entries {
                    set.insert(a.prefix.0, a);
                }
            }
            Change::Delete(prefixes) => {
                if old.is_none() {
                    return refuse(Code::NotFound, format!("no source `{source}`"));
                }
                for (i, p) in prefixes.iter().enumerate() {
                    let net = parse_prefix(p).map_err(|m| Refused {
                        code: Code::InvalidArgument,
                        message: format!("prefixes[{i}]: {m}"),
                    })?;
                    if set.remove(&net).is_none() {
                        let message = format!("prefixes[{i}]: {net} is not in source `{source}`");
                        return refuse(Code::NotFound, message);
                    }
                }
            }
        }
        let mut next = self.clone();
        let delta = delta(old, &set);
        match set.is_empty() {
            true => next.api.remove(source),
            false => next.api.insert(source.to_string(), set),
        };
        if next.api.len() > MAX_SOURCES {
            let message = format!("{MAX_SOURCES} sources at most (MAX_SOURCES)");
            return refuse(Code::ResourceExhausted, message);
        }
        if next.len() > MAX_ANNOUNCEMENTS {
            let message = format!(
                "{} announcements over all sources, {MAX_ANNOUNCEMENTS} at most (MAX_ANNOUNCEMENTS)",
                next.len()
            );
            return refuse(Code::ResourceExhausted, message);
        }
        Ok((next, delta))
    }

    /// Each entry read and checked as `[[announce]]` is, and against every other source.
    fn parse(
        &self,
        source: &str,
        entries: Vec<serde_json::Value>,
        config: &Config,
        configured: &dyn Fn(&IpNet) -> bool,
    ) -> Result<Vec<Announce>, Refused> {
        if entries.len() > MAX_PER_REQUEST {
            let message = format!(
                "{} announcements in one request, {MAX_PER_REQUEST} at most (MAX_PER_REQUEST): send them in parts with add",
                entries.len()
            );
            return refuse(Code::ResourceExhausted, message);
        }
        let mut seen: BTreeMap<IpNet, usize> = BTreeMap::new();
        let mut out = Vec::with_capacity(entries.len());
        for (i, value) in entries.into_iter().enumerate() {
            let invalid = |field: &str, message: String| Refused {
                code: Code::InvalidArgument,
                message: format!("announcements[{i}]{field}: {message}"),
            };
            let a = serde_path_to_error::deserialize::<_, Announce>(value).map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    String::new()
                } else {
                    format!(".{path}")
                };
                invalid(&field, e.into_inner().to_string())
            })?;
            let net = a.prefix.0;
            if let Some(first) = seen.insert(net, i) {
                let message = format!("{net} is given twice (already announcements[{first}])");
                return Err(invalid(".prefix", message));
            }
            if configured(&net) {
                let message = format!("{net} is announced by source `{CONFIG}` (the config file)");
                return Err(Refused {
                    code: Code::FailedPrecondition,
                    ..invalid(".prefix", message)
                });
            }
            if let Some(other) = self.owner(&net).filter(|o| *o != source) {
                let message = format!("{net} is announced by source `{other}`");
                return Err(Refused {
                    code: Code::FailedPrecondition,
                    ..invalid(".prefix", message)
                });
            }
            announcement(&a, config).map_err(|(field, message)| {
                let code = match field.as_str() {
                    "health" | "when_down" => Code::FailedPrecondition,
                    _ => Code::InvalidArgument,
                };
                Refused {
                    code,
                    ..invalid(&format!(".{field}"), message)
                }
            })?;
            out.push(a);
        }
        Ok(out)
    }

    /// The controller's source that announces `net`.
    pub fn owner(&self, net: &IpNet) -> Option<&str> {
        let mut owners = self.api.iter().filter(|(_, a)| a.contains_key(net));
        owners.next().map(|(s, _)| s.as_str())
    }

    /// Whether `config` (a reload, its announcements not yet taken) can run with these
    /// sources: none of its announcements is one of theirs, and the checks and plugins they
    /// need are still there.
    pub fn fit(&self, config: &Config) -> Result<(), String> {
        if self.api.is_empty() {
            return Ok(());
        }
        for a in config.announcements() {
            if let Some(source) = self.owner(&a.prefix.0) {
                return Err(format!(
                    "announce: {} is announced by source `{source}` (set over the control socket); \
                     delete it there first (`gracewire announce delete --source {source} {}`)",
                    a.prefix.0, a.prefix.0
                ));
            }
        }
        for (source, set) in &self.api {
            for a in set.values() {
                if let Err((field, message)) = announcement(a, config) {
                    return Err(format!(
                        "source `{source}`, {} {field}: {message}",
                        a.prefix.0
                    ));
                }
            }
        }
        Ok(())
    }

    /// The state file's bytes.
    pub fn to_file(&self) -> Vec<u8> {
        let sources = self.api.iter().map(|(s, set)| {
            let entries = set
                .values()
                .map(|a| serde_json::to_value(a).expect("announcement as JSON"));
            (s.clone(), entries.collect())
        });
        let saved = SavedFile {
            version: FILE_VERSION,
            sources: sources.collect(),
        };
        serde_json::to_vec(&saved).expect("sources as JSON")
    }

    /// The sources a state file keeps, each checked as [`Sources::changed`] does; an entry
    /// that no longer fits (its prefix now in the config, a check gone) is left out, and
    /// named in the list returned with them.
    pub fn from_file(
        bytes: &[u8],
        config: &Config,
        configured: &dyn Fn(&IpNet) -> bool,
    ) -> Result<(Sources, Vec<String>), String> {
        let saved: SavedFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if saved.version != FILE_VERSION {
            return Err(format!(
                "version {} (this build reads {FILE_VERSION})",
                saved.version
            ));
        }
        let mut sources = Sources::default();
        let mut dropped = Vec::new();
        for (source, entries) in saved.sources {
            let named = source_name(&source);
            let room = match sources.api.len() >= MAX_SOURCES {
                true => refuse(Code::ResourceExhausted, "MAX_SOURCES"),
                false => Ok(()),
            };
            if let Err(e) = named.and(room) {
                dropped.push(format!(
                    "source `{}` ({} entries): {e}",
                    crate::text::Escaped(&source),
                    entries.len()
                ));
                continue;
            }
            let mut set = BTreeMap::new();
            let mut held = sources.len();
            for (i, value) in entries.into_iter().enumerate() {
                let entry = match held >= MAX_ANNOUNCEMENTS {
                    true => refuse(Code::ResourceExhausted, "MAX_ANNOUNCEMENTS"),
                    false => sources.parse(&source, vec![value], config, configured),
                };
                match entry.map(|mut a| a.remove(0)) {
                    Ok(a) if set.contains_key(&a.prefix.0) => {
                        dropped.push(format!("source `{source}` entry {i}: {} twice", a.prefix.0));
                    }
                    Ok(a) => {
                        set.insert(a.prefix.0, a);
                        held += 1;
                    }
                    Err(e) => dropped.push(format!("source `{source}` entry {i}: {e}")),
                }
            }
            if !set.is_empty() {
                sources.api.insert(source, set);
            }
        }
        Ok((sources, dropped))
    }
}

fn delta(old: Option<&BTreeMap<IpNet, Announce>>, new: &BTreeMap<IpNet, Announce>) -> Delta {
    let empty = BTreeMap::new();
    let old = old.unwrap_or(&empty);
    let mut d = Delta {
        now: new.len(),
        ..Delta::default()
    };
    for (net, a) in new {
        match old.get(net) {
            None => d.added += 1,
            Some(o) if o != a => d.changed += 1,
            Some(_) => {}
        }
    }
    d.removed = old.keys().filter(|n| !new.contains_key(*n)).count();
    d
}

/// A source is named as a config key would be: `[a-z0-9._-]`, 1 to [`MAX_NAME`] characters.
fn source_name(source: &str) -> Result<(), Refused> {
    if source == CONFIG {
        let message =
            "source `config` is the config file's `[[announce]]`: edit the file and reload";
        return refuse(Code::FailedPrecondition, message);
    }
    let good = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    if source.is_empty() || source.len() > MAX_NAME || !source.chars().all(good) {
        let message = format!(
            "source: `{}` is not a source name (1 to {MAX_NAME} of a-z 0-9 . _ -)",
            crate::text::Escaped(source)
        );
        return refuse(Code::InvalidArgument, message);
    }
    Ok(())
}

fn parse_prefix(p: &str) -> Result<IpNet, String> {
    let value = serde_json::Value::String(p.to_string());
    crate::config::Prefix::deserialize(value)
        .map(|p| p.0)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;

/// The entries of a file for `gracewire announce set|add --file`: `[[announce]]` tables as in
/// the config (TOML), or a JSON array of the same entries. Checked by the daemon, not here.
pub fn entries_from_text(text: &str) -> Result<Vec<serde_json::Value>, String> {
    if let Ok(entries) = serde_json::from_str(text) {
        return Ok(entries);
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        announce: Vec<toml::Value>,
    }
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let entries = file
        .announce
        .into_iter()
        .map(|t| serde_json::to_value(t).map_err(|e| e.to_string()));
    entries.collect()
}
