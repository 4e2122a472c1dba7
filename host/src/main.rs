//! The `gracewire` binary: `run` the daemon, `check` a config, `show` what a running daemon knows.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gracewire::api::{self, ControlRequest, ControlResponse, RouteFilter};
use gracewire::cli;
use gracewire::config::Config;
use gracewire::daemon::{self, Inputs};
use gracewire::listener;
use gracewire::plugins::{PluginKind, PluginRuntime};
use gracewire::policy::plugins::load_all;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::info;

#[derive(Parser)]
#[command(
    name = "gracewire",
    version,
    about = "BGP speaker with Graceful Restart and WebAssembly policy plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground (logs to stderr; RUST_LOG overrides the level).
    Run {
        #[arg(short, long)]
        config: PathBuf,
        /// `json`: one JSON object per line, for log pipelines.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Take the live sessions over from the gracewire running with the same state_dir
        /// (a hitless upgrade); without one, start as usual.
        #[arg(long)]
        takeover: bool,
        /// After a new process took the sessions over, stay (holding nothing) until
        /// SIGTERM instead of exiting: for a container whose exit would make it restart
        /// (a Kubernetes DaemonSet upgraded with maxSurge).
        #[arg(long, alias = "linger-after-handover")]
        linger_after_takeover: bool,
    },
    /// Validate a config file and exit: non-zero with file, line and field on any error.
    Check {
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Call a built plugin once in gracewire's own runtime: the input as JSON on stdin, the
    /// answer as JSON on stdout (for plugin tests in any language).
    Plugin {
        #[command(subcommand)]
        what: PluginCommand,
    },
    /// What a candidate config and/or plugin file would change at each peer, evaluated by the
    /// running daemon as a reload or swap would, and applied nowhere.
    Plan {
        /// The candidate config (its control socket names the daemon, unless --socket does).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// A candidate plugin file, `KIND=PATH` (announce, communities, gr); repeatable.
        #[arg(long = "plugin", value_name = "KIND=PATH")]
        plugins: Vec<String>,
        /// A health check taken as up or down, `NAME=up|down`, whatever its probes say;
        /// repeatable.
        #[arg(long = "health", value_name = "NAME=up|down")]
        health: Vec<String>,
        /// The daemon's control socket.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Print the JSON answer instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// The health checks: verdict, since when, the last probe's result, the routes each gates;
    /// `health set` overrides a check for maintenance.
    Health {
        #[command(subcommand)]
        set: Option<HealthCommand>,
        #[command(flatten)]
        out: Output,
    },
    /// A controller's own announcements beside the config's (kept across restarts and
    /// takeovers): `set` replaces a source's whole set, `add` and `delete` change it, `list`
    /// shows every source's.
    Announce {
        #[command(subcommand)]
        what: AnnounceCommand,
    },
    /// Ask a running daemon what it knows (tables; --json for the raw answer).
    Show {
        #[command(subcommand)]
        what: Show,
    },
    /// Drain before a decommission (RFC 8326): re-announce every route with GRACEFUL_SHUTDOWN
    /// (65535:0, LOCAL_PREF 0 on iBGP), wait, then withdraw. Returns once withdrawn; usable as
    /// a Kubernetes preStop hook (SIGUSR1 does the same with the configured drain_wait).
    Drain {
        /// Seconds to wait before withdrawing (default: drain_wait from the config).
        #[arg(long)]
        wait: Option<u64>,
        /// Only if `gracewire decommission` marked the daemon (for a preStop hook that must
        /// leave rolling updates to Graceful Restart).
        #[arg(long)]
        if_marked: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Re-read the config file, as SIGHUP does; says what was applied, or why it was refused.
    Reload {
        #[command(flatten)]
        target: Target,
    },
    /// Announce normally again after a drain.
    Undrain {
        #[command(flatten)]
        target: Target,
    },
    /// Mark the daemon for decommission: its `drain --if-marked` hook then drains.
    Decommission {
        #[command(flatten)]
        target: Target,
    },
    /// Reset one session. `--hard` makes the peer flush our routes (RFC 8538 Hard Reset);
    /// without it a GR peer keeps them as for a restart.
    Reset {
        peer: String,
        #[arg(long)]
        hard: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Route refresh without a reset: `--in` asks the peer to send its routes again (RFC
    /// 2918), `--out` sends it ours again (between BoRR and EoRR with RFC 7313); both without
    /// either.
    Refresh {
        peer: String,
        #[arg(long = "in")]
        inbound: bool,
        #[arg(long = "out")]
        outbound: bool,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
enum HealthCommand {
    /// Sets a check up or down whatever its probes say (kept across restarts and takeovers),
    /// or back to auto.
    Set {
        check: String,
        mode: HealthMode,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
enum AnnounceCommand {
    /// The source becomes exactly these announcements (none: the source goes); only the
    /// difference is sent.
    Set {
        #[command(flatten)]
        entries: AnnounceEntries,
    },
    /// These join the source, or replace its entry for their prefix.
    Add {
        #[command(flatten)]
        entries: AnnounceEntries,
    },
    /// These prefixes leave the source (withdrawn).
    Delete {
        #[arg(long)]
        source: String,
        #[arg(required = true)]
        prefixes: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Every source's announcements (`config` is the config file's), or one source's.
    List {
        #[arg(long)]
        source: Option<String>,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(clap::Args)]
struct AnnounceEntries {
    /// The source's name (a-z 0-9 . _ -; `config` is the config file's).
    #[arg(long)]
    source: String,
    /// `[[announce]]` entries as in the config (TOML), or a JSON array of them; `-`: stdin.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Prefixes announced with no attributes of their own.
    prefixes: Vec<String>,
    #[command(flatten)]
    target: Target,
}

impl AnnounceEntries {
    /// The request `make` builds from the source and its entries, sent; the daemon's answer.
    fn send(self, make: fn(String, Vec<serde_json::Value>) -> ControlRequest) -> Result<()> {
        let announcements = self.read()?;
        done(make(self.source, announcements), self.target)
    }

    fn read(&self) -> Result<Vec<serde_json::Value>> {
        let mut entries = match self.file.as_deref() {
            None => Vec::new(),
            Some(path) => {
                let text = match path.to_str() {
                    Some("-") => std::io::read_to_string(std::io::stdin())?,
                    _ => std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                };
                gracewire::sources::entries_from_text(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
        };
        entries.extend(
            self.prefixes
                .iter()
                .map(|p| serde_json::json!({ "prefix": p })),
        );
        Ok(entries)
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum HealthMode {
    Up,
    Down,
    Auto,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Load PLUGIN as KIND (init with --config, self-check), make the call stdin describes
    /// (`{"peer":..,"batch":..}`, or `{"peer":..,"capability":..}` for gr), print the answer.
    Call {
        /// announce, communities or gr.
        kind: PluginKind,
        plugin: PathBuf,
        /// The plugin's config as JSON, as the daemon passes it to `init`.
        #[arg(long, default_value = "")]
        config: String,
        /// Keep compiled plugins here (made 0700 if missing), as the daemon's plugin-cache.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Show {
    /// Sessions; with a PEER, everything negotiated with it.
    Neighbors {
        peer: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Routes received (Adj-RIB-In; * marks the best).
    Routes {
        #[command(flatten)]
        filter: Filter,
        #[command(flatten)]
        out: Output,
    },
    /// Routes sent (Adj-RIB-Out).
    Advertised {
        #[command(flatten)]
        filter: Filter,
        #[command(flatten)]
        out: Output,
    },
    /// Plugins in service, their versions and counters.
    Plugins {
        #[command(flatten)]
        out: Output,
    },
}

#[derive(clap::Args)]
struct Filter {
    /// Only this peer's routes.
    #[arg(long)]
    peer: Option<String>,
    /// A prefix (the routes within it) or an address (the routes covering it).
    prefix: Option<String>,
}

impl From<Filter> for RouteFilter {
    fn from(f: Filter) -> RouteFilter {
        RouteFilter {
            peer: f.peer,
            prefix: f.prefix,
        }
    }
}

#[derive(clap::Args)]
struct Output {
    /// The control socket's JSON answer instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: Target,
}

/// Which running daemon to talk to.
#[derive(clap::Args)]
struct Target {
    /// The daemon's config, to find its control socket.
    #[arg(short, long, conflicts_with = "socket")]
    config: Option<PathBuf>,
    /// The control socket, if not the one the config names.
    #[arg(short, long)]
    socket: Option<PathBuf>,
}

fn load(path: &std::path::Path) -> Result<Config> {
    Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

fn main() -> std::process::ExitCode {
    gracewire::heap::limit_arenas();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => load(&config).and_then(|c| {
            // Plugins are compiled, initialised with their config and self-checked too.
            let runtime = Arc::new(PluginRuntime::new(None)?);
            let plugins = load_all(&c, &runtime)?;
            let loaded = PluginKind::ALL
                .into_iter()
                .filter(|k| plugins.get(*k).is_some())
                .count();
            println!(
                "{}: ok ({} peers, {} announcements, {loaded} plugins)",
                config.display(),
                c.peers().count(),
                c.announcements().count()
            );
            Ok(())
        }),
        Command::Run {
            config,
            log_format,
            takeover,
            linger_after_takeover,
        } => load(&config).and_then(|c| {
            let upgrade = Upgrade {
                takeover,
                linger_after_takeover,
            };
            run(c, config, log_format, upgrade)
        }),
        Command::Show { what } => show(what),
        Command::Announce { what } => announce(what),
        Command::Health { set: None, out } => health(out),
        Command::Health {
            set:
                Some(HealthCommand::Set {
                    check,
                    mode,
                    target,
                }),
            ..
        } => {
            let forced = match mode {
                HealthMode::Up => Some(gracewire::health::Forced::Up),
                HealthMode::Down => Some(gracewire::health::Forced::Down),
                HealthMode::Auto => None,
            };
            done(ControlRequest::HealthSet { check, forced }, target)
        }
        Command::Plan {
            config,
            plugins,
            health,
            socket,
            json,
        } => plan(config, plugins, health, socket, json),
        Command::Plugin {
            what:
                PluginCommand::Call {
                    kind,
                    plugin,
                    config,
                    cache_dir,
                },
        } => plugin_call(kind, &plugin, &config, cache_dir),
        Command::Drain {
            wait,
            if_marked,
            target,
        } => done(
            ControlRequest::Drain {
                wait_secs: wait,
                if_marked,
            },
            target,
        ),
        Command::Reload { target } => done(ControlRequest::Reload, target),
        Command::Undrain { target } => done(ControlRequest::Undrain, target),
        Command::Decommission { target } => done(ControlRequest::Decommission, target),
        Command::Reset { peer, hard, target } => done(ControlRequest::Reset { peer, hard }, target),
        Command::Refresh {
            peer,
            inbound,
            outbound,
            target,
        } => {
            // Neither flag: the API refreshes both ways.
            done(
                ControlRequest::Refresh {
                    peer,
                    inbound,
                    outbound,
                },
                target,
            )
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gracewire: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn plan(
    config: Option<PathBuf>,
    plugins: Vec<String>,
    health: Vec<String>,
    socket: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let absolute = |p: &std::path::Path| std::path::absolute(p).context("resolving a path");
    let mut files = Vec::new();
    for spec in &plugins {
        let (kind, path) = spec
            .split_once('=')
            .with_context(|| format!("--plugin {spec}: expected KIND=PATH"))?;
        let kind: PluginKind = kind
            .parse()
            .map_err(|e| anyhow::anyhow!("--plugin {spec}: {e}"))?;
        files.push((kind, absolute(std::path::Path::new(path))?));
    }
    let mut supposed = Vec::new();
    for spec in &health {
        let forced = match spec.split_once('=') {
            Some((name, "up")) => (name, gracewire::health::Forced::Up),
            Some((name, "down")) => (name, gracewire::health::Forced::Down),
            _ => anyhow::bail!("--health {spec}: expected NAME=up or NAME=down"),
        };
        supposed.push((forced.0.to_string(), forced.1));
    }
    if config.is_none() && files.is_empty() && supposed.is_empty() {
        anyhow::bail!("nothing to plan: give --config, --plugin, --health or any of them");
    }
    let request = ControlRequest::Plan {
        config: config.as_deref().map(absolute).transpose()?,
        plugins: files,
        health: supposed,
    };
    // Without --socket, the candidate config's control socket (a config that does not load
    // stops here, with the error a reload would log).
    let config = config.filter(|_| socket.is_none());
    let answer = ask(request, Target { config, socket })?;
    match answer.response {
        _ if json => println!("{}", serde_json::to_string_pretty(&answer.json)?),
        ControlResponse::Plan(report) => print!("{}", cli::plan(&report)),
        _ => println!("{}", serde_json::to_string_pretty(&answer.json)?),
    }
    Ok(())
}

fn plugin_call(
    kind: PluginKind,
    plugin: &std::path::Path,
    config: &str,
    cache_dir: Option<PathBuf>,
) -> Result<()> {
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)?;
    let runtime = Arc::new(PluginRuntime::new(cache_dir)?);
    let answer = gracewire::plugins::call::call_json(&runtime, kind, plugin, config, &input)?;
    println!("{answer}");
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// One call to the daemon's control API: its reply, or its status as an error.
fn ask(request: ControlRequest, target: Target) -> Result<api::client::Reply> {
    let socket = match (target.socket, target.config) {
        (Some(s), _) => s,
        (None, Some(c)) => load(&c)?.global.control_socket(),
        (None, None) => PathBuf::from("/var/lib/gracewire/gracewire.sock"),
    };
    runtime()?.block_on(api::client::call(&socket, request))
}

/// Operator actions: the daemon's message, or its error as ours.
fn done(request: ControlRequest, target: Target) -> Result<()> {
    let answer = ask(request, target)?;
    match answer.response {
        ControlResponse::Done { message } => println!("{message}"),
        _ => println!("{}", serde_json::to_string_pretty(&answer.json)?),
    }
    Ok(())
}

fn announce(what: AnnounceCommand) -> Result<()> {
    type Make = fn(String, Vec<serde_json::Value>) -> ControlRequest;
    let (source, out) = match what {
        AnnounceCommand::Set { entries } => {
            let make: Make = |source, announcements| ControlRequest::AnnounceSet {
                source,
                announcements,
            };
            return entries.send(make);
        }
        AnnounceCommand::Add { entries } => {
            let make: Make = |source, announcements| ControlRequest::AnnounceAdd {
                source,
                announcements,
            };
            return entries.send(make);
        }
        AnnounceCommand::Delete {
            source,
            prefixes,
            target,
        } => return done(ControlRequest::AnnounceDelete { source, prefixes }, target),
        AnnounceCommand::List { source, out } => (source, out),
    };
    let answer = ask(ControlRequest::AnnounceList { source }, out.target)?;
    match answer.response {
        _ if out.json => println!("{}", serde_json::to_string_pretty(&answer.json)?),
        ControlResponse::Announcements { sources } => print!("{}", cli::announcements(&sources)),
        _ => println!("{}", serde_json::to_string_pretty(&answer.json)?),
    }
    Ok(())
}

fn health(out: Output) -> Result<()> {
    let answer = ask(ControlRequest::Health, out.target)?;
    match answer.response {
        ControlResponse::Health(checks) if !out.json => print!("{}", cli::health(&checks)),
        _ => println!("{}", serde_json::to_string_pretty(&answer.json)?),
    }
    Ok(())
}

fn show(what: Show) -> Result<()> {
    let (request, out, peer) = match what {
        Show::Neighbors { peer, out } => (ControlRequest::Neighbors, out, peer),
        Show::Routes { filter, out } => (
            ControlRequest::Routes {
                filter: filter.into(),
            },
            out,
            None,
        ),
        Show::Advertised { filter, out } => (
            ControlRequest::Advertised {
                filter: filter.into(),
            },
            out,
            None,
        ),
        Show::Plugins { out } => (ControlRequest::Plugins, out, None),
    };
    let advertised = matches!(request, ControlRequest::Advertised { .. });
    let json = out.json;
    let answer = ask(request, out.target)?;
    let text = match (answer.response, &peer) {
        (ControlResponse::Neighbors(peers), Some(name)) => {
            let at = peers
                .iter()
                .position(|p| &p.name == name)
                .ok_or_else(|| anyhow::anyhow!("NOT_FOUND: no peer named `{name}`"))?;
            match json {
                true => serde_json::to_string_pretty(&answer.json["peers"][at])?,
                false => cli::neighbor(&peers[at]),
            }
        }
        _ if json => serde_json::to_string_pretty(&answer.json)?,
        (ControlResponse::Neighbors(peers), None) => cli::neighbors(&peers),
        (ControlResponse::Plugins(plugins), _) => cli::plugins(&plugins),
        (
            ControlResponse::Routes {
                loc_rib_prefixes,
                selection_deferred,
                routes,
                withheld,
            },
            _,
        ) => {
            let mut text = cli::routes(loc_rib_prefixes, selection_deferred, &routes, advertised);
            text += &cli::withheld(&withheld);
            text
        }
        _ => serde_json::to_string_pretty(&answer.json)?,
    };
    print!("{text}");
    if json {
        println!();
    }
    Ok(())
}

/// How a process takes part in a hitless upgrade.
struct Upgrade {
    /// Take the sessions over from the running process at start.
    takeover: bool,
    /// Once handed over, wait for SIGTERM rather than exit.
    linger_after_takeover: bool,
}

fn run(
    config: Config,
    config_path: PathBuf,
    log_format: LogFormat,
    upgrade: Upgrade,
) -> Result<()> {
    let takeover = upgrade.takeover;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
    runtime()?.block_on(async move {
        let state_dir = &config.global.state_dir.clone(); // config moves into the daemon
        gracewire::private::private_dir(state_dir).with_context(|| {
            format!("cannot make state_dir {} (owner-only, 0700)", state_dir.display())
        })?;
        let runtime = Arc::new(PluginRuntime::new(Some(state_dir.join("plugin-cache")))?);
        let plugins = load_all(&config, &runtime)?;
        // Config and plugins are ready before anything is taken over: the running process
        // serves until this one can go on at once.
        let mut taken = if takeover { take_over(state_dir).await } else { None };
        let (incoming_tx, incoming) = mpsc::channel(64);
        let mut listening = None;
        if let Some(addr) = config.global.listen {
            let handed = taken.as_mut().and_then(|t| t.listener.take());
            let l = match handed {
                Some(fd) => listener::adopt(std::net::TcpListener::from(fd), addr)?,
                // After a refused takeover the old process may still be letting go of it.
                None => listener::bind_patiently(addr, if takeover { 50 } else { 0 })
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?,
            };
            listening = Some((std::os::fd::AsRawFd::as_raw_fd(&l), addr.is_ipv6()));
            listener::spawn(l, incoming_tx);
        }
        let (control_tx, control) = mpsc::channel(16);
        // Scrapes and probes have a channel of their own: they never take the operator's room.
        let (scrape_tx, scrapes) = mpsc::channel(8);
        if let Some(addr) = config.global.metrics {
            if takeover {
                // The previous process holds the port until it has handed over and exited.
                let control = scrape_tx.clone();
                tokio::spawn(async move {
                    for _ in 0..100 {
                        if gracewire::http::serve(addr, control.clone()).await.is_ok() {
                            return;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    tracing::error!(%addr, "cannot serve metrics: the address stays in use");
                });
            } else {
                gracewire::http::serve(addr, scrape_tx.clone())
                    .await
                    .with_context(|| format!("cannot serve metrics on {addr}"))?;
            }
        }
        let (takeover_tx, takeover_requests) = mpsc::channel(1);
        gracewire::takeover::listen(state_dir, takeover_tx)
            .await
            .with_context(|| format!("cannot open the takeover socket in {}", state_dir.display()))?;
        let socket = config.global.control_socket();
        let events = api::events::Events::default();
        api::server::serve(socket.clone(), control_tx, events.clone())
            .await
            .with_context(|| format!("cannot open control socket {}", socket.display()))?;
        let (stop, shutdown) = oneshot::channel();
        let (reload_tx, reload) = mpsc::channel(4);
        let (drain_tx, drain) = mpsc::channel(4);
        let log_format_name = match log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        let successor = gracewire::takeover::systemd::successor(&config_path, log_format_name);
        tokio::spawn(handle_signals(stop, reload_tx, drain_tx, successor));
        info!(asn = config.global.asn.0, router_id = %config.global.router_id.0, "gracewire starting");
        let inputs = Inputs {
            incoming,
            control,
            scrapes,
            shutdown,
            reload,
            drain,
            listener: listening,
            takeover: takeover_requests,
            taken,
            events,
        };
        let exit = daemon::run(config, config_path, runtime, plugins, inputs).await;
        if exit == daemon::Exit::TakenOver {
            info!("gracewire handed its sessions over and stopped");
            if upgrade.linger_after_takeover {
                use tokio::signal::unix::{signal, SignalKind};
                let mut term = signal(SignalKind::terminate())?;
                let mut int = signal(SignalKind::interrupt())?;
                info!("lingering until SIGTERM (--linger-after-takeover)");
                tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
            }
            return Ok(()); // the sockets' paths are the new process's now
        }
        let _ = std::fs::remove_file(&socket);
        let _ = std::fs::remove_file(gracewire::takeover::socket_path(state_dir));
        info!("gracewire stopped");
        Ok(())
    })
}

/// SIGUSR2: the installed binary, started to take over. If it fails (a config that no longer
/// validates, say) this process serves on; its exit is logged.
fn start_successor(cmd: &mut std::process::Command) {
    match cmd.spawn() {
        Ok(mut child) => {
            info!(pid = child.id(), command = ?cmd, "SIGUSR2 received: started the new process to take over");
            std::thread::spawn(move || {
                if let Ok(status) = child.wait() {
                    if !status.success() {
                        tracing::warn!(%status, "the new process failed before taking over: serving on");
                    }
                }
            });
        }
        Err(e) => {
            tracing::error!(error = %e, command = ?cmd, "SIGUSR2: cannot start the new process")
        }
    }
}

/// Asks the gracewire running with `state_dir` for its sessions (see `gracewire::takeover`).
async fn take_over(state_dir: &std::path::Path) -> Option<gracewire::takeover::Taken> {
    use gracewire::takeover::{take_over, Outcome};
    let dir = state_dir.to_path_buf();
    let outcome = tokio::task::spawn_blocking(move || take_over(&dir))
        .await
        .ok()?;
    match outcome {
        Outcome::Taken(t) => {
            info!(
                sessions = t.sessions.len(),
                from_pid = t.old_pid,
                "taking the sessions over from the running gracewire"
            );
            Some(t)
        }
        Outcome::Nobody(why) => {
            info!(%why, "no running gracewire to take over from: starting as after a restart");
            None
        }
        Outcome::Refused { reason, mut conn } => {
            tracing::warn!(%reason, "the running gracewire refused the takeover: it stops the graceful way (its peers keep our routes in graceful restart), and this one starts once it has");
            let _ = tokio::task::spawn_blocking(move || {
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(30)));
                let _ = std::io::Read::read(&mut conn, &mut [0u8; 1]);
            })
            .await;
            None
        }
    }
}

/// SIGTERM/SIGINT stop the daemon; SIGHUP reloads the config; SIGUSR1 drains; SIGUSR2 starts
/// the installed binary to take this process's sessions over (a hitless upgrade).
async fn handle_signals(
    stop: oneshot::Sender<()>,
    reload: mpsc::Sender<()>,
    drain: mpsc::Sender<()>,
    mut successor: std::process::Command,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    let mut usr1 = signal(SignalKind::user_defined1()).expect("SIGUSR1 handler");
    let mut usr2 = signal(SignalKind::user_defined2()).expect("SIGUSR2 handler");
    loop {
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM received"); break; }
            _ = int.recv() => { info!("SIGINT received"); break; }
            _ = usr1.recv() => {
                info!("SIGUSR1 received: draining");
                let _ = drain.send(()).await;
            }
            _ = hup.recv() => {
                info!("SIGHUP received: reloading config");
                let _ = reload.send(()).await;
            }
            _ = usr2.recv() => start_successor(&mut successor),
        }
    }
    let _ = stop.send(());
}
