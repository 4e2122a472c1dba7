//! A controller's client of gracewire's control API over its Unix socket, with tonic and stubs
//! generated from `proto/gracewire/v1/control.proto` (see build.rs): nothing of gracewire's
//! own code. `tests/tests/python_client.rs` runs it against a daemon next to FRR.
//!
//! ```sh
//! api-client --socket /var/lib/gracewire/gracewire.sock set lb-ctl 198.51.100.10/32 --next-hop 192.0.2.1
//! api-client --socket ... list
//! api-client --socket ... delete lb-ctl 198.51.100.10/32
//! api-client --socket ... watch
//! ```

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use tonic::transport::Endpoint;

mod proto {
    tonic::include_proto!("gracewire.v1");
}

use proto::control_client::ControlClient;

#[derive(Parser)]
struct Args {
    /// The daemon's control socket.
    #[arg(long, default_value = "/var/lib/gracewire/gracewire.sock")]
    socket: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The source becomes exactly these prefixes.
    Set {
        source: String,
        prefixes: Vec<String>,
        #[arg(long)]
        next_hop: Option<String>,
    },
    /// These prefixes leave the source.
    Delete {
        source: String,
        prefixes: Vec<String>,
    },
    /// Every source and its prefixes, one line each.
    List,
    /// Events as they happen, one per line.
    Watch,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let socket = args.socket.clone();
    // The URI is a placeholder: every connection goes to the socket.
    let channel = Endpoint::try_from("http://localhost")?
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .with_context(|| format!("connecting to {}", args.socket.display()))?;
    let mut api = ControlClient::new(channel);
    match args.command {
        Command::Set {
            source,
            prefixes,
            next_hop,
        } => {
            let announcements = prefixes
                .into_iter()
                .map(|prefix| proto::Announcement {
                    prefix,
                    next_hop: next_hop.clone(),
                    ..Default::default()
                })
                .collect();
            let change = proto::AnnouncementsChange {
                source,
                announcements,
            };
            println!(
                "{}",
                api.set_announcements(change).await?.into_inner().message
            );
        }
        Command::Delete { source, prefixes } => {
            let request = proto::DeleteAnnouncementsRequest { source, prefixes };
            println!(
                "{}",
                api.delete_announcements(request)
                    .await?
                    .into_inner()
                    .message
            );
        }
        Command::List => {
            let request = proto::ListAnnouncementsRequest { source: None };
            for s in api.list_announcements(request).await?.into_inner().sources {
                let prefixes: Vec<String> = s.announcements.into_iter().map(|a| a.prefix).collect();
                println!("{} {}", s.source, prefixes.join(" "));
            }
        }
        Command::Watch => {
            let mut events = api
                .watch_events(proto::WatchEventsRequest {})
                .await?
                .into_inner();
            while let Some(event) = events.message().await? {
                println!("{event:?}");
            }
        }
    }
    Ok(())
}
