//! Update groups end to end: ten receivers, the announce plugin skipping one pool for one of
//! them. The nine alike share one Adj-RIB-Out; the tenth has its own; each receives exactly
//! its routes.

use gracewire::wire::Family;
use gracewire_e2e::sink;
use gracewire_e2e::{wait_for, Gracewire, Lab};
use gracewire_sdk::testing::build_wasm;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const SUITE: u8 = 44;
const T: Duration = Duration::from_secs(60);
const ODD: usize = 7;

fn config(lab: &Lab, announce: &std::path::Path) -> String {
    let gw = lab.addr(1);
    let mut c = format!(
        "[global]\nasn = 64512\nrouter_id = \"{gw}\"\nlisten = \"{gw}:179\"\nstate_dir = \"{{state_dir}}\"\n\n\
         [plugins.announce]\npath = \"{}\"\nconfig = {{ rules = [{{ peers = [\"p{ODD}\"], pools = [\"private\"], action = \"skip\" }}] }}\n\n",
        announce.display()
    );
    for i in 0..10 {
        c += &format!(
            "[[peers]]\nname = \"p{i}\"\naddress = \"{}\"\nasn = {}\npassive = true\nfamilies = [\"ipv4-unicast\"]\n\n",
            lab.addr(10 + i as u8),
            65000 + i
        );
    }
    for k in 0..20 {
        let pool = if k < 10 { "public" } else { "private" };
        c += &format!(
            "[[announce]]\nprefix = \"198.51.100.{k}/32\"\nnext_hop = \"{gw}\"\nlabels = {{ pool = \"{pool}\" }}\n\n"
        );
    }
    c
}

fn group_of(neighbors: &Value, name: &str) -> BTreeSet<String> {
    neighbors["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap()["update_group"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn nine_alike_receivers_share_one_adj_rib_out_and_the_one_a_plugin_treats_differently_has_its_own()
{
    let lab = Lab::new(SUITE);
    let announce = build_wasm(&format!(
        "{}/../plugins/announce",
        env!("CARGO_MANIFEST_DIR")
    ));
    let gw = Gracewire::start(&lab, &config(&lab, &announce));
    let rt = sink::runtime();
    let sinks: Vec<_> = (0..10)
        .map(|i| {
            let expect = if i == ODD { 10 } else { 20 };
            sink::spawn(
                &rt,
                lab.addr(10 + i as u8),
                lab.addr(1),
                (65000 + i as u32, 90),
                vec![Family::Ipv4Unicast],
                expect,
            )
        })
        .collect();
    wait_for("every receiver full", T, || {
        sinks.iter().all(|s| s.full_at().is_some()).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    for (i, s) in sinks.iter().enumerate() {
        let got = s.prefixes.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(got, s.expect, "p{i} received {got} prefixes");
    }

    let neighbors = gw.show("neighbors");
    let alike: BTreeSet<String> = (0..10)
        .filter(|i| *i != ODD)
        .map(|i| format!("p{i}"))
        .collect();
    assert_eq!(group_of(&neighbors, "p0"), alike, "{neighbors}");
    assert_eq!(
        group_of(&neighbors, &format!("p{ODD}")),
        BTreeSet::from([format!("p{ODD}")])
    );

    // What we hold as sent to each matches: the odd one has no private route.
    let advertised = gw.show("advertised");
    let of = |peer: &str| -> BTreeSet<String> {
        advertised["routes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["peer"] == peer)
            .map(|r| r["prefix"].as_str().unwrap().to_string())
            .collect()
    };
    let public: BTreeSet<String> = (0..10).map(|k| format!("198.51.100.{k}/32")).collect();
    let all: BTreeSet<String> = (0..20).map(|k| format!("198.51.100.{k}/32")).collect();
    assert_eq!(of(&format!("p{ODD}")), public);
    assert_eq!(of("p3"), all);

    rt.shutdown_background();
}
