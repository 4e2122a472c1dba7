//! The probes, on tokio: one task per check runs its probe every `interval_ms`, bounded by
//! `timeout_ms`, and reports each result. One probe at a time per check, so a check costs one
//! socket or one child process at most, and one report per interval reaches the daemon.

use crate::config::health::{HealthCheck, HttpTarget, ProbeKind};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Of an HTTP answer's body, this much at most is read for `body_contains`.
pub const BODY_READ_LIMIT: usize = 64 * 1024;

/// One probe's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub check: Arc<str>,
    /// Which configuration of the check ran it: a report from a check since changed is dropped.
    pub generation: u64,
    /// `Err`: why it failed.
    pub outcome: Result<(), String>,
    pub took: Duration,
}

/// Starts probing `check` every interval; each result goes to `report`. The first probe starts
/// at once. Aborting the task ends the probe in flight (an `exec` child is killed).
pub fn spawn(
    name: Arc<str>,
    check: HealthCheck,
    generation: u64,
    report: impl Fn(Report) + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(check.interval());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let started = Instant::now();
            let outcome = run(&check).await;
            report(Report {
                check: name.clone(),
                generation,
                outcome,
                took: started.elapsed(),
            });
        }
    })
}

/// Runs one probe within the check's timeout.
pub async fn run(check: &HealthCheck) -> Result<(), String> {
    let probe = async {
        match check.kind {
            ProbeKind::Tcp => tcp(check).await,
            ProbeKind::Http => http(check).await,
            ProbeKind::Exec => exec(check).await,
        }
    };
    match tokio::time::timeout(check.timeout(), probe).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no answer within {} ms", check.timeout_ms)),
    }
}

async fn tcp(check: &HealthCheck) -> Result<(), String> {
    let address = check.address.ok_or("no address")?;
    TcpStream::connect(address)
        .await
        .map(drop)
        .map_err(|e| format!("connect {address}: {e}"))
}

async fn http(check: &HealthCheck) -> Result<(), String> {
    let target: HttpTarget = check.http_url().map_err(|(_, e)| e)?;
    let stream = TcpStream::connect(target.connect)
        .await
        .map_err(|e| format!("connect {}: {e}", target.connect))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let connection = tokio::spawn(connection);
    let answer = async {
        let request = ::http::Request::get(target.path.as_str())
            .header(::http::header::HOST, target.host.as_str())
            .header(::http::header::USER_AGENT, "gracewire-health")
            .header(::http::header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("HTTP request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let status = response.status().as_u16();
        let [low, high] = check.expect_status;
        if !(low..=high).contains(&status) {
            return Err(format!("HTTP status {status}, expected {low}..={high}"));
        }
        let Some(needle) = &check.body_contains else {
            return Ok(());
        };
        let mut body = response.into_body();
        let mut read = Vec::new();
        while read.len() < BODY_READ_LIMIT {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        read.extend_from_slice(data);
                    }
                }
                Some(Err(e)) => return Err(format!("HTTP body: {e}")),
                None => break,
            }
        }
        read.truncate(BODY_READ_LIMIT);
        match String::from_utf8_lossy(&read).contains(needle.as_str()) {
            true => Ok(()),
            false => Err(format!(
                "HTTP status {status}, but the body does not contain {needle:?}"
            )),
        }
    }
    .await;
    connection.abort();
    answer
}

async fn exec(check: &HealthCheck) -> Result<(), String> {
    let (program, args) = check.command.split_first().ok_or("no command")?;
    // No shell, nothing inherited but the environment; killed if the timeout drops this.
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let status = child.wait().await.map_err(|e| format!("{program}: {e}"))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(format!("{program} exited with {code}")),
        None => Err(format!("{program} ended by a signal")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn check(text: &str) -> HealthCheck {
        let c: HealthCheck = toml::from_str(text).unwrap();
        c.check().unwrap();
        c
    }

    #[tokio::test]
    async fn tcp_passes_while_something_listens() {
        // An address no other test binds: a port freed here cannot be taken by another test.
        let listener = TcpListener::bind("127.0.33.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let c = check(&format!("kind = \"tcp\"\naddress = \"{addr}\""));
        assert_eq!(run(&c).await, Ok(()));
        drop(listener);
        let err = run(&c).await.unwrap_err();
        assert!(err.contains("connect 127.0.33.1"), "{err}");
    }

    /// Answers each connection with `answer`, once it has read the request's head.
    async fn serve(answer: &'static str) -> (std::net::SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    head.extend_from_slice(&buf[..n]);
                }
                assert!(head.starts_with(b"GET /ready HTTP/1.1\r\n"));
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        (addr, task)
    }

    #[tokio::test]
    async fn http_checks_the_status_range_and_the_body() {
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nstatus=ok";
        let (addr, _server) = serve(ok).await;
        let url = format!("url = \"http://{addr}/ready\"");
        assert_eq!(
            run(&check(&format!("kind = \"http\"\n{url}"))).await,
            Ok(())
        );
        let body = format!("kind = \"http\"\n{url}\nbody_contains = \"status=ok\"");
        assert_eq!(run(&check(&body)).await, Ok(()));
        let other = format!("kind = \"http\"\n{url}\nbody_contains = \"ready\"");
        let err = run(&check(&other)).await.unwrap_err();
        assert!(err.contains("does not contain"), "{err}");

        let (addr, _server) = serve("HTTP/1.1 503 No\r\ncontent-length: 0\r\n\r\n").await;
        let c = check(&format!("kind = \"http\"\nurl = \"http://{addr}/ready\""));
        let err = run(&c).await.unwrap_err();
        assert_eq!(err, "HTTP status 503, expected 200..=399");
    }

    #[tokio::test]
    async fn only_the_first_64_kib_of_a_body_are_read() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body = "x".repeat(BODY_READ_LIMIT) + "late";
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
            }
        });
        let url = format!("kind = \"http\"\nurl = \"http://{addr}/ready\"");
        let late = check(&format!("{url}\nbody_contains = \"late\""));
        assert!(run(&late).await.unwrap_err().contains("does not contain"));
        let early = check(&format!("{url}\nbody_contains = \"xxxx\""));
        assert_eq!(run(&early).await, Ok(()));
    }

    #[tokio::test]
    async fn a_server_that_never_answers_fails_at_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let c = check(&format!(
            "kind = \"http\"\nurl = \"http://{addr}/ready\"\ninterval_ms = 200\ntimeout_ms = 100"
        ));
        let started = Instant::now();
        assert_eq!(run(&c).await, Err("no answer within 100 ms".into()));
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[tokio::test]
    async fn exec_passes_on_exit_status_zero_and_is_killed_at_the_timeout() {
        let c = check("kind = \"exec\"\ncommand = [\"/bin/sh\", \"-c\", \"exit 0\"]");
        assert_eq!(run(&c).await, Ok(()));
        let c = check("kind = \"exec\"\ncommand = [\"/bin/sh\", \"-c\", \"exit 7\"]");
        assert_eq!(run(&c).await, Err("/bin/sh exited with 7".into()));
        let c = check("kind = \"exec\"\ncommand = [\"/no/such/program\"]");
        assert!(run(&c).await.unwrap_err().starts_with("/no/such/program: "));

        let dir = std::env::temp_dir().join(format!("gw-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("pid");
        let c = check(&format!(
            "kind = \"exec\"\ncommand = [\"/bin/sh\", \"-c\", \"echo $$ > {}; exec sleep 30\"]\n\
             interval_ms = 300\ntimeout_ms = 200",
            pid_file.display()
        ));
        assert_eq!(run(&c).await, Err("no answer within 200 ms".into()));
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // kill_on_drop sends SIGKILL; tokio reaps the child in the background.
        let mut gone = false;
        for _ in 0..100 {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if state.is_empty() || state.split(' ').nth(2) == Some("Z") {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "the probe's child {pid} was killed");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn the_task_reports_every_interval_with_its_generation() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let c =
            check("kind = \"exec\"\ncommand = [\"/bin/true\"]\ninterval_ms = 50\ntimeout_ms = 40");
        let task = spawn("web".into(), c, 7, move |r| drop(tx.send(r)));
        for _ in 0..3 {
            let r = rx.recv().await.unwrap();
            assert_eq!((&*r.check, r.generation, r.outcome), ("web", 7, Ok(())));
        }
        task.abort();
    }
}
