//! The checks that run once the file is deserialized: those that relate several entries
//! (duplicates, a peer's BFD profile, the family of a next hop) and those that read other files
//! (`password_file`). Each error names the field and carries the span of its entry, so the
//! message points at the line.

use super::{Announce, BfdProfile, Config, Peer, Secret};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// Where, which field, what is wrong.
pub(super) type Invalid = (Option<Range<usize>>, String, String);

/// A field of the entry being checked, and what is wrong with it.
pub(crate) type Problem = (String, String);

fn problem(field: impl Into<String>, message: impl Into<String>) -> Result<(), Problem> {
    Err((field.into(), message.into()))
}

/// Checks across entries.
pub(super) fn validate(config: &Config) -> Result<(), Invalid> {
    for (name, profile) in &config.bfd_profiles {
        if let Err((field, message)) = profile.get_ref().check() {
            return Err((
                Some(profile.span()),
                format!("bfd_profiles.{name}.{field}"),
                message,
            ));
        }
    }
    peers(&config.peers, &config.bfd_profiles, config.global.asn.0)?;
    announcements(config)?;
    health_checks(config)
}

/// Each check is valid, each announcement's checks exist, and each check serves one at least
/// (a check that gates nothing is a typo somewhere).
fn health_checks(config: &Config) -> Result<(), Invalid> {
    let checks = &config.health_checks;
    for (name, check) in checks {
        if let Err((field, message)) = check.get_ref().check() {
            return Err((
                Some(check.span()),
                format!("health_checks.{name}.{field}"),
                message,
            ));
        }
    }
    let used: std::collections::BTreeSet<&str> = config
        .announcements()
        .flat_map(|a| a.attrs.health.iter().map(String::as_str))
        .collect();
    match checks
        .iter()
        .find(|(name, _)| !used.contains(name.as_str()))
    {
        Some((name, check)) => Err((
            Some(check.span()),
            format!("health_checks.{name}"),
            "no [[announce]] names this check in its `health`".into(),
        )),
        None => Ok(()),
    }
}

fn peers(
    peers: &[Spanned<Peer>],
    profiles: &BTreeMap<String, Spanned<BfdProfile>>,
    local_asn: u32,
) -> Result<(), Invalid> {
    // One peer per address, whatever the port: an accepted connection finds its peer by the
    // remote address alone, and the listener's TCP-MD5 key is set per address.
    let mut addresses: BTreeMap<IpAddr, usize> = BTreeMap::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, p) in peers.iter().enumerate() {
        let peer = p.get_ref();
        let unique = if let Some(first) = addresses.insert(peer.address, i) {
            problem(
                "address",
                format!(
                    "duplicate peer {} (already defined as peers[{first}]; one peer per \
                     address, whatever the port: connections and TCP-MD5 keys are matched by \
                     address)",
                    peer.address
                ),
            )
        } else if let Some(first) = names.insert(peer.name(), i) {
            problem(
                "name",
                format!(
                    "duplicate peer name `{}` (already used by peers[{first}])",
                    peer.name()
                ),
            )
        } else {
            Ok(())
        };
        unique
            .and_then(|()| session(peer))
            .and_then(|()| role(peer, local_asn))
            .and_then(|()| transport(peer))
            .and_then(|()| bfd(peer, profiles))
            .map_err(|(field, message)| (Some(p.span()), format!("peers[{i}].{field}"), message))?;
    }
    Ok(())
}

/// Families, limits and timers.
fn session(peer: &Peer) -> Result<(), Problem> {
    if peer.families.is_empty() {
        return problem("families", "at least one family is needed");
    }
    if let Some((f, _)) = peer.max_prefixes.iter().find(|(_, n)| **n == 0) {
        return problem(
            format!("max_prefixes.{}", f.0),
            "a limit of 0 prefixes would reset the session at its first route; leave the \
             family out for no limit",
        );
    }
    if !(1..=100).contains(&peer.max_prefix_warning) {
        return problem(
            "max_prefix_warning",
            "a share of the limit in percent: 1..=100",
        );
    }
    if peer.max_prefix_restart == 0 {
        return problem(
            "max_prefix_restart",
            "at least 1 second (`gracewire reset PEER` brings the session back sooner)",
        );
    }
    if peer.long_lived_stale_time.is_some_and(|t| t.0 > 0) && !peer.graceful_restart {
        return problem(
            "long_lived_stale_time",
            "long-lived GR needs graceful_restart = true: RFC 9494 sends its capability only \
             beside GR's",
        );
    }
    if peer.send_hold_time.is_some_and(|t| t < 3) {
        return problem(
            "send_hold_time",
            "at least 3 seconds (RFC 9687 suggests 8 minutes); leave it out for the default",
        );
    }
    if peer.open_hold_time < 3 {
        return problem(
            "open_hold_time",
            "at least 3 seconds: a peer needs a moment to answer with its OPEN",
        );
    }
    Ok(())
}

/// RFC 9234: roles are for eBGP sessions, and strict mode needs one.
fn role(peer: &Peer, local_asn: u32) -> Result<(), Problem> {
    if peer.role.is_some() && peer.asn.is_internal(local_asn) {
        return problem(
            "role",
            "BGP roles are for eBGP sessions (RFC 9234 §4); this peer is in our AS",
        );
    }
    if peer.strict_role && peer.role.is_none() {
        return problem(
            "strict_role",
            "strict_role needs a `role` of our own to check the peer's against",
        );
    }
    Ok(())
}

/// Addresses, TCP-MD5 and TTLs.
fn transport(peer: &Peer) -> Result<(), Problem> {
    if peer.password.is_some() && peer.password_file.is_some() {
        return problem(
            "password",
            "password and password_file both set: keep one (password_file keeps the key out \
             of the config)",
        );
    }
    let max_key = crate::sockopt::MD5_MAX_KEY_LEN;
    if peer
        .password
        .as_ref()
        .is_some_and(|k| k.expose().len() > max_key)
    {
        return problem(
            "password",
            format!("a TCP-MD5 key is at most {max_key} bytes"),
        );
    }
    if peer.ebgp_multihop.is_some() && peer.ttl_security_hops.is_some() {
        return problem(
            "ttl_security_hops",
            "ebgp_multihop and ttl_security_hops exclude each other: GTSM sends TTL 255 and \
             checks what arrives",
        );
    }
    if peer.ebgp_multihop == Some(0) {
        return problem("ebgp_multihop", "a TTL of 1..=255");
    }
    if peer.ttl_security_hops.is_some_and(|h| h == 0 || h == 255) {
        return problem(
            "ttl_security_hops",
            "hops between us and the peer: 1..=254 (1: directly connected)",
        );
    }
    if let Some(local) = peer.local_address {
        if local.is_ipv4() != peer.address.is_ipv4() {
            return problem(
                "local_address",
                format!(
                    "local_address {local} and address {} are of different IP versions",
                    peer.address
                ),
            );
        }
    }
    Ok(())
}

fn bfd(peer: &Peer, profiles: &BTreeMap<String, Spanned<BfdProfile>>) -> Result<(), Problem> {
    match &peer.bfd {
        Some(profile) if !profiles.contains_key(profile) => {
            let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
            problem(
                "bfd",
                format!("no [bfd_profiles.{profile}] (profiles: {known:?})"),
            )
        }
        _ => Ok(()),
    }
}

fn announcements(config: &Config) -> Result<(), Invalid> {
    let mut prefixes: BTreeMap<IpNet, usize> = BTreeMap::new();
    for (i, a) in config.announce.iter().enumerate() {
        let ann = a.get_ref();
        let checked = match prefixes.insert(ann.prefix.0, i) {
            Some(first) => problem(
                "prefix",
                format!(
                    "prefix {} is announced twice (already in announce[{first}])",
                    ann.prefix.0
                ),
            ),
            None => announcement(ann, config),
        };
        checked.map_err(|(field, message)| {
            (Some(a.span()), format!("announce[{i}].{field}"), message)
        })?;
    }
    Ok(())
}

/// The checks of one announcement against the config it is announced under: those of the
/// config's `[[announce]]` entries and of those set over the control socket, with the same
/// messages. The error names the field within the announcement.
pub(crate) fn announcement(ann: &Announce, config: &Config) -> Result<(), Problem> {
    next_hop(ann)?;
    let attrs = &ann.attrs;
    if attrs.labels.contains_key(super::HEALTH_LABEL) {
        return problem(
            "labels.health",
            "reserved: gracewire sets it to up or down on announcements with health checks",
        );
    }
    if attrs.when_down == super::WhenDown::Plugins && attrs.health.is_empty() {
        return problem("when_down", "\"plugins\" needs `health` checks to act on");
    }
    let has_plugin = config.plugins.announce.is_some() || config.plugins.communities.is_some();
    if attrs.when_down == super::WhenDown::Plugins && !has_plugin {
        return problem(
            "when_down",
            "\"plugins\" needs [plugins.announce] or [plugins.communities] to deprefer the route; without one it would be announced as if healthy",
        );
    }
    let checks = &config.health_checks;
    if let Some(name) = attrs.health.iter().find(|n| !checks.contains_key(*n)) {
        let known: Vec<&str> = checks.keys().map(String::as_str).collect();
        return problem(
            "health",
            format!("no [health_checks.{name}] (checks: {known:?})"),
        );
    }
    Ok(())
}

fn next_hop(ann: &Announce) -> Result<(), Problem> {
    let Some(nh) = ann.attrs.next_hop else {
        return Ok(());
    };
    if nh.is_ipv4() != matches!(ann.prefix.0, IpNet::V4(_)) {
        return problem(
            "next_hop",
            format!(
                "next hop {nh} is not of the same IP version as prefix {}",
                ann.prefix.0
            ),
        );
    }
    if nh.is_unspecified() || nh.is_multicast() {
        return problem(
            "next_hop",
            format!("next hop {nh} is not a usable unicast address"),
        );
    }
    Ok(())
}

/// Makes every path relative to the config file's directory absolute, reads each
/// `password_file`, and checks the plugins' limits. `text` finds a plugin's table for its error.
pub(super) fn resolve_files(config: &mut Config, path: &Path, text: &str) -> Result<(), Invalid> {
    config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base_dir = config.base_dir.clone();
    for (i, peer) in config.peers.iter_mut().enumerate() {
        let span = peer.span();
        let peer = peer.get_mut();
        let Some(file) = peer.password_file.as_mut() else {
            continue;
        };
        if file.is_relative() {
            *file = base_dir.join(&*file);
        }
        let field = format!("peers[{i}].password_file");
        let key = std::fs::read_to_string(&*file).map_err(|e| {
            let message = format!("cannot read {}: {e}", file.display());
            (Some(span.clone()), field.clone(), message)
        })?;
        let key = key.strip_suffix('\n').unwrap_or(&key);
        let key = key.strip_suffix('\r').unwrap_or(key);
        let max_key = crate::sockopt::MD5_MAX_KEY_LEN;
        if key.is_empty() || key.len() > max_key {
            let message = format!(
                "{}: a TCP-MD5 key of 1..={max_key} bytes is expected",
                file.display()
            );
            return Err((Some(span), field, message));
        }
        peer.password = Some(Secret(key.to_string()));
    }
    for (kind, p) in config.plugins.iter_mut() {
        if p.path.is_relative() {
            p.path = base_dir.join(&p.path);
        }
        if p.timeout_ms == 0 || p.memory_limit_mb == 0 || p.memory_limit_mb > 256 {
            return Err((
                text.find(&format!("[plugins.{kind}")).map(|o| o..o),
                format!("plugins.{kind}"),
                "timeout_ms must be positive and memory_limit_mb within 1..=256".into(),
            ));
        }
    }
    Ok(())
}
