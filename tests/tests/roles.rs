//! BGP Roles (RFC 9234) with FRR (`neighbor X local-role`) and BIRD (`local role`): roles
//! that pair bring the session up and show in `show neighbors`, routes carry the OTC
//! attribute as §5 says, and a mismatch is refused with OPEN error 2/11.

use gracewire_e2e::bird::Bird;
use gracewire_e2e::frr::Frr;
use gracewire_e2e::{wait_for, Gracewire, Lab, PeerSpec, Router};
use std::time::Duration;

const SUITE: u8 = 51;
const T: Duration = Duration::from_secs(30);

fn config(spec: &PeerSpec, role: &str) -> String {
    format!(
        r#"[global]
asn = 64512
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"

[[peers]]
name = "tor"
address = "{peer}"
asn = {asn}
local_address = "{gw}"
hold_time = 9
connect_retry = 1
{role}

[[announce]]
prefix = "198.51.100.10/32"
next_hop = "192.0.2.1"
"#,
        gw = spec.gracewire_addr,
        peer = spec.addr,
        asn = spec.asn,
    )
}

fn spec(lab: &Lab, host: u8) -> PeerSpec {
    let mut s = lab.spec(host, 65002, 64512);
    s.originate = vec![("203.0.113.0/24".into(), "192.0.2.2".into())];
    s
}

/// The OTC the router shows on our route, once it has it.
fn otc_at(router: &dyn Router) -> Option<Option<u32>> {
    router
        .routes()
        .into_iter()
        .find(|r| r.prefix == "198.51.100.10/32")
        .map(|r| r.otc)
}

/// The session, up, with these roles in `show neighbors` (`peer` empty: it sent none).
fn roles_up(gw: &Gracewire, local: &str, peer: &str) {
    wait_for(&format!("Established as {local} with {peer}"), T, || {
        let tor = gw.neighbor("tor");
        let s = &tor["session"];
        (tor["state"] == "Established"
            && s["local_role"] == local
            && s["peer_role"].as_str().unwrap_or("") == peer)
            .then_some(())
    });
}

/// Refused with Role Mismatch, whichever side saw it first.
fn refused_for_roles(gw: &Gracewire) {
    wait_for("a role mismatch (2/11)", T, || {
        gw.neighbor("tor")["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("role mismatch (2/11)"))
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_ne!(gw.state("tor"), "Established");
}

/// Our OTC reaches FRR as sent (without a role of its own FRR neither checks nor adds it),
/// then FRR's roles pair with ours or are refused.
#[test]
fn roles_with_frr_pair_carry_otc_and_a_mismatch_is_refused() {
    let lab = Lab::new(SUITE);
    let mut frr = Frr::new(&lab, spec(&lab, 2));
    frr.start();
    let gw = Gracewire::start(&lab, &config(frr.spec(), "role = \"provider\""));
    gw.wait_established("tor", T);
    // Rule 2 of egress: towards a customer our route carries our AS as OTC.
    let otc = wait_for("our route at FRR", T, || otc_at(&frr));
    assert_eq!(otc, Some(64512), "OTC as we sent it");
    let text = gw.cli(&["show", "neighbors", "tor"]);
    assert!(text.contains("provider (peer: none)"), "{text}");

    // FRR as our customer: the roles pair, and its route (no OTC from a customer) is ours.
    let gw_addr = frr.spec().gracewire_addr.to_string();
    let set_role = |role: &str| {
        let asn = format!("router bgp {}", frr.spec().asn);
        let line = format!("neighbor {gw_addr} local-role {role}");
        frr.vtysh(&["configure terminal", &asn, &line])
            .expect("vtysh local-role");
        frr.clear();
    };
    set_role("customer");
    roles_up(&gw, "provider", "customer");
    wait_for("FRR's route at gracewire", T, || {
        gw.received("tor")
            .into_iter()
            .find(|r| r["prefix"] == "203.0.113.0/24")
    });
    let route = &gw.received("tor")[0];
    assert!(route["otc"].is_null(), "from a customer: {route}");

    // FRR as a provider too: provider pairs only with customer.
    set_role("provider");
    refused_for_roles(&gw);

    // We as its customer: routes from our provider carry OTC (FRR's egress sets it, and our
    // ingress would), and ours go up without one.
    gw.reload(&config(frr.spec(), "role = \"customer\""), &lab);
    gw.cli(&["reset", "tor"]);
    roles_up(&gw, "customer", "provider");
    let route = wait_for("FRR's route with OTC", T, || {
        gw.received("tor")
            .into_iter()
            .find(|r| r["prefix"] == "203.0.113.0/24" && r["otc"] == 65002)
    });
    assert_eq!(route["as_path"][0], 65002);
    let table = gw.cli(&["show", "routes"]);
    assert!(table.contains("otc:65002"), "{table}");
    wait_for("our route at FRR, up to a provider", T, || {
        otc_at(&frr).filter(|otc| otc.is_none())
    });
}

/// BIRD 2.0.12's roles: strict mode on our side refuses BIRD while it has none, then BIRD as
/// our provider pairs, its routes come down marked, BIRD as a customer is refused, and
/// without a role BIRD shows the OTC we send a customer.
#[test]
fn roles_with_bird_strict_mode_pairs_and_a_mismatch() {
    let lab = Lab::new(SUITE);
    let mut bird = Bird::new(&lab, spec(&lab, 3));
    bird.start();
    let strict = "role = \"customer\"\nstrict_role = true";
    let gw = Gracewire::start(&lab, &config(bird.spec(), strict));
    wait_for("refused: BIRD sends no role", T, || {
        gw.neighbor("tor")["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("role mismatch (2/11)"))
            .then_some(())
    });
    assert_ne!(gw.state("tor"), "Established");

    bird.set_protocol_lines(&["local role provider;"]);
    roles_up(&gw, "customer", "provider");
    wait_for("BIRD's route with OTC", T, || {
        gw.received("tor")
            .into_iter()
            .find(|r| r["prefix"] == "203.0.113.0/24" && r["otc"] == 65002)
    });
    let otc = wait_for("our route at BIRD", T, || otc_at(&bird));
    assert_eq!(otc, None, "up to a provider: no OTC");

    bird.set_protocol_lines(&["local role customer;"]);
    refused_for_roles(&gw);

    // We as provider towards BIRD without a role: BIRD keeps our OTC as sent.
    gw.reload(&config(bird.spec(), "role = \"provider\""), &lab);
    bird.set_protocol_lines(&[]);
    gw.cli(&["reset", "tor"]);
    roles_up(&gw, "provider", "");
    wait_for("our OTC at BIRD", T, || {
        otc_at(&bird).filter(|otc| *otc == Some(64512))
    });
}
