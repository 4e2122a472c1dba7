//! The control API served with tonic on the owner-only Unix socket. Each call becomes one
//! [`ControlRequest`] to the daemon loop and its [`ControlResponse`] the reply or the status.
//!
//! Bounds (docs/security.md): [`MAX_CONTROL_CONNECTIONS`] connections, each with
//! [`CONTROL_DEADLINE`] to start talking; [`MAX_CALLS_PER_CONNECTION`] calls open per
//! connection and [`MAX_CALLS_IN_PROGRESS`] in progress over all of them; requests of at most
//! [`MAX_REQUEST_BYTES`] and [`super::MAX_REPEATED`] entries per field; [`CONTROL_DEADLINE`]
//! per call (a drain's wait on top); HTTP/2 keepalive ends connections whose client is gone.

use super::convert::{self, announcement_entry, bridge};
use super::events::Events;
use super::proto::{self, control_server::ControlServer};
use super::{Code, ControlRequest, ControlResponse, ControlSender};
use super::{CONTROL_DEADLINE, MAX_CALLS_IN_PROGRESS, MAX_CALLS_PER_CONNECTION};
use super::{MAX_CONTROL_CONNECTIONS, MAX_REQUEST_BYTES};
use crate::bounds::{reached, Limit};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tracing::{debug, warn};

/// Binds the socket (0600) and serves it until the process ends.
pub async fn serve(path: PathBuf, daemon: ControlSender, events: Events) -> std::io::Result<()> {
    // A socket left by a previous run (crash, SIGKILL) would make bind fail.
    let _ = std::fs::remove_file(&path);
    // Owner-only from the start: drain, reset and announcements are operator actions.
    let listener = crate::private::with_umask(0o177, || UnixListener::bind(&path))?;
    let (conns, incoming) = mpsc::channel(1);
    tokio::spawn(accept(listener, conns));
    let service = ControlServer::new(Api { daemon, events })
        .max_decoding_message_size(MAX_REQUEST_BYTES)
        // Replies are the daemon's own tables: as large as they are (a full `show routes`).
        .max_encoding_message_size(usize::MAX);
    let server = tonic::transport::Server::builder()
        .max_concurrent_streams(MAX_CALLS_PER_CONNECTION)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            MAX_CALLS_IN_PROGRESS,
        ))
        .add_service(service)
        .serve_with_incoming(tokio_stream::wrappers::ReceiverStream::new(incoming));
    tokio::spawn(async move {
        if let Err(e) = server.await {
            warn!(error = %e, "control API stopped");
        }
    });
    Ok(())
}

/// Accepts connections from our own user (or root) while a slot is free, and hands each over
/// once it has sent its first bytes.
async fn accept(listener: UnixListener, conns: mpsc::Sender<std::io::Result<Conn>>) {
    let slots = Arc::new(Semaphore::new(MAX_CONTROL_CONNECTIONS));
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                let what = "control connections: the next waits in the kernel's backlog";
                reached(Limit::ControlConnections, what);
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                slot
            }
        };
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let conns = conns.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::private::check_peer(&stream) {
                warn!(error = %e, "control connection refused");
                return;
            }
            // A client that connects and says nothing holds its slot this long at most.
            match tokio::time::timeout(CONTROL_DEADLINE, first_bytes(&stream)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    debug!(error = %e, "control connection failed");
                    return;
                }
                Err(_) => {
                    reached(Limit::ControlRequest, "a control client silent for 30 s");
                    return;
                }
            }
            let _ = conns
                .send(Ok(Conn {
                    stream,
                    _slot: slot,
                }))
                .await;
        });
    }
}

/// Returns once the client has sent something (or closed), reading nothing: a peek, since
/// tokio's readiness may be reported before any byte is there.
async fn first_bytes(stream: &UnixStream) -> std::io::Result<()> {
    use nix::sys::socket::{recv, MsgFlags};
    use std::os::fd::AsRawFd;
    loop {
        stream.readable().await?;
        let peek = stream.try_io(tokio::io::Interest::READABLE, || {
            let mut byte = [0u8; 1];
            recv(stream.as_raw_fd(), &mut byte, MsgFlags::MSG_PEEK).map_err(std::io::Error::from)
        });
        match peek {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A control connection and its slot, freed when the connection ends.
struct Conn {
    stream: UnixStream,
    _slot: OwnedSemaphorePermit,
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

struct Api {
    daemon: ControlSender,
    events: Events,
}

/// A refusal as its gRPC status.
pub fn status(code: Code, message: String) -> Status {
    let code = match code {
        Code::InvalidArgument => tonic::Code::InvalidArgument,
        Code::NotFound => tonic::Code::NotFound,
        Code::FailedPrecondition => tonic::Code::FailedPrecondition,
        Code::ResourceExhausted => tonic::Code::ResourceExhausted,
        Code::Unavailable => tonic::Code::Unavailable,
    };
    Status::new(code, message)
}

fn unexpected(answer: ControlResponse) -> Status {
    Status::internal(format!("unexpected answer from the daemon: {answer:?}"))
}

type Reply<T> = Result<Response<T>, Status>;

impl Api {
    /// The daemon's answer to `request`, its refusal as a status.
    async fn ask(
        &self,
        request: ControlRequest,
        wait: Duration,
    ) -> Result<ControlResponse, Status> {
        let stopping = || Status::unavailable("the daemon is stopping");
        let (tx, rx) = oneshot::channel();
        self.daemon
            .send((request, tx))
            .await
            .map_err(|_| stopping())?;
        match tokio::time::timeout(wait, rx).await {
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no answer from the daemon in {} s",
                wait.as_secs()
            ))),
            Ok(Err(_)) => Err(stopping()),
            Ok(Ok(ControlResponse::Error { code, error })) => Err(status(code, error)),
            Ok(Ok(answer)) => Ok(answer),
        }
    }

    async fn done(&self, request: ControlRequest, wait: Duration) -> Reply<proto::Done> {
        match self.ask(request, wait).await? {
            ControlResponse::Done { message } => Ok(Response::new(proto::Done { message })),
            other => Err(unexpected(other)),
        }
    }

    async fn routes(&self, request: ControlRequest) -> Reply<proto::RoutesReply> {
        match self.ask(request, CONTROL_DEADLINE).await? {
            ControlResponse::Routes {
                loc_rib_prefixes,
                selection_deferred,
                routes,
                withheld,
            } => Ok(Response::new(proto::RoutesReply {
                loc_rib_prefixes: loc_rib_prefixes as u64,
                selection_deferred,
                routes: routes.iter().map(convert::route_message).collect(),
                withheld: bridge(&withheld).map_err(Status::internal)?,
            })),
            other => Err(unexpected(other)),
        }
    }

    async fn change(&self, c: proto::AnnouncementsChange, set: bool) -> Reply<proto::Done> {
        let announcements = c.announcements.iter().map(announcement_entry).collect();
        let source = c.source;
        let request = match set {
            true => ControlRequest::AnnounceSet {
                source,
                announcements,
            },
            false => ControlRequest::AnnounceAdd {
                source,
                announcements,
            },
        };
        self.done(request, CONTROL_DEADLINE).await
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<proto::Event, Status>> + Send>>;

#[tonic::async_trait]
impl proto::control_server::Control for Api {
    async fn list_neighbors(
        &self,
        _: Request<proto::ListNeighborsRequest>,
    ) -> Reply<proto::ListNeighborsReply> {
        match self
            .ask(ControlRequest::Neighbors, CONTROL_DEADLINE)
            .await?
        {
            ControlResponse::Neighbors(peers) => Ok(Response::new(proto::ListNeighborsReply {
                peers: bridge(&peers).map_err(Status::internal)?,
            })),
            other => Err(unexpected(other)),
        }
    }

    async fn list_routes(&self, r: Request<proto::RouteFilter>) -> Reply<proto::RoutesReply> {
        let filter = convert::filter(r.into_inner());
        self.routes(ControlRequest::Routes { filter }).await
    }

    async fn list_advertised(&self, r: Request<proto::RouteFilter>) -> Reply<proto::RoutesReply> {
        let filter = convert::filter(r.into_inner());
        self.routes(ControlRequest::Advertised { filter }).await
    }

    async fn list_plugins(
        &self,
        _: Request<proto::ListPluginsRequest>,
    ) -> Reply<proto::ListPluginsReply> {
        match self.ask(ControlRequest::Plugins, CONTROL_DEADLINE).await? {
            ControlResponse::Plugins(plugins) => Ok(Response::new(proto::ListPluginsReply {
                plugins: bridge(&plugins).map_err(Status::internal)?,
            })),
            other => Err(unexpected(other)),
        }
    }

    async fn list_health(
        &self,
        _: Request<proto::ListHealthRequest>,
    ) -> Reply<proto::ListHealthReply> {
        match self.ask(ControlRequest::Health, CONTROL_DEADLINE).await? {
            ControlResponse::Health(checks) => Ok(Response::new(proto::ListHealthReply {
                checks: bridge(&checks).map_err(Status::internal)?,
            })),
            other => Err(unexpected(other)),
        }
    }

    async fn set_health(&self, r: Request<proto::SetHealthRequest>) -> Reply<proto::Done> {
        let r = r.into_inner();
        let forced = match convert::forced(r.forced.as_deref(), "forced") {
            Ok(f) => f,
            Err(refused) => return Err(refusal(refused)),
        };
        let request = ControlRequest::HealthSet {
            check: r.check,
            forced,
        };
        self.done(request, CONTROL_DEADLINE).await
    }

    async fn set_announcements(
        &self,
        r: Request<proto::AnnouncementsChange>,
    ) -> Reply<proto::Done> {
        self.change(r.into_inner(), true).await
    }

    async fn add_announcements(
        &self,
        r: Request<proto::AnnouncementsChange>,
    ) -> Reply<proto::Done> {
        self.change(r.into_inner(), false).await
    }

    async fn delete_announcements(
        &self,
        r: Request<proto::DeleteAnnouncementsRequest>,
    ) -> Reply<proto::Done> {
        let r = r.into_inner();
        let request = ControlRequest::AnnounceDelete {
            source: r.source,
            prefixes: r.prefixes,
        };
        self.done(request, CONTROL_DEADLINE).await
    }

    async fn list_announcements(
        &self,
        r: Request<proto::ListAnnouncementsRequest>,
    ) -> Reply<proto::ListAnnouncementsReply> {
        let source = r.into_inner().source;
        match self
            .ask(ControlRequest::AnnounceList { source }, CONTROL_DEADLINE)
            .await?
        {
            ControlResponse::Announcements { sources } => {
                Ok(Response::new(proto::ListAnnouncementsReply {
                    sources: bridge(&sources).map_err(Status::internal)?,
                }))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn drain(&self, r: Request<proto::DrainRequest>) -> Reply<proto::Done> {
        let r = r.into_inner();
        // The drain answers once withdrawn: its wait (or the config's, at most a day) comes
        // on top of the deadline.
        let wait = CONTROL_DEADLINE + Duration::from_secs(r.wait_secs.unwrap_or(86_400));
        let request = ControlRequest::Drain {
            wait_secs: r.wait_secs,
            if_marked: r.if_marked,
        };
        self.done(request, wait).await
    }

    async fn undrain(&self, _: Request<proto::UndrainRequest>) -> Reply<proto::Done> {
        self.done(ControlRequest::Undrain, CONTROL_DEADLINE).await
    }

    async fn decommission(&self, _: Request<proto::DecommissionRequest>) -> Reply<proto::Done> {
        self.done(ControlRequest::Decommission, CONTROL_DEADLINE)
            .await
    }

    async fn refresh(&self, r: Request<proto::RefreshRequest>) -> Reply<proto::Done> {
        let r = r.into_inner();
        let both = !r.inbound && !r.outbound;
        let request = ControlRequest::Refresh {
            peer: r.peer,
            inbound: r.inbound || both,
            outbound: r.outbound || both,
        };
        self.done(request, CONTROL_DEADLINE).await
    }

    async fn reset(&self, r: Request<proto::ResetRequest>) -> Reply<proto::Done> {
        let r = r.into_inner();
        let request = ControlRequest::Reset {
            peer: r.peer,
            hard: r.hard,
        };
        self.done(request, CONTROL_DEADLINE).await
    }

    async fn reload(&self, _: Request<proto::ReloadRequest>) -> Reply<proto::Done> {
        self.done(ControlRequest::Reload, CONTROL_DEADLINE).await
    }

    async fn plan(&self, r: Request<proto::PlanRequest>) -> Reply<proto::PlanReply> {
        let request = convert::plan(r.into_inner()).map_err(refusal)?;
        match self.ask(request, CONTROL_DEADLINE).await? {
            ControlResponse::Plan(report) => {
                Ok(Response::new(bridge(&report).map_err(Status::internal)?))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn ready(&self, _: Request<proto::ReadyRequest>) -> Reply<proto::ReadyReply> {
        match self.ask(ControlRequest::Ready, CONTROL_DEADLINE).await? {
            ControlResponse::Ready {
                ready,
                not_attempted,
            } => Ok(Response::new(proto::ReadyReply {
                ready,
                not_attempted,
            })),
            other => Err(unexpected(other)),
        }
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        _: Request<proto::WatchEventsRequest>,
    ) -> Reply<Self::WatchEventsStream> {
        let Some(rx) = self.events.subscribe() else {
            reached(Limit::EventWatch, "event watchers");
            return Err(Status::resource_exhausted(format!(
                "{} watchers already: at most {}",
                super::events::MAX_WATCHERS,
                super::events::MAX_WATCHERS
            )));
        };
        // A task per watcher moves events from the daemon's buffer to the stream; it ends
        // when the client goes (its send fails) or the watcher falls a buffer behind.
        let (tx, stream) = mpsc::channel(16);
        tokio::spawn(forward(rx, tx));
        let stream = tokio_stream::wrappers::ReceiverStream::new(stream);
        Ok(Response::new(Box::pin(stream)))
    }
}

async fn forward(
    mut rx: tokio::sync::broadcast::Receiver<Arc<proto::Event>>,
    tx: mpsc::Sender<Result<proto::Event, Status>>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let item = match rx.recv().await {
            Ok(event) => Ok((*event).clone()),
            Err(RecvError::Lagged(n)) => {
                reached(Limit::EventWatch, "an event watcher fell a buffer behind");
                Err(Status::resource_exhausted(format!(
                    "this watcher fell {} events behind and missed {n}: it is dropped (read \
                     faster, or watch again and re-read the state with the List calls)",
                    super::events::BUFFER
                )))
            }
            Err(RecvError::Closed) => return,
        };
        let last = item.is_err();
        if tx.send(item).await.is_err() || last {
            return;
        }
    }
}

fn refusal(answer: ControlResponse) -> Status {
    match answer {
        ControlResponse::Error { code, error } => status(code, error),
        other => unexpected(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::io::AsyncReadExt;

    fn socket(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gw-api-{name}-{}", std::process::id()));
        crate::private::private_dir(&dir).unwrap();
        dir.join("control.sock")
    }

    /// A client that connects and says nothing is closed at the deadline, freeing its slot.
    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_closed_at_the_deadline() {
        let path = socket("silent");
        let (tx, _rx) = mpsc::channel(1);
        serve(path.clone(), tx, Events::default()).await.unwrap();
        let mut silent = UnixStream::connect(&path).await.unwrap();
        let start = tokio::time::Instant::now();
        let mut byte = [0u8; 1];
        // The server drops it: the read sees the end of the stream.
        assert_eq!(silent.read(&mut byte).await.unwrap(), 0);
        assert!(start.elapsed() >= CONTROL_DEADLINE);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// A watcher that reads nothing while the daemon publishes more than the buffer holds is
    /// ended with RESOURCE_EXHAUSTED once it reads again; the daemon never waited for it.
    #[tokio::test]
    async fn a_watcher_a_buffer_behind_is_ended_with_its_status() {
        let path = socket("slow");
        let (tx, _daemon) = mpsc::channel(1);
        let events = Events::default();
        serve(path.clone(), tx, events.clone()).await.unwrap();
        let mut c = super::super::client::connect(&path).await.unwrap();
        let mut stream = c
            .watch_events(proto::WatchEventsRequest {})
            .await
            .unwrap()
            .into_inner();
        while !events.watched() {
            tokio::task::yield_now().await;
        }
        let published = Instant::now();
        for i in 0..4 * super::super::events::BUFFER {
            events.publish(super::super::events::kind::drain(&i.to_string()));
        }
        assert!(
            published.elapsed() < Duration::from_secs(1),
            "publishing never waits"
        );
        let mut read = 0;
        let status = loop {
            match stream.message().await {
                Ok(Some(_)) => read += 1,
                Ok(None) => panic!("ended without a status after {read} events"),
                Err(status) => break status,
            }
        };
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(
            status.message().contains("fell 4096 events behind"),
            "{status:?}"
        );
        assert!(read < 4 * super::super::events::BUFFER, "read {read}");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// Calls past MAX_CALLS_IN_PROGRESS wait for a turn: a daemon that answers nothing sees
    /// that many requests, no more.
    #[tokio::test]
    async fn calls_in_progress_are_bounded() {
        let path = socket("calls");
        let (tx, mut daemon) = mpsc::channel(64);
        serve(path.clone(), tx, Events::default()).await.unwrap();
        let mut calls = Vec::new();
        for _ in 0..MAX_CALLS_IN_PROGRESS + 4 {
            let mut c = super::super::client::connect(&path).await.unwrap();
            calls.push(tokio::spawn(async move {
                c.list_neighbors(proto::ListNeighborsRequest {}).await
            }));
        }
        let mut held = Vec::new();
        while let Ok(Some(request)) =
            tokio::time::timeout(Duration::from_millis(500), daemon.recv()).await
        {
            held.push(request);
        }
        assert_eq!(held.len(), MAX_CALLS_IN_PROGRESS);
        // Answering them lets the others in.
        for (_, reply) in held.drain(..) {
            let _ = reply.send(ControlResponse::Neighbors(Vec::new()));
        }
        let (_, reply) = daemon.recv().await.unwrap();
        let _ = reply.send(ControlResponse::Neighbors(Vec::new()));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
