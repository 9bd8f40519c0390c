//! Moving plaintext between the TLS side and the plaintext side, both
//! directions at once: end of stream on one side half-closes the other
//! (close_notify towards TLS, FIN towards TCP), counters move as bytes do,
//! and idle and lifetime limits end the connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// How long a closing side gets to flush before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Bytes moved per read.
const CHUNK: usize = 16 * 1024;

/// Why forwarding ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// Both sides finished their streams.
    Closed,
    /// No byte moved either way for the idle timeout.
    Idle,
    /// The connection reached its maximum lifetime.
    Lifetime,
    /// A side failed.
    Failed(std::io::Error),
}

/// Limits on one forwarded connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) idle: Option<Duration>,
    pub(crate) lifetime: Option<Duration>,
}

/// Forward between `tls` and `plain` until both ends close or a bound hits.
/// `from_tls` counts plaintext the TLS peer sent, `to_tls` what it received.
pub(crate) async fn forward<T, P>(tls: T, plain: P, bounds: Bounds, from_tls: Counter, to_tls: Counter) -> Ended
where
    T: AsyncRead + AsyncWrite + Unpin,
    P: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let last_activity = Arc::new(AtomicU64::new(0));
    let (mut tls_read, mut tls_write) = tokio::io::split(tls);
    let (mut plain_read, mut plain_write) = tokio::io::split(plain);
    let moved = {
        let up = pump(&mut tls_read, &mut plain_write, &from_tls, &last_activity, start);
        let down = pump(&mut plain_read, &mut tls_write, &to_tls, &last_activity, start);
        let both = async { tokio::try_join!(up, down) };
        tokio::select! {
            r = both => match r {
                Ok(_) => Ended::Closed,
                Err(e) => Ended::Failed(e),
            },
            () = idle(bounds.idle, &last_activity, start) => Ended::Idle,
            () = sleep_or_forever(bounds.lifetime) => Ended::Lifetime,
        }
    };
    if !matches!(moved, Ended::Closed) {
        // Say goodbye properly where the transport still allows it.
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            let _ = tls_write.shutdown().await;
            let _ = plain_write.shutdown().await;
        })
        .await;
    }
    moved
}

/// Copy until end of stream, then pass the end on (half-close).
async fn pump<R, W>(
    from: &mut R,
    to: &mut W,
    counter: &Counter,
    activity: &AtomicU64,
    start: Instant,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        to.write_all(buf.get(..n).unwrap_or_default()).await?;
        counter.inc_by(n as u64);
        activity.store(millis(start.elapsed()), Ordering::Relaxed);
    }
}

async fn idle(limit: Option<Duration>, last_activity: &AtomicU64, start: Instant) {
    let Some(limit) = limit else {
        return std::future::pending().await;
    };
    loop {
        let last = Duration::from_millis(last_activity.load(Ordering::Relaxed));
        let quiet = start.elapsed().saturating_sub(last);
        if quiet >= limit {
            return;
        }
        tokio::time::sleep(limit - quiet).await;
    }
}

async fn sleep_or_forever(limit: Option<Duration>) {
    match limit {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn both_directions_and_half_close() {
        let (tls_side, mut tls_peer) = tokio::io::duplex(64 * 1024);
        let (plain_side, mut backend) = tokio::io::duplex(64 * 1024);
        let (from, to) = (Counter::default(), Counter::default());
        let bounds = Bounds {
            idle: None,
            lifetime: None,
        };
        let task = tokio::spawn(forward(tls_side, plain_side, bounds, from.clone(), to.clone()));
        tls_peer.write_all(b"request").await.unwrap();
        tls_peer.shutdown().await.unwrap();
        let mut got = Vec::new();
        backend.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"request");
        // The backend answers after the client half-closed.
        backend.write_all(b"response").await.unwrap();
        backend.shutdown().await.unwrap();
        let mut answer = Vec::new();
        tls_peer.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"response");
        assert!(matches!(task.await.unwrap(), Ended::Closed));
        assert_eq!((from.get(), to.get()), (7, 8));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_end() {
        let (tls_side, _tls_peer) = tokio::io::duplex(1024);
        let (plain_side, _backend) = tokio::io::duplex(1024);
        let bounds = Bounds {
            idle: Some(Duration::from_secs(30)),
            lifetime: None,
        };
        let ended = forward(tls_side, plain_side, bounds, Counter::default(), Counter::default()).await;
        assert!(matches!(ended, Ended::Idle));
    }
}
