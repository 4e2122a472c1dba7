//! The deployment files are read the way systemd and Kubernetes would and checked against the
//! config they carry: the probes point at the configured metrics port, the restart record's
//! directory survives the process (hostPath, StateDirectory), SIGTERM stays the graceful stop.
//! And README's first command, `examples/demo.sh`, runs and must end in `demo: ok`.

use gracewire::config::Config;
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// `key=value` lines of one INI section of a systemd unit.
fn unit_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == format!("[{section}]");
        } else if inside && !line.starts_with('#') {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.to_string(), v.to_string()));
            }
        }
    }
    out
}

#[test]
fn the_systemd_unit_stops_gracefully_reloads_by_sighup_and_keeps_the_state_directory() {
    let text = std::fs::read_to_string(examples().join("systemd/gracewire.service")).unwrap();
    let service = unit_section(&text, "Service");
    let get = |k: &str| {
        service
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert!(get("ExecStart")
        .unwrap()
        .contains("gracewire run --config /etc/gracewire/gracewire.toml"));
    assert!(get("ExecReload").unwrap().contains("kill -HUP $MAINPID"));
    assert_eq!(
        get("KillSignal"),
        Some("SIGTERM"),
        "SIGTERM is the graceful restart"
    );
    assert_eq!(get("Restart"), Some("on-failure"));
    // An upgrade by takeover (SIGUSR2): the new process says MAINPID, which systemd takes
    // only from a notify service that lets any process of the unit notify.
    assert_eq!(get("Type"), Some("notify"));
    assert_eq!(get("NotifyAccess"), Some("all"));
    assert!(text.contains("systemctl kill -s SIGUSR2 gracewire"));
    // StateDirectory=gracewire is /var/lib/gracewire: the default state_dir, where the restart
    // record lives.
    assert_eq!(get("StateDirectory"), Some("gracewire"));
    let default_state_dir = Config::parse(
        "[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n",
        Path::new("x.toml"),
    )
    .unwrap()
    .global
    .state_dir;
    assert_eq!(default_state_dir, PathBuf::from("/var/lib/gracewire"));
    let stop: u32 = get("TimeoutStopSec").unwrap().parse().unwrap();
    assert!(stop >= 10, "a stop waits up to 3 s per session flush");
    assert!(unit_section(&text, "Install")
        .iter()
        .any(|(k, _)| k == "WantedBy"));
}

fn docs(name: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(examples().join("kubernetes").join(name)).unwrap();
    YamlLoader::load_from_str(&text).unwrap()
}

fn find<'a>(docs: &'a [Yaml], kind: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn the_daemonset_probes_the_metrics_port_and_keeps_the_restart_record_on_the_host() {
    let docs = docs("gracewire.yaml");
    let cm = find(&docs, "ConfigMap");
    let toml = cm["data"]["gracewire.toml"].as_str().unwrap();
    let config = Config::parse(toml, Path::new("/etc/gracewire/config/gracewire.toml"))
        .unwrap_or_else(|e| panic!("the ConfigMap's config: {e}"));
    let ds = find(&docs, "DaemonSet");
    assert_eq!(ds["apiVersion"].as_str(), Some("apps/v1"));
    let spec = &ds["spec"];
    assert_eq!(
        spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"],
        "the selector matches the pods"
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(
        pod["hostNetwork"].as_bool(),
        Some(true),
        "BGP from the node's addresses"
    );
    let c = &pod["containers"][0];
    for field in ["name", "image"] {
        assert!(c[field].as_str().is_some(), "container {field}");
    }
    let metrics = config.global.metrics.expect("the config serves metrics");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(path), "{probe}");
        assert_eq!(
            get["port"].as_i64(),
            Some(metrics.port() as i64),
            "{probe} port"
        );
    }
    // The config the container runs is the ConfigMap's, mounted whole where args point.
    let args: Vec<&str> = c["args"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    let mount = |volume: &str| -> &str {
        c["volumeMounts"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|m| m["name"].as_str() == Some(volume))
            .and_then(|m| m["mountPath"].as_str())
            .unwrap_or_else(|| panic!("no mount of {volume}"))
    };
    assert_eq!(
        Path::new(config_path).parent(),
        Some(Path::new(mount("config")))
    );
    let volume = |name: &str| {
        pod["volumes"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no volume {name}"))
            .clone()
    };
    assert_eq!(
        volume("config")["configMap"]["name"],
        cm["metadata"]["name"]
    );
    // The restart record outlives the pod: state_dir is a hostPath, mounted at state_dir.
    let state = volume("state");
    assert_eq!(
        state["hostPath"]["path"].as_str(),
        Some("/var/lib/gracewire")
    );
    assert_eq!(Path::new(mount("state")), config.global.state_dir);
    // Plugins come from their ConfigMap, where the config looks for them.
    let plugins = Path::new(mount("plugins"));
    for kind in gracewire::plugins::PluginKind::ALL {
        if let Some(p) = config.plugin(kind) {
            assert_eq!(p.path.parent(), Some(plugins), "{}", kind.name());
        }
    }
    // A rolling update is a takeover: the new pod starts beside the old one (maxSurge, none
    // unavailable), finds it through the hostPath state_dir, and the old one waits for its
    // SIGTERM rather than exit (an exit would make the kubelet start it again). No ports are
    // declared: on the host network they are hostPorts, and the surge pod would not schedule.
    let rolling = &spec["updateStrategy"]["rollingUpdate"];
    assert_eq!(rolling["maxSurge"].as_i64(), Some(1));
    assert_eq!(rolling["maxUnavailable"].as_i64(), Some(0));
    assert!(args.contains(&"--takeover") && args.contains(&"--linger-after-takeover"));
    assert!(c["ports"].is_badvalue(), "no ports on the host network");
    // preStop drains only a pod marked for decommission, within the grace period.
    let hook: Vec<&str> = c["lifecycle"]["preStop"]["exec"]["command"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(hook[..3], ["gracewire", "drain", "--if-marked"]);
    let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap();
    assert!(
        grace >= config.global.drain_wait as i64 + 10,
        "grace period {grace} s for a drain of {} s and the stop",
        config.global.drain_wait
    );
}

/// README's first command: FRR on 127.0.0.2 learns both service IPs with the plugin's
/// community, and a changed plugin config is swapped in on the same session. The tests' own
/// build (`DEMO_PROFILE=dev`) stands in for the release build a newcomer makes.
#[test]
fn the_demo_shows_frr_the_community_and_a_live_swap() {
    let out = std::process::Command::new("bash")
        .arg(examples().join("demo.sh"))
        .env("DEMO_PROFILE", "dev")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo.sh failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Community: 64512:100 64512:300"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("demo: ok"), "{stdout}");
}
