//! What a session has queued for its writer task and whether the peer is taking it: the
//! bound on a peer that stops reading.
//!
//! - **Send Hold Timer (RFC 9687).** While bytes are queued and none could be written for the
//!   send hold time, the session ends with NOTIFICATION 8 (Send Hold Timer Expired). Without
//!   it a peer whose TCP window stays shut keeps the session (its KEEPALIVEs still arrive) and
//!   everything we queue for it.
//! - **A bounded queue.** Past [`MAX_QUEUED_BYTES`] the session ends with Cease/Out of
//!   Resources (RFC 4486) rather than hold more for a peer that is not reading.
//! - **Coalesced ROUTE-REFRESH.** A request for a family whose last answer is still queued is
//!   dropped: that answer goes out after the request anyway and is as current as a new one
//!   (changes since are sent as UPDATEs). So a peer repeating requests without reading costs
//!   one answer, not one per 23-octet request.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes queued for one peer's connection beyond which the session is reset: ten times the
/// UPDATEs of a full table (1.2M prefixes, ~6 MiB) and more than any load-balancer speaker sends.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;

/// RFC 9687 §4: the send hold time is 8 minutes or twice the negotiated hold time, the longer.
pub fn send_hold_time(negotiated_hold: Duration) -> Duration {
    (negotiated_hold * 2).max(Duration::from_secs(480))
}

/// Shared by a session task (which queues) and its writer task (which writes).
pub struct Backlog {
    start: Instant,
    queued: AtomicUsize,
    /// Milliseconds from `start` of the last write done, or of the moment the queue went from
    /// empty to not empty: how long the writer has been stuck is measured from there.
    progress_ms: AtomicU64,
    /// Times the queue was written out to empty: a ROUTE-REFRESH answered in one epoch need not
    /// be answered again in the same epoch.
    drained: AtomicU64,
}

impl Backlog {
    pub fn new() -> Arc<Backlog> {
        Arc::new(Backlog {
            start: Instant::now(),
            queued: AtomicUsize::new(0),
            progress_ms: AtomicU64::new(0),
            drained: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Counts `len` bytes queued.
    pub fn queue(&self, len: usize) {
        if self.queued.fetch_add(len, Ordering::AcqRel) == 0 {
            self.progress_ms.store(self.now_ms(), Ordering::Release);
        }
    }

    /// Whether the queue holds more than [`MAX_QUEUED_BYTES`].
    pub fn over_bound(&self) -> bool {
        self.queued() > MAX_QUEUED_BYTES
    }

    /// The writer wrote `len` bytes.
    pub fn written(&self, len: usize) {
        self.progress_ms.store(self.now_ms(), Ordering::Release);
        if self.queued.fetch_sub(len, Ordering::AcqRel) == len {
            self.drained.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// How long bytes have waited without any being written (zero with nothing queued).
    pub fn stalled_for(&self) -> Duration {
        if self.queued() == 0 {
            return Duration::ZERO;
        }
        let since = self.progress_ms.load(Ordering::Acquire);
        Duration::from_millis(self.now_ms().saturating_sub(since))
    }

    /// The epoch a ROUTE-REFRESH answered now belongs to.
    pub fn epoch(&self) -> u64 {
        self.drained.load(Ordering::Acquire)
    }

    /// Whether an answer given in `epoch` is still waiting to be written.
    pub fn still_queued_since(&self, epoch: u64) -> bool {
        self.queued() > 0 && self.epoch() == epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn rfc_9687_send_hold_time_is_eight_minutes_or_twice_the_hold_time() {
        assert_eq!(
            send_hold_time(Duration::from_secs(90)),
            Duration::from_secs(480)
        );
        assert_eq!(
            send_hold_time(Duration::from_secs(300)),
            Duration::from_secs(600)
        );
        assert_eq!(send_hold_time(Duration::ZERO), Duration::from_secs(480));
    }

    #[test]
    fn the_queue_is_bounded_and_drains_count_epochs() {
        let b = Backlog::new();
        b.queue(MAX_QUEUED_BYTES - 10);
        b.queue(10);
        assert!(!b.over_bound());
        b.queue(1);
        assert!(b.over_bound(), "one byte past the bound");
        let e = b.epoch();
        assert!(b.still_queued_since(e));
        b.written(MAX_QUEUED_BYTES + 1);
        assert_eq!(b.queued(), 0);
        assert!(!b.still_queued_since(e));
        assert_eq!(b.stalled_for(), Duration::ZERO);
    }

    /// A real loopback connection whose far end never reads: the writer gets stuck once the
    /// kernel's buffers are full, and the backlog says for how long.
    #[tokio::test]
    async fn a_peer_that_never_reads_shows_as_a_stall() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (_never_read, _) = accepted.unwrap();
        let mut client = client.unwrap();
        let b = Backlog::new();
        let chunk = vec![0u8; 65536];
        let writer = {
            let b = b.clone();
            tokio::spawn(async move {
                loop {
                    b.queue(chunk.len());
                    if b.over_bound() {
                        return;
                    }
                    if client.write_all(&chunk).await.is_err() {
                        return;
                    }
                    b.written(chunk.len());
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(b.queued() > 0);
        assert!(
            b.stalled_for() >= Duration::from_millis(500),
            "stalled for {:?}",
            b.stalled_for()
        );
        writer.abort();
    }
}
