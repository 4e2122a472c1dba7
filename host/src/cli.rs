//! What `gracewire show` prints: aligned tables (as `birdc show protocols` and `cilium bgp
//! peers` do) made from the control socket's JSON answers; `--json` prints the JSON itself.

use crate::api::{
    DecidedBy, GrView, HealthView, PeerSummary, PlanReport, PluginView, RouteView, WithheldView,
};
use std::fmt::Write as _;

/// Left-aligned columns two spaces apart; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<w$}  ");
            }
        }
        out.push('\n');
    };
    line(&mut out, headers.to_vec());
    for row in rows {
        line(&mut out, row.iter().map(String::as_str).collect());
    }
    out
}

/// `93784` → `1d02h`, `3720` → `1h02m`, `75` → `1m15s`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

pub fn neighbors(peers: &[PeerSummary]) -> String {
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            let gr = match (&p.session, p.peer_graceful_restart) {
                (Some(s), _) if s.local_graceful_restart.is_none() => "off".into(),
                (Some(_), None) => "no".into(),
                (_, Some(t)) => format!("{t}s"),
                (None, None) => "-".into(),
            };
            vec![
                p.name.clone(),
                p.address.to_string(),
                p.asn_text(),
                p.state.clone(),
                or_dash(p.uptime_secs.map(duration)),
                p.received.to_string(),
                p.advertised.to_string(),
                gr,
                if p.stale_families.is_empty() {
                    "-".into()
                } else {
                    p.stale_families.join(",")
                },
                p.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "PEER",
            "ADDRESS",
            "AS",
            "STATE",
            "UPTIME",
            "RECEIVED",
            "ADVERTISED",
            "GR",
            "STALE",
            "LAST ERROR",
        ],
        &rows,
    )
}

fn gr_line(g: &GrView) -> String {
    let families: Vec<String> = g
        .families
        .iter()
        .map(|f| format!("{} F={}", f.family, f.forwarding as u8))
        .collect();
    let mut line = format!(
        "R={} N={} restart time {} s; {}",
        g.restart_state as u8,
        g.notification as u8,
        g.restart_time,
        if families.is_empty() {
            "no families".into()
        } else {
            families.join(", ")
        }
    );
    if !g.long_lived.is_empty() {
        let ll: Vec<String> = g
            .long_lived
            .iter()
            .map(|l| format!("{} {} s", l.family, l.stale_time))
            .collect();
        line.push_str(&format!("; long-lived stale time {}", ll.join(", ")));
    }
    line
}

/// One peer in full: the session, what was negotiated both ways, GR, pending settings.
pub fn neighbor(p: &PeerSummary) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(out, "{:<22}{v}", format!("{k}:"));
    };
    kv(
        "peer",
        format!("{} ({}, AS {})", p.name, p.address, p.asn_text()),
    );
    kv(
        "state",
        match p.uptime_secs {
            Some(u) => format!("{} for {}", p.state, duration(u)),
            None => p.state.clone(),
        },
    );
    kv(
        "routes",
        format!("{} received, {} advertised", p.received, p.advertised),
    );
    kv(
        "updates",
        format!("{} received, {} sent", p.updates_received, p.updates_sent),
    );
    // Whether a key is set, never the key.
    kv("TCP-MD5", if p.tcp_md5 { "set" } else { "not set" }.into());
    match (p.ttl, p.min_ttl) {
        (Some(ttl), Some(min)) => kv("TTL", format!("{ttl} sent, at least {min} accepted (GTSM)")),
        (Some(ttl), None) => kv("TTL", format!("{ttl} sent")),
        _ => {}
    }
    if let Some(b) = &p.bfd {
        let detection = b
            .detection_time_ms
            .map_or(String::new(), |d| format!(", detection {d} ms"));
        kv(
            "BFD",
            format!(
                "{} for {} ({}{detection}), {} failures{}",
                b.state,
                duration(b.since_secs),
                b.diag,
                b.failures,
                if b.multihop { ", multihop" } else { "" }
            ),
        );
    }
    if let Some(s) = &p.session {
        kv(
            "hold time",
            format!("{} s (keepalive {} s)", s.hold_time_secs, s.keepalive_secs),
        );
        kv("families", s.families.join(", "));
        let yes = |b: bool| if b { "yes" } else { "no" };
        kv("4-octet AS", yes(s.four_octet_as).into());
        kv(
            "route refresh",
            format!(
                "{} (enhanced: {})",
                yes(s.route_refresh),
                yes(s.enhanced_route_refresh)
            ),
        );
        kv("extended message", yes(s.extended_message).into());
        if s.extended_next_hop {
            kv(
                "extended next hop",
                "ipv4-unicast over IPv6 (RFC 8950)".into(),
            );
        }
        if s.local_role.is_some() || s.peer_role.is_some() {
            let f = |r: &Option<String>| r.clone().unwrap_or_else(|| "none".into());
            kv(
                "role",
                format!("{} (peer: {})", f(&s.local_role), f(&s.peer_role)),
            );
        }
        kv(
            "GR sent",
            s.local_graceful_restart
                .as_ref()
                .map_or("none".into(), gr_line),
        );
        kv(
            "GR received",
            s.peer_graceful_restart
                .as_ref()
                .map_or("none".into(), gr_line),
        );
        kv(
            "End-of-RIB received",
            if p.end_of_rib_received.is_empty() {
                "none".into()
            } else {
                p.end_of_rib_received.join(", ")
            },
        );
    }
    if p.update_group.len() > 1 {
        kv(
            "update group",
            format!("shares its Adj-RIB-Out with {}", {
                let others: Vec<&str> = p
                    .update_group
                    .iter()
                    .map(String::as_str)
                    .filter(|n| *n != p.name)
                    .collect();
                others.join(", ")
            }),
        );
    }
    if !p.stale_families.is_empty() {
        let how = if p.long_lived_stale {
            "kept long-lived stale (LLGR_STALE, least preferred)"
        } else {
            "kept stale (helper)"
        };
        kv(how, p.stale_families.join(", "));
    }
    for change in &p.pending {
        kv("at the next OPEN", change.clone());
    }
    if let Some(e) = &p.last_error {
        kv("last error", e.clone());
    }
    for w in &p.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

pub fn routes(loc_rib: usize, deferred: bool, routes: &[RouteView], advertised: bool) -> String {
    let mut out = if advertised {
        format!("{} routes advertised\n", routes.len())
    } else if deferred {
        format!(
            "{} routes received; best-path selection deferred until every GR peer's End-of-RIB\n",
            routes.len()
        )
    } else {
        format!(
            "{} routes received, {loc_rib} prefixes in the Loc-RIB (* best)\n",
            routes.len()
        )
    };
    let rows: Vec<Vec<String>> = routes
        .iter()
        .map(|r| {
            let flags = format!(
                "{}{}",
                if r.best && !advertised { "*" } else { "" },
                if r.stale { "s" } else { "" }
            );
            let mut communities = r.communities.clone();
            communities.extend(r.large_communities.iter().map(|l| format!("large:{l}")));
            communities.extend(r.otc.map(|asn| format!("otc:{asn}")));
            vec![
                flags,
                r.prefix.to_string(),
                r.next_hop.to_string(),
                r.peer.clone(),
                if r.as_path.is_empty() {
                    "-".into()
                } else {
                    r.as_path
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                },
                or_dash(r.med),
                or_dash(r.local_pref),
                communities.join(" "),
                DecidedBy::line(&r.decided_by),
            ]
        })
        .collect();
    let mut header = vec![
        "",
        "PREFIX",
        "NEXT HOP",
        "PEER",
        "AS PATH",
        "MED",
        "LOCAL PREF",
        "COMMUNITIES",
    ];
    if advertised {
        header.push("DECIDED BY");
    }
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|mut r| {
            r.truncate(header.len());
            r
        })
        .collect();
    out += &table(&header, &rows);
    if rows.iter().any(|r| r[0].contains('s')) {
        out += "s: kept stale while the peer restarts\n";
    }
    out
}

/// Below `show advertised`: what health checks hold back, and why (nothing when nothing is).
pub fn withheld(withheld: &[WithheldView]) -> String {
    if withheld.is_empty() {
        return String::new();
    }
    let n = withheld.len();
    let routes = if n == 1 { "route" } else { "routes" };
    let rows: Vec<Vec<String>> = withheld
        .iter()
        .map(|w| vec![w.prefix.to_string(), w.why.join("; ")])
        .collect();
    format!(
        "{n} {routes} held back from every peer by health checks\n{}",
        table(&["PREFIX", "WHY"], &rows)
    )
}

pub fn plugins(plugins: &[PluginView]) -> String {
    let rows: Vec<Vec<String>> = plugins
        .iter()
        .map(|p| {
            vec![
                p.kind.clone(),
                p.version.clone().unwrap_or_else(|| "built-in".into()),
                p.calls.to_string(),
                p.errors.to_string(),
                or_dash(p.mean_call_us.map(|us| format!("{us:.1}"))),
                p.swaps.to_string(),
                p.rejections.to_string(),
                p.path.clone().unwrap_or_default(),
                p.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "KIND",
            "VERSION",
            "CALLS",
            "ERRORS",
            "MEAN µs",
            "SWAPS",
            "REJECTED",
            "PATH",
            "LAST ERROR",
        ],
        &rows,
    )
}

/// `gracewire health`: a check a row.
pub fn health(checks: &[HealthView]) -> String {
    let secs = |s: f64| format!("{s:.1}s");
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            let status = match (&c.forced, c.held_secs) {
                (Some(f), _) => format!("{f} (set; probes: {})", c.status),
                (None, Some(h)) => format!("{} (held {h:.0}s)", c.status),
                (None, None) => c.status.clone(),
            };
            vec![
                c.check.clone(),
                c.kind.clone(),
                status,
                secs(c.since_secs),
                c.transitions.to_string(),
                or_dash(c.last_secs.map(secs)),
                or_dash(c.last_ms.map(|ms| format!("{ms:.1}"))),
                c.serves.to_string(),
                c.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "CHECK", "KIND", "STATUS", "SINCE", "CHANGES", "LAST", "TOOK ms", "ROUTES", "ERROR",
        ],
        &rows,
    )
}

/// `gracewire announce list`: every announcement with its source.
pub fn announcements(sources: &[crate::api::SourceView]) -> String {
    let rows: Vec<Vec<String>> = sources
        .iter()
        .flat_map(|s| s.announcements.iter().map(move |a| (s, a)))
        .map(|(s, a)| {
            let attrs = &a.attrs;
            let communities: Vec<String> =
                attrs.communities.iter().map(|c| c.to_string()).collect();
            vec![
                s.source.clone(),
                a.prefix.0.to_string(),
                or_dash(attrs.next_hop.map(|n| n.to_string())),
                or_dash(attrs.med.map(|m| m.to_string())),
                or_dash(attrs.local_pref.map(|l| l.to_string())),
                communities.join(" "),
                attrs.health.join(" "),
            ]
        })
        .collect();
    let headers = [
        "SOURCE",
        "PREFIX",
        "NEXT HOP",
        "MED",
        "LOCAL_PREF",
        "COMMUNITIES",
        "HEALTH",
    ];
    table(&headers, &rows)
}

/// `gracewire plan`: a summary per peer, then every route that would change.
pub fn plan(report: &PlanReport) -> String {
    let mut out = String::new();
    for p in &report.plugins {
        out += &format!("plugin {p}\n");
    }
    for h in &report.health {
        out += &format!("health check {h}\n");
    }
    let rows: Vec<Vec<String>> = report
        .peers
        .iter()
        .map(|p| {
            vec![
                p.peer.clone(),
                p.announce.len().to_string(),
                p.withdraw.len().to_string(),
                p.change.len().to_string(),
                p.unchanged.to_string(),
            ]
        })
        .collect();
    out += &table(
        &["PEER", "ANNOUNCE", "WITHDRAW", "CHANGE", "UNCHANGED"],
        &rows,
    );
    for p in &report.peers {
        for r in &p.announce {
            out += &format!("{}: + {} via {}", p.peer, r.prefix, r.next_hop);
            if !r.decided_by.is_empty() {
                out += &format!(" ({})", DecidedBy::line(&r.decided_by));
            }
            out.push('\n');
        }
        for prefix in &p.withdraw {
            out += &format!("{}: - {prefix}\n", p.peer);
        }
        for c in &p.change {
            out += &format!(
                "{}: ~ {}: {}\n",
                p.peer,
                c.route.prefix,
                c.differences.join("; ")
            );
        }
        for e in &p.errors {
            out += &format!("{}: plugin failed: {e}\n", p.peer);
        }
    }
    for n in &report.new_peers {
        out += &format!("{n}: new peer, gets its table once its session is up\n");
    }
    for n in &report.removed_peers {
        out += &format!("{n}: removed, its session would end\n");
    }
    out
}

/// A control answer that is an error, as an error; anything else as it is.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_lists_each_change_under_its_peer() {
        let route = |p: &str| RouteView {
            peer: "tor1".into(),
            prefix: p.parse().unwrap(),
            next_hop: "192.0.2.1".parse().unwrap(),
            as_path: vec![64512],
            origin: None,
            med: None,
            local_pref: None,
            communities: vec![],
            large_communities: vec![],
            otc: None,
            stale: false,
            best: false,
            decided_by: vec![],
        };
        let mut new = route("198.51.100.13/32");
        new.decided_by = vec![crate::api::DecidedBy {
            by: "announce".into(),
            version: Some("0123456789abcdef".into()),
            rule: Some("gold".into()),
            fallback: false,
        }];
        let report = PlanReport {
            plugins: vec!["announce: skip.wasm 0123".into()],
            health: vec![],
            peers: vec![crate::api::PeerPlan {
                peer: "tor1".into(),
                announce: vec![new.clone()],
                withdraw: vec!["198.51.100.11/32".parse().unwrap()],
                change: vec![crate::api::RouteChange {
                    route: route("198.51.100.10/32"),
                    differences: vec!["MED: - -> 10".into()],
                }],
                unchanged: 7,
                errors: vec![],
            }],
            new_peers: vec!["tor9".into()],
            removed_peers: vec![],
        };
        let text = plan(&report);
        assert_eq!(
            text,
            "plugin announce: skip.wasm 0123\n\
             PEER  ANNOUNCE  WITHDRAW  CHANGE  UNCHANGED\n\
             tor1  1         1         1       7\n\
             tor1: + 198.51.100.13/32 via 192.0.2.1 (announce@01234567:gold)\n\
             tor1: - 198.51.100.11/32\n\
             tor1: ~ 198.51.100.10/32: MED: - -> 10\n\
             tor9: new peer, gets its table once its session is up\n"
        );
        assert!(!routes(0, false, &[new], false).contains("DECIDED BY"));
    }

    #[test]
    fn show_advertised_says_who_decided_each_route() {
        let by = |by: &str, version: &str, rule: &str| crate::api::DecidedBy {
            by: by.into(),
            version: Some(version.into()),
            rule: Some(rule.into()),
            fallback: false,
        };
        let route = |p: &str, med: Option<u32>, communities: Vec<String>, decided_by| RouteView {
            peer: "tor1".into(),
            prefix: p.parse().unwrap(),
            next_hop: "192.0.2.1".parse().unwrap(),
            as_path: vec![64512],
            origin: None,
            med,
            local_pref: None,
            communities,
            large_communities: vec![],
            otc: None,
            stale: false,
            best: true,
            decided_by,
        };
        let shown = routes(
            0,
            false,
            &[
                route(
                    "198.51.100.10/32",
                    None,
                    vec!["65535:65281".into()],
                    vec![
                        by("announce", "5f0c2a9e81d3b7c4", "default"),
                        by("communities", "91b7e0d2aa04c3f1", "public"),
                    ],
                ),
                route(
                    "198.51.100.30/32",
                    Some(50),
                    vec![],
                    vec![by("announce", "5f0c2a9e81d3b7c4", "edge-med")],
                ),
            ],
            true,
        );
        // docs/operations.md ("Which rule decided") shows this table.
        assert_eq!(
            shown,
            "2 routes advertised\n\
             \x20 PREFIX            NEXT HOP   PEER  AS PATH  MED  LOCAL PREF  COMMUNITIES  DECIDED BY\n\
             \x20 198.51.100.10/32  192.0.2.1  tor1  64512    -    -           65535:65281  announce@5f0c2a9e:default communities@91b7e0d2:public\n\
             \x20 198.51.100.30/32  192.0.2.1  tor1  64512    50   -                        announce@5f0c2a9e:edge-med\n"
        );
    }

    #[test]
    fn columns_align_whatever_the_width_of_the_cells() {
        let t = table(
            &["A", "LONG HEADER", "C"],
            &[
                vec!["wide cell".into(), "x".into(), "last".into()],
                vec!["y".into(), "z".into(), "".into()],
            ],
        );
        assert_eq!(
            t,
            "A          LONG HEADER  C\nwide cell  x            last\ny          z            \n"
        );
    }

    #[test]
    fn durations_read_like_uptimes() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(75), "1m15s");
        assert_eq!(duration(3720), "1h02m");
        assert_eq!(duration(93_784), "1d02h");
    }

    #[test]
    fn the_detail_warns_when_a_restart_would_withdraw_everything() {
        let mut p = PeerSummary {
            name: "tor1".into(),
            address: "192.0.2.2".parse().unwrap(),
            asn: 65001,
            remote_as: "65001".into(),
            state: "Established".into(),
            uptime_secs: Some(61),
            families: vec!["ipv4-unicast".into()],
            received: 3,
            advertised: 2,
            updates_received: 4,
            updates_sent: 5,
            peer_graceful_restart: None,
            stale_families: vec![],
            long_lived_stale: false,
            end_of_rib_received: vec![],
            last_error: None,
            session: None,
            pending: vec!["hold time 90 s -> 30 s".into()],
            warnings: vec!["Graceful Restart not negotiated both ways".into()],
            tcp_md5: true,
            ttl: Some(255),
            min_ttl: Some(254),
            bfd: Some(crate::api::BfdView {
                state: "Up".into(),
                diag: "no diagnostic".into(),
                failures: 2,
                detection_time_ms: Some(900),
                multihop: false,
                since_secs: 75,
            }),
            update_group: vec!["tor1".into(), "tor2".into()],
        };
        let d = neighbor(&p);
        assert!(d.contains("TCP-MD5:              set\n"), "{d}");
        assert!(
            d.contains("peer:                 tor1 (192.0.2.2, AS 65001)\n"),
            "{d}"
        );
        // An AS by kind: the learned number beside it, the kind alone before the OPEN.
        p.remote_as = "external".into();
        assert!(neighbor(&p).contains("AS 65001 (external))\n"));
        p.asn = 0;
        assert!(neighbor(&p).contains("AS external)\n"));
        p.asn = 65001;
        p.remote_as = "65001".into();
        assert!(
            d.contains("update group:         shares its Adj-RIB-Out with tor2\n"),
            "{d}"
        );
        assert!(
            d.contains("BFD:                  Up for 1m15s (no diagnostic, detection 900 ms), 2 failures\n"),
            "{d}"
        );
        assert!(
            d.contains("TTL:                  255 sent, at least 254 accepted (GTSM)\n"),
            "{d}"
        );
        assert!(
            d.contains("state:                Established for 1m01s"),
            "{d}"
        );
        assert!(
            d.contains("at the next OPEN:     hold time 90 s -> 30 s"),
            "{d}"
        );
        assert!(
            d.ends_with("warning: Graceful Restart not negotiated both ways\n"),
            "{d}"
        );
        let t = neighbors(&[p]);
        assert!(
            t.lines()
                .nth(1)
                .unwrap()
                .starts_with("tor1  192.0.2.2  65001  Established  1m01s"),
            "{t}"
        );
    }

    #[test]
    fn the_gr_line_names_the_long_lived_time() {
        let g = GrView {
            restart_state: false,
            notification: true,
            restart_time: 120,
            families: vec![crate::api::GrFamily {
                family: "ipv4-unicast".into(),
                forwarding: true,
            }],
            long_lived: vec![crate::api::LongLivedFamily {
                family: "ipv4-unicast".into(),
                stale_time: 3600,
            }],
        };
        assert_eq!(
            gr_line(&g),
            "R=0 N=1 restart time 120 s; ipv4-unicast F=1; long-lived stale time ipv4-unicast 3600 s"
        );
    }
}
