//! Between the proto messages and what the daemon deals in ([`ControlRequest`],
//! [`ControlResponse`] and the views).
//!
//! The proto messages were written with the views' field names and types that read the same in
//! JSON (addresses and prefixes as text, options as optional fields), so one view becomes its
//! message through serde ([`bridge`]) instead of a hand-written copy of every field; a test
//! below takes each view there and back. Announcements go to the daemon as the JSON of a config
//! `[[announce]]` entry, so that they are checked by the same code with the same messages.

use super::proto;
use super::{Code, ControlRequest, ControlResponse, RouteFilter};
use crate::health::Forced;
use crate::plugins::PluginKind;
use serde::{de::DeserializeOwned, Serialize};
use std::path::PathBuf;

/// One message as another of the same JSON shape (a view as its proto message, or back).
pub fn bridge<A: Serialize + ?Sized, B: DeserializeOwned>(a: &A) -> Result<B, String> {
    serde_json::to_value(a)
        .and_then(serde_json::from_value)
        .map_err(|e| format!("cannot convert the answer: {e}"))
}

/// A route as its message, field by field rather than through JSON as [`bridge`] goes:
/// `ListRoutes` carries whole tables, the largest replies there are.
pub fn route_message(r: &super::RouteView) -> proto::RouteView {
    proto::RouteView {
        peer: r.peer.clone(),
        prefix: r.prefix.to_string(),
        next_hop: r.next_hop.to_string(),
        as_path: r.as_path.clone(),
        origin: r.origin.clone(),
        med: r.med,
        local_pref: r.local_pref,
        communities: r.communities.clone(),
        large_communities: r.large_communities.clone(),
        otc: r.otc,
        stale: r.stale,
        best: r.best,
        decided_by: r
            .decided_by
            .iter()
            .map(|d| proto::DecidedBy {
                by: d.by.clone(),
                version: d.version.clone(),
                rule: d.rule.clone(),
                fallback: d.fallback,
            })
            .collect(),
    }
}

/// The client's side of [`route_message`]; a prefix or next hop that does not parse is named.
pub fn route_view(m: proto::RouteView) -> Result<super::RouteView, String> {
    let prefix = m
        .prefix
        .parse()
        .map_err(|e| format!("route {}: {e}", m.prefix))?;
    let next_hop = m
        .next_hop
        .parse()
        .map_err(|e| format!("route {} next hop {}: {e}", m.prefix, m.next_hop))?;
    Ok(super::RouteView {
        peer: m.peer,
        prefix,
        next_hop,
        as_path: m.as_path,
        origin: m.origin,
        med: m.med,
        local_pref: m.local_pref,
        communities: m.communities,
        large_communities: m.large_communities,
        otc: m.otc,
        stale: m.stale,
        best: m.best,
        decided_by: m
            .decided_by
            .into_iter()
            .map(|d| super::DecidedBy {
                by: d.by,
                version: d.version,
                rule: d.rule,
                fallback: d.fallback,
            })
            .collect(),
    })
}

/// An announcement as the `[[announce]]` entry it stands for: the fields it sets, no others
/// (an unset field is the config's default, not an error).
pub fn announcement_entry(a: &proto::Announcement) -> serde_json::Value {
    let mut entry = serde_json::to_value(a).unwrap_or_default();
    if let Some(fields) = entry.as_object_mut() {
        fields.retain(|_, v| match v {
            serde_json::Value::Null => false,
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::Object(o) => !o.is_empty(),
            _ => true,
        });
    }
    entry
}

fn invalid(field: &str, message: impl std::fmt::Display) -> ControlResponse {
    ControlResponse::error(Code::InvalidArgument, format!("{field}: {message}"))
}

pub fn forced(text: Option<&str>, field: &str) -> Result<Option<Forced>, ControlResponse> {
    match text {
        None | Some("auto") => Ok(None),
        Some("up") => Ok(Some(Forced::Up)),
        Some("down") => Ok(Some(Forced::Down)),
        Some(other) => Err(invalid(
            field,
            format!("`{other}`: expected up, down or auto"),
        )),
    }
}

pub fn filter(f: proto::RouteFilter) -> RouteFilter {
    RouteFilter {
        peer: f.peer,
        prefix: f.prefix,
    }
}

pub fn plan(p: proto::PlanRequest) -> Result<ControlRequest, ControlResponse> {
    let mut plugins = Vec::new();
    for (i, pl) in p.plugins.into_iter().enumerate() {
        let kind: PluginKind = pl
            .kind
            .parse()
            .map_err(|e| invalid(&format!("plugins[{i}].kind"), e))?;
        plugins.push((kind, PathBuf::from(pl.path)));
    }
    let mut health = Vec::new();
    for (i, h) in p.health.into_iter().enumerate() {
        let field = format!("health[{i}].forced");
        match forced(Some(&h.forced), &field)? {
            Some(f) => health.push((h.check, f)),
            None => return Err(invalid(&field, "expected up or down")),
        }
    }
    Ok(ControlRequest::Plan {
        config: p.config.map(PathBuf::from),
        plugins,
        health,
    })
}

/// The client's side of [`plan`].
pub fn plan_request(request: &ControlRequest) -> proto::PlanRequest {
    let ControlRequest::Plan {
        config,
        plugins,
        health,
    } = request
    else {
        return Default::default();
    };
    proto::PlanRequest {
        config: config.as_ref().map(|c| c.display().to_string()),
        plugins: plugins
            .iter()
            .map(|(kind, path)| proto::PlanPlugin {
                kind: kind.name().into(),
                path: path.display().to_string(),
            })
            .collect(),
        health: health
            .iter()
            .map(|(check, f)| proto::PlanHealth {
                check: check.clone(),
                forced: f.as_str().into(),
            })
            .collect(),
    }
}

/// `[[announce]]` entries (JSON, as the CLI reads them from TOML or JSON) as announcements.
pub fn announcements(entries: &[serde_json::Value]) -> Result<Vec<proto::Announcement>, String> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut e = e.clone();
            // The config allows `health = "web"` for one check.
            if let Some(one @ serde_json::Value::String(_)) = e.get_mut("health") {
                *one = serde_json::Value::Array(vec![one.take()]);
            }
            serde_json::from_value(e).map_err(|err| format!("announcements[{i}]: {err}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::*;

    fn there_and_back<V, P>(view: &V)
    where
        V: Serialize + DeserializeOwned,
        P: Serialize + DeserializeOwned,
    {
        let message: P = bridge(view).unwrap();
        let back: V = bridge(&message).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(view).unwrap()
        );
    }

    fn gr() -> GrView {
        GrView {
            restart_state: true,
            notification: true,
            restart_time: 120,
            families: vec![GrFamily {
                family: "ipv4-unicast".into(),
                forwarding: true,
            }],
            long_lived: vec![LongLivedFamily {
                family: "ipv6-unicast".into(),
                stale_time: 3600,
            }],
        }
    }

    #[test]
    fn every_view_reads_as_its_message_and_back() {
        let peer = PeerSummary {
            name: "tor1".into(),
            address: "192.0.2.1".parse().unwrap(),
            asn: 65001,
            remote_as: "external".into(),
            state: "Established".into(),
            uptime_secs: Some(42),
            families: vec!["ipv4-unicast".into()],
            received: 3,
            advertised: 2,
            updates_received: 5,
            updates_sent: 6,
            peer_graceful_restart: Some(120),
            stale_families: vec![],
            long_lived_stale: false,
            end_of_rib_received: vec!["ipv4-unicast".into()],
            last_error: Some("hold timer expired".into()),
            session: Some(SessionView {
                hold_time_secs: 90,
                keepalive_secs: 30,
                families: vec!["ipv4-unicast".into()],
                four_octet_as: true,
                extended_message: false,
                route_refresh: true,
                enhanced_route_refresh: true,
                local_graceful_restart: Some(gr()),
                peer_graceful_restart: None,
                local_role: Some("customer".into()),
                peer_role: None,
                extended_next_hop: false,
            }),
            pending: vec!["hold_time".into()],
            warnings: vec![],
            tcp_md5: true,
            ttl: Some(255),
            min_ttl: None,
            bfd: Some(BfdView {
                state: "Up".into(),
                diag: "none".into(),
                failures: 1,
                detection_time_ms: Some(900),
                multihop: false,
                since_secs: 7,
            }),
            update_group: vec!["tor1".into(), "tor2".into()],
        };
        there_and_back::<PeerSummary, proto::PeerSummary>(&peer);
        let route = RouteView {
            peer: "tor1".into(),
            prefix: "198.51.100.0/24".parse().unwrap(),
            next_hop: "2001:db8::1".parse().unwrap(),
            as_path: vec![65001, 65002],
            origin: Some("igp".into()),
            med: Some(5),
            local_pref: None,
            communities: vec!["65000:1".into()],
            large_communities: vec![],
            otc: Some(65001),
            stale: true,
            best: true,
            decided_by: vec![DecidedBy {
                by: "announce".into(),
                version: Some("abcdef12".into()),
                rule: None,
                fallback: false,
            }],
        };
        there_and_back::<RouteView, proto::RouteView>(&route);
        // The field-by-field copy ListRoutes uses says the same as the bridge.
        let direct = route_message(&route);
        assert_eq!(direct, bridge::<_, proto::RouteView>(&route).unwrap());
        let back = route_view(direct).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&route).unwrap()
        );
        let plugin = PluginView {
            kind: "announce".into(),
            path: Some("/p.wasm".into()),
            version: None,
            on_error: Some("keep-last".into()),
            calls: 10,
            errors: 1,
            instantiations: 2,
            prepares: 3,
            mean_call_us: Some(12.5),
            swaps: 1,
            rejections: 0,
            last_swap_ms: None,
            last_error: None,
        };
        there_and_back::<PluginView, proto::PluginView>(&plugin);
        let health = HealthView {
            check: "web".into(),
            kind: "tcp".into(),
            status: "up".into(),
            forced: None,
            since_secs: 1.5,
            transitions: 2,
            held_secs: None,
            last_secs: Some(0.2),
            last_ms: Some(1.0),
            error: None,
            serves: 1,
        };
        there_and_back::<HealthView, proto::HealthView>(&health);
        let plan = PlanReport {
            plugins: vec!["announce: p.wasm abc".into()],
            peers: vec![PeerPlan {
                peer: "tor1".into(),
                announce: vec![route.clone()],
                withdraw: vec!["198.51.100.7/32".parse().unwrap()],
                change: vec![RouteChange {
                    route,
                    differences: vec!["MED: - -> 5".into()],
                }],
                unchanged: 4,
                errors: vec![],
            }],
            new_peers: vec![],
            removed_peers: vec!["old".into()],
            health: vec![],
        };
        there_and_back::<PlanReport, proto::PlanReply>(&plan);
        let withheld = WithheldView {
            prefix: "198.51.100.9/32".parse().unwrap(),
            why: vec!["web: down".into()],
        };
        there_and_back::<WithheldView, proto::WithheldView>(&withheld);
    }

    #[test]
    fn an_announcement_carries_only_the_fields_it_sets() {
        let a = proto::Announcement {
            prefix: "198.51.100.1/32".into(),
            med: Some(10),
            ..Default::default()
        };
        assert_eq!(
            announcement_entry(&a),
            serde_json::json!({"prefix": "198.51.100.1/32", "med": 10})
        );
        // And a config entry's JSON (as `announce list` answers) reads as an announcement.
        let entry = serde_json::json!({"prefix": "198.51.100.2/32", "communities": ["65000:1"],
            "labels": {"tier": "gold"}, "when_down": "plugins"});
        let back = &announcements(std::slice::from_ref(&entry)).unwrap()[0];
        assert_eq!(announcement_entry(back), entry);
        let bad = serde_json::json!({"prefix": "198.51.100.2/32", "med": "ten"});
        assert!(announcements(&[entry, bad])
            .unwrap_err()
            .starts_with("announcements[1]: "));
    }

    #[test]
    fn plan_requests_go_there_and_back_and_bad_kinds_are_named() {
        let request = ControlRequest::Plan {
            config: Some("/etc/gracewire/new.toml".into()),
            plugins: vec![(PluginKind::Announce, "/p.wasm".into())],
            health: vec![("web".into(), Forced::Down)],
        };
        assert_eq!(plan(plan_request(&request)).unwrap(), request);
        let mut bad = plan_request(&request);
        bad.plugins[0].kind = "colour".into();
        let Err(ControlResponse::Error { code, error }) = plan(bad) else {
            panic!("accepted")
        };
        assert_eq!(code, Code::InvalidArgument);
        assert!(error.starts_with("plugins[0].kind: "), "{error}");
    }
}
