//! The control socket: bounded request lines, one answer per line, and the client side used by
//! `gracewire show`.

use super::{ControlRequest, ControlResponse, ControlSender};
use super::{CONTROL_DEADLINE, MAX_CONTROL_CONNECTIONS, MAX_REQUEST_LINE};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;
use tracing::warn;

/// Serves the control socket until the daemon goes away.
pub async fn serve(path: PathBuf, daemon: ControlSender) -> std::io::Result<()> {
    // A socket left by a previous run (crash, SIGKILL) would make bind fail.
    let _ = std::fs::remove_file(&path);
    // Owner-only (0600) from the start: drain, reset and decommission are operator actions.
    let listener = crate::private::with_umask(0o177, || UnixListener::bind(&path))?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONTROL_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let slot = match slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    crate::bounds::reached(
                        crate::bounds::Limit::ControlConnections,
                        "control connections: the next waits in the kernel's backlog",
                    );
                    let Ok(slot) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    slot
                }
            };
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let daemon = daemon.clone();
            tokio::spawn(async move {
                if let Err(e) = handle(stream, daemon).await {
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::InvalidData | std::io::ErrorKind::TimedOut
                    ) {
                        crate::bounds::reached(crate::bounds::Limit::ControlRequest, &e);
                    }
                    warn!(error = %e, "control connection failed");
                }
                drop(slot);
            });
        }
    });
    Ok(())
}

/// One line of at most `max` bytes (newline not counted); `None` at the end of the stream.
/// A longer line is an error, read no further than `max` + 1 bytes.
pub async fn read_bounded_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncReadExt;
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(max as u64 + 1)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("request line over {max} bytes"),
        ));
    }
    Ok(Some(line))
}

/// An answer as its line on the socket.
fn answer_line(response: &ControlResponse) -> std::io::Result<Vec<u8>> {
    let mut out = serde_json::to_vec(response)?;
    out.push(b'\n');
    Ok(out)
}

async fn handle(stream: UnixStream, daemon: ControlSender) -> std::io::Result<()> {
    crate::private::check_peer(&stream)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let line = tokio::time::timeout(
            CONTROL_DEADLINE,
            read_bounded_line(&mut read, MAX_REQUEST_LINE),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request in time"))?;
        let line = match line {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                let refused = answer_line(&ControlResponse::Error {
                    error: format!("bad request: {e}"),
                })?;
                let _ = tokio::time::timeout(CONTROL_DEADLINE, write.write_all(&refused)).await;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let response = match serde_json::from_slice::<ControlRequest>(line.trim_ascii()) {
            Ok(req) => {
                let (tx, rx) = oneshot::channel();
                if daemon.send((req, tx)).await.is_err() {
                    return Ok(());
                }
                rx.await.unwrap_or(ControlResponse::Error {
                    error: "daemon stopped".into(),
                })
            }
            Err(e) => ControlResponse::Error {
                error: format!("bad request: {e}"),
            },
        };
        let out = answer_line(&response)?;
        tokio::time::timeout(CONTROL_DEADLINE, write.write_all(&out))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "answer not taken in time")
            })??;
    }
}

/// Client side: one request, the raw JSON answer.
pub async fn query(socket: &Path, req: ControlRequest) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let stream = UnixStream::connect(socket).await.with_context(|| {
        format!(
            "cannot reach {}: is `gracewire run` up? (--config names the daemon's config, \
             --socket its control socket)",
            socket.display()
        )
    })?;
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(&req)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    let mut lines = BufReader::new(read).lines();
    let answer = lines
        .next_line()
        .await?
        .context("no answer from gracewire")?;
    Ok(serde_json::from_str(&answer)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    #[tokio::test]
    async fn request_lines_are_bounded() {
        let input: &[u8] = b"short\nexactly8\n123456789";
        let mut r = BufReader::new(input);
        assert_eq!(
            read_bounded_line(&mut r, 8).await.unwrap().unwrap(),
            b"short"
        );
        assert_eq!(
            read_bounded_line(&mut r, 8).await.unwrap().unwrap(),
            b"exactly8"
        );
        let err = read_bounded_line(&mut r, 8).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }

    /// A client that sends a line without end gets an error answer once it passes the bound,
    /// not a daemon buffering it; one that sends nothing keeps a slot only until the deadline.
    #[tokio::test]
    async fn a_control_client_cannot_send_an_endless_line() {
        let dir = std::env::temp_dir().join(format!("gw-api-{}", std::process::id()));
        crate::private::private_dir(&dir).unwrap();
        let path = dir.join("control.sock");
        let (tx, _rx) = mpsc::channel(1);
        serve(path.clone(), tx).await.unwrap();
        let stream = UnixStream::connect(&path).await.unwrap();
        let (read, mut write) = stream.into_split();
        let chunk = vec![b'x'; 16 << 10];
        for _ in 0..(MAX_REQUEST_LINE / chunk.len() + 1) {
            if write.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let answer = BufReader::new(read)
            .lines()
            .next_line()
            .await
            .unwrap()
            .unwrap();
        assert!(
            answer.contains(&format!("request line over {MAX_REQUEST_LINE} bytes")),
            "{answer}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
