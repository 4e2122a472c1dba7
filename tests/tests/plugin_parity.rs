//! One behaviour table (`plugins/communities/cases.json`), two plugins: the Rust reference
//! community tagger and its Python port, each built into a component and run in gracewire's
//! runtime (the daemon's sandbox, limits and answer checks). Same answers, case by case.

use gracewire::plugins::PluginKind;
use gracewire_e2e::python::build_python_plugin;
use gracewire_e2e::workspace;
use gracewire_sdk::communities::{Tag, TagKind};
use gracewire_sdk::testing::{build_wasm, TestPlugin};
use gracewire_sdk::{test_peer, BatchBuilder};
use serde_json::Value;
use std::path::Path;

fn render(t: &Tag) -> String {
    let kind = match t.kind {
        TagKind::AddStandard => "add-standard",
        TagKind::RemoveStandard => "remove-standard",
        TagKind::AddLarge => "add-large",
        TagKind::RemoveLarge => "remove-large",
        TagKind::AddExtended => "add-extended",
        TagKind::RemoveExtended => "remove-extended",
    };
    match t.kind {
        TagKind::AddStandard | TagKind::RemoveStandard => format!("{kind} 0x{:08x}", t.a),
        TagKind::AddLarge | TagKind::RemoveLarge => format!("{kind} {}:{}:{}", t.a, t.b, t.c),
        _ => format!("{kind} 0x{:016x}", t.ext),
    }
}

/// Runs every case against `wasm`; returns the failures (empty when all pass).
fn run_table(wasm: &Path) -> Vec<String> {
    let table: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("plugins/communities/cases.json")).unwrap(),
    )
    .unwrap();
    let mut failures = Vec::new();
    for case in table["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let config = match &case["config"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let loaded = TestPlugin::load(PluginKind::Communities, wasm, &config);
        if let Some(needle) = case["error"].as_str() {
            match loaded {
                Err(e) if format!("{e:#}").contains(needle) => {}
                Err(e) => failures.push(format!("{name}: error `{e:#}` lacks `{needle}`")),
                Ok(_) => failures.push(format!("{name}: loaded; expected `{needle}`")),
            }
            continue;
        }
        let plugin = match loaded {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{name}: {e:#}"));
                continue;
            }
        };
        let routes = case["routes"].as_array().unwrap();
        let mut batch = BatchBuilder::default();
        for route in routes {
            let labels: Vec<(&str, &str)> = route[1]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
                .collect();
            batch = batch.route(route[0].as_str().unwrap(), &labels);
        }
        let batch = batch.build();
        let peer = test_peer(case["peer"].as_str().unwrap(), 64512, 65001, "frr");
        let tagging = plugin.tag(&peer, &batch).unwrap();
        let got: Vec<Vec<String>> = (0..routes.len())
            .map(|r| tagging.tags_of(&batch, r).iter().map(render).collect())
            .collect();
        let want: Vec<Vec<String>> = serde_json::from_value(case["expect"].clone()).unwrap();
        if got != want {
            failures.push(format!("{name}: got {got:?}, want {want:?}"));
        }
        if let Some(want) = case.get("rules") {
            let want: Vec<Option<String>> = serde_json::from_value(want.clone()).unwrap();
            let got: Vec<Option<String>> = (0..routes.len())
                .map(|r| tagging.rule_of(&batch, r).map(str::to_string))
                .collect();
            if got != want {
                failures.push(format!("{name}: rules {got:?}, want {want:?}"));
            }
        }
    }
    failures
}

#[test]
fn rust_and_python_community_taggers_pass_the_same_table() {
    let rust = build_wasm(&workspace().join("plugins/communities").to_string_lossy());
    let python = build_python_plugin("plugins/communities-py", "community-tagger");
    let rust_failures = run_table(&rust);
    let python_failures = run_table(&python);
    assert!(
        rust_failures.is_empty() && python_failures.is_empty(),
        "Rust: {rust_failures:#?}\nPython: {python_failures:#?}"
    );
}
