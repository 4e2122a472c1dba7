//! The CLI's side of the control API: one call per command over the Unix socket, the reply
//! both as its proto message in JSON (what `--json` prints) and as the [`ControlResponse`] the
//! tables are drawn from.

use super::convert::{self, bridge};
use super::proto::{self, control_client::ControlClient};
use super::{ControlRequest, ControlResponse};
use anyhow::{anyhow, Context, Result};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tonic::transport::{Channel, Endpoint};

/// A reply: the message as JSON, and what it says.
pub struct Reply {
    pub json: serde_json::Value,
    pub response: ControlResponse,
}

/// A client on the daemon's control socket.
pub async fn connect(socket: &Path) -> Result<ControlClient<Channel>> {
    let path: PathBuf = socket.into();
    // The URI is not used: every connection goes to the socket.
    let channel = Endpoint::try_from("http://localhost")?
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        }))
        .await
        .with_context(|| {
            format!(
                "cannot reach {}: is `gracewire run` up? (--config names the daemon's config, \
                 --socket its control socket)",
                socket.display()
            )
        })?;
    // The daemon's tables are as large as they are (a full `show routes`).
    Ok(ControlClient::new(channel).max_decoding_message_size(usize::MAX))
}

/// A status as the CLI prints it: `INVALID_ARGUMENT: announcements[3].prefix: ...`.
pub fn status_error(s: tonic::Status) -> anyhow::Error {
    let code = match s.code() {
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::Internal => "INTERNAL",
        other => return anyhow!("{other:?}: {}", s.message()),
    };
    anyhow!("{code}: {}", s.message())
}

/// A reply's messages as the views the tables are drawn from.
fn views<A: Serialize + ?Sized, B: serde::de::DeserializeOwned>(a: &A) -> Result<B> {
    bridge(a).map_err(|e| anyhow!(e))
}

fn reply<M: Serialize>(message: &M, response: ControlResponse) -> Result<Reply> {
    Ok(Reply {
        json: serde_json::to_value(message)?,
        response,
    })
}

fn done(d: tonic::Response<proto::Done>) -> Result<Reply> {
    let d = d.into_inner();
    let message = d.message.clone();
    reply(&d, ControlResponse::Done { message })
}

fn routes(r: tonic::Response<proto::RoutesReply>) -> Result<Reply> {
    let r = r.into_inner();
    let routes = (r.routes.iter().cloned())
        .map(convert::route_view)
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!(e))?;
    let response = ControlResponse::Routes {
        loc_rib_prefixes: r.loc_rib_prefixes as usize,
        selection_deferred: r.selection_deferred,
        routes,
        withheld: views(&r.withheld)?,
    };
    reply(&r, response)
}

fn filter(f: super::RouteFilter) -> proto::RouteFilter {
    proto::RouteFilter {
        peer: f.peer,
        prefix: f.prefix,
    }
}

/// Makes `request` over the socket.
pub async fn call(socket: &Path, request: ControlRequest) -> Result<Reply> {
    let mut c = connect(socket).await?;
    let change = |source: String, entries: Vec<serde_json::Value>| -> Result<_> {
        let announcements = convert::announcements(&entries).map_err(|e| anyhow!(e))?;
        Ok(proto::AnnouncementsChange {
            source,
            announcements,
        })
    };
    let e = status_error;
    match request {
        ControlRequest::Neighbors => {
            let r = c.list_neighbors(proto::ListNeighborsRequest {}).await;
            let r = r.map_err(e)?.into_inner();
            let peers = views(&r.peers)?;
            reply(&r, ControlResponse::Neighbors(peers))
        }
        ControlRequest::Routes { filter: f } => routes(c.list_routes(filter(f)).await.map_err(e)?),
        ControlRequest::Advertised { filter: f } => {
            routes(c.list_advertised(filter(f)).await.map_err(e)?)
        }
        ControlRequest::Plugins => {
            let r = c.list_plugins(proto::ListPluginsRequest {}).await;
            let r = r.map_err(e)?.into_inner();
            let plugins = views(&r.plugins)?;
            reply(&r, ControlResponse::Plugins(plugins))
        }
        ControlRequest::Health => {
            let r = c.list_health(proto::ListHealthRequest {}).await;
            let r = r.map_err(e)?.into_inner();
            let checks = views(&r.checks)?;
            reply(&r, ControlResponse::Health(checks))
        }
        ControlRequest::HealthSet { check, forced } => {
            let forced = forced.map(|f| f.as_str().to_string());
            let r = c
                .set_health(proto::SetHealthRequest { check, forced })
                .await;
            done(r.map_err(e)?)
        }
        ControlRequest::AnnounceSet {
            source,
            announcements,
        } => done(
            c.set_announcements(change(source, announcements)?)
                .await
                .map_err(e)?,
        ),
        ControlRequest::AnnounceAdd {
            source,
            announcements,
        } => done(
            c.add_announcements(change(source, announcements)?)
                .await
                .map_err(e)?,
        ),
        ControlRequest::AnnounceDelete { source, prefixes } => {
            let r = proto::DeleteAnnouncementsRequest { source, prefixes };
            done(c.delete_announcements(r).await.map_err(e)?)
        }
        ControlRequest::AnnounceList { source } => {
            let r = proto::ListAnnouncementsRequest { source };
            let r = c.list_announcements(r).await.map_err(e)?.into_inner();
            let mut sources = Vec::new();
            for s in &r.sources {
                let entries: Vec<serde_json::Value> = s
                    .announcements
                    .iter()
                    .map(convert::announcement_entry)
                    .collect();
                sources.push(super::SourceView {
                    source: s.source.clone(),
                    announcements: views(&entries)?,
                });
            }
            reply(&r, ControlResponse::Announcements { sources })
        }
        ControlRequest::Drain {
            wait_secs,
            if_marked,
        } => {
            let r = proto::DrainRequest {
                wait_secs,
                if_marked,
            };
            done(c.drain(r).await.map_err(e)?)
        }
        ControlRequest::Undrain => done(c.undrain(proto::UndrainRequest {}).await.map_err(e)?),
        ControlRequest::Decommission => done(
            c.decommission(proto::DecommissionRequest {})
                .await
                .map_err(e)?,
        ),
        ControlRequest::Refresh {
            peer,
            inbound,
            outbound,
        } => {
            let r = proto::RefreshRequest {
                peer,
                inbound,
                outbound,
            };
            done(c.refresh(r).await.map_err(e)?)
        }
        ControlRequest::Reset { peer, hard } => done(
            c.reset(proto::ResetRequest { peer, hard })
                .await
                .map_err(e)?,
        ),
        ControlRequest::Reload => done(c.reload(proto::ReloadRequest {}).await.map_err(e)?),
        plan @ ControlRequest::Plan { .. } => {
            let r = c.plan(convert::plan_request(&plan)).await.map_err(e)?;
            let r = r.into_inner();
            let report = views(&r)?;
            reply(&r, ControlResponse::Plan(report))
        }
        ControlRequest::Ready => {
            let r = c
                .ready(proto::ReadyRequest {})
                .await
                .map_err(e)?
                .into_inner();
            let response = ControlResponse::Ready {
                ready: r.ready,
                not_attempted: r.not_attempted.clone(),
            };
            reply(&r, response)
        }
        ControlRequest::Metrics { .. } => Err(anyhow!(
            "metrics are served on the metrics port ([global] metrics), not the control socket"
        )),
    }
}
