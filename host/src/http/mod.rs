//! `/metrics`, `/healthz` and `/readyz` over HTTP (axum on hyper), for Prometheus and for
//! Kubernetes probes. Each request asks the daemon loop, as the control socket does, so a loop
//! that stopped answering fails liveness.
//!
//! - `/metrics`: the OpenMetrics text of [`crate::daemon`]'s metrics and the process's own.
//! - `/healthz`: 200 while the daemon loop answers (within 2 s), else 503.
//! - `/readyz`: 200 once config and plugins are loaded (they are before the loop runs) and
//!   every configured peer has been attempted at least once; else 503 naming who is left.

mod bounded;

pub use bounded::{IDLE as IDLE_TIMEOUT, MAX_CONNECTIONS};

use crate::api::{ControlRequest, ControlResponse, ControlSender, ProcessStats};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::{info, warn};

/// Binds `addr` and serves until the process ends.
pub async fn serve(addr: SocketAddr, daemon: ControlSender) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    info!(%addr, "serving /metrics, /healthz, /readyz");
    serve_on(listener, daemon);
    Ok(())
}

fn serve_on(listener: tokio::net::TcpListener, daemon: ControlSender) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(daemon);
    tokio::spawn(async move {
        let listener = bounded::BoundedListener::new(listener, MAX_CONNECTIONS, IDLE_TIMEOUT);
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, "metrics server stopped");
        }
    });
}

/// The daemon loop's answer. Scrapes have a channel of their own, apart from the operator's
/// control socket, and never wait for room in it: a full channel (scrapes faster than the loop
/// answers) is a 503 at once, so scrapes can never delay an operator's command.
async fn ask(daemon: &ControlSender, request: ControlRequest) -> Option<ControlResponse> {
    let (tx, rx) = oneshot::channel();
    if daemon.try_send((request, tx)).is_err() {
        crate::bounds::reached(
            crate::bounds::Limit::MetricsScrapes,
            "scrapes faster than the daemon answers: 503",
        );
        return None;
    }
    tokio::time::timeout(Duration::from_secs(2), rx)
        .await
        .ok()?
        .ok()
}

fn unavailable(why: &str) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response()
}

/// OpenMetrics to a scraper that asks for it (Prometheus does), the classic text format
/// (0.0.4) to anyone else (curl, `promtool check metrics`).
async fn metrics(State(daemon): State<ControlSender>, headers: HeaderMap) -> Response {
    let process = process_stats();
    let Some(ControlResponse::Metrics { metrics }) =
        ask(&daemon, ControlRequest::Metrics { process }).await
    else {
        return unavailable("the daemon loop does not answer");
    };
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if openmetrics {
        let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        ([(header::CONTENT_TYPE, kind)], metrics).into_response()
    } else {
        let kind = "text/plain; version=0.0.4; charset=utf-8";
        ([(header::CONTENT_TYPE, kind)], classic_text(&metrics)).into_response()
    }
}

/// OpenMetrics text as the classic Prometheus text format: no `# EOF` or `# UNIT`, and a
/// counter's HELP and TYPE name its `_total` samples (OpenMetrics names the family without
/// the suffix). `prometheus-client` writes only OpenMetrics.
fn classic_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 64 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta.and_then(|(p, rest)| rest.split_once(' ').map(|(n, t)| (p, n, t))) {
            Some((p, name, text)) if counters.contains(name) => {
                out.push_str(&format!("{p}{name}_total {text}\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

async fn healthz(State(daemon): State<ControlSender>) -> Response {
    match ask(&daemon, ControlRequest::Ready).await {
        Some(_) => (StatusCode::OK, "ok\n").into_response(),
        None => unavailable("the daemon loop does not answer"),
    }
}

async fn readyz(State(daemon): State<ControlSender>) -> Response {
    match ask(&daemon, ControlRequest::Ready).await {
        Some(ControlResponse::Ready { ready: true, .. }) => {
            (StatusCode::OK, "ready\n").into_response()
        }
        Some(ControlResponse::Ready { not_attempted, .. }) => {
            unavailable(&format!("not attempted yet: {}", not_attempted.join(", ")))
        }
        _ => unavailable("the daemon loop does not answer"),
    }
}

/// The process's memory, CPU time, start time and open files, from /proc (Linux).
fn process_stats() -> ProcessStats {
    let mut p = ProcessStats::default();
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        let rss: u64 = statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        p.resident_memory_bytes = rss * page;
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| -> f64 {
            fields
                .get(n - 3)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        p.cpu_seconds = (field(14) + field(15)) / ticks;
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0);
        p.start_time_seconds = boot + field(22) / ticks;
    }
    p.open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc;

    type Requests = mpsc::Receiver<(ControlRequest, oneshot::Sender<ControlResponse>)>;

    async fn server(capacity: usize) -> (SocketAddr, Requests) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel(capacity);
        serve_on(listener, tx);
        (addr, rx)
    }

    /// The status line and body of one GET.
    async fn get(addr: SocketAddr, path: &str) -> (String, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_string(), body.to_string())
    }

    #[tokio::test]
    async fn readyz_names_the_peers_not_attempted_while_healthz_is_200() {
        let (addr, mut rx) = server(4).await;
        tokio::spawn(async move {
            while let Some((_, reply)) = rx.recv().await {
                let _ = reply.send(ControlResponse::Ready {
                    ready: false,
                    not_attempted: vec!["tor1".into(), "tor2".into()],
                });
            }
        });
        let (status, body) = get(addr, "/readyz").await;
        assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
        assert_eq!(body, "not attempted yet: tor1, tor2\n");
        let (status, _) = get(addr, "/healthz").await;
        assert_eq!(status, "HTTP/1.1 200 OK", "the loop answers: alive");
    }

    #[tokio::test]
    async fn a_loop_that_does_not_answer_fails_liveness_in_two_seconds() {
        let (addr, mut rx) = server(4).await;
        let held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some(request) = rx.recv().await {
                held.push(request); // never answered
            }
        });
        let started = std::time::Instant::now();
        let (status, body) = get(addr, "/healthz").await;
        assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
        assert_eq!(body, "the daemon loop does not answer\n");
        assert!(started.elapsed() >= Duration::from_secs(2));
        let (status, _) = get(addr, "/readyz").await;
        assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
        held.abort();
    }

    #[tokio::test]
    async fn a_full_scrape_channel_is_503_at_once_and_counted() {
        let (addr, _rx) = server(1).await; // nobody takes requests: the first fills it
        let before = crate::bounds::count(crate::bounds::Limit::MetricsScrapes);
        let first = tokio::spawn(get(addr, "/metrics"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        let (status, _) = get(addr, "/metrics").await;
        assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
        assert!(started.elapsed() < Duration::from_secs(1), "not waiting");
        assert!(crate::bounds::count(crate::bounds::Limit::MetricsScrapes) > before);
        assert_eq!(first.await.unwrap().0, "HTTP/1.1 503 Service Unavailable");
    }

    #[test]
    fn openmetrics_becomes_the_classic_text_format() {
        let om = "# HELP x_calls Calls.\n# TYPE x_calls counter\nx_calls_total{kind=\"a\"} 3\n\
                  # HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n# UNIT x_s seconds\n# EOF\n";
        assert_eq!(
            classic_text(om),
            "# HELP x_calls_total Calls.\n# TYPE x_calls_total counter\nx_calls_total{kind=\"a\"} 3\n\
             # HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n"
        );
    }
}
