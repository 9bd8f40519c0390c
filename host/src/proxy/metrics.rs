//! What the proxy counts, in Prometheus' data model (served at /_metrics).

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tlsbox_host::core::rustls::SignatureScheme;
use tlsbox_host::keystore::{KeyInfo, Keystore, KeystoreError, WrappedTicketKeys};

/// One listener.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ListenerLabel {
    pub(crate) listener: String,
}

/// A listener and a reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub(crate) listener: String,
    pub(crate) reason: String,
}

/// A listener and which way bytes went.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct DirectionLabels {
    pub(crate) listener: String,
    /// `from_tls` (plaintext the TLS peer sent) or `to_tls`.
    pub(crate) direction: &'static str,
}

/// A reload's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub(crate) result: &'static str,
}

/// Every metric of the process.
pub(crate) struct Metrics {
    pub(crate) registry: Registry,
    pub(crate) handshakes_ok: Family<ListenerLabel, Counter>,
    pub(crate) handshakes_resumed: Family<ListenerLabel, Counter>,
    pub(crate) handshakes_failed: Family<ReasonLabels, Counter>,
    pub(crate) refused: Family<ReasonLabels, Counter>,
    pub(crate) active: Family<ListenerLabel, Gauge>,
    pub(crate) bytes: Family<DirectionLabels, Counter>,
    pub(crate) handshake_seconds: Family<ListenerLabel, Histogram>,
    pub(crate) sign_seconds: Histogram,
    pub(crate) sign_errors: Counter,
    pub(crate) ticket_key_seconds: Histogram,
    pub(crate) ticket_key_errors: Counter,
    pub(crate) traps: Counter,
    pub(crate) live_boxes: Gauge,
    pub(crate) generation: Gauge,
    pub(crate) reloads: Family<ResultLabel, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    // 50 µs to ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("tlsbox"),
            handshakes_ok: Family::default(),
            handshakes_resumed: Family::default(),
            handshakes_failed: Family::default(),
            refused: Family::default(),
            active: Family::default(),
            bytes: Family::default(),
            handshake_seconds: Family::new_with_constructor(latency_histogram),
            sign_seconds: latency_histogram(),
            sign_errors: Counter::default(),
            ticket_key_seconds: latency_histogram(),
            ticket_key_errors: Counter::default(),
            traps: Counter::default(),
            live_boxes: Gauge::default(),
            generation: Gauge::default(),
            reloads: Family::default(),
        };
        let r = &mut m.registry;
        r.register("handshakes_ok", "Completed TLS handshakes", m.handshakes_ok.clone());
        r.register(
            "handshakes_resumed",
            "Completed handshakes that resumed a session from a ticket (no signature)",
            m.handshakes_resumed.clone(),
        );
        r.register(
            "handshakes_failed",
            "Failed TLS handshakes, by reason",
            m.handshakes_failed.clone(),
        );
        r.register(
            "connections_refused",
            "Connections closed at accept, by reason",
            m.refused.clone(),
        );
        r.register("active_connections", "Connections open now", m.active.clone());
        r.register("bytes", "Plaintext bytes forwarded, by direction", m.bytes.clone());
        r.register(
            "handshake_duration_seconds",
            "Time from accept to handshake complete",
            m.handshake_seconds.clone(),
        );
        r.register(
            "keystore_sign_duration_seconds",
            "Time the keystore took per signature",
            m.sign_seconds.clone(),
        );
        r.register(
            "keystore_sign_errors",
            "Signatures the keystore failed",
            m.sign_errors.clone(),
        );
        r.register(
            "keystore_ticket_key_transfer_duration_seconds",
            "Time to wrap the ticket keys for one box (by a relay box, or the token with --no-ticket-relay)",
            m.ticket_key_seconds.clone(),
        );
        r.register(
            "keystore_ticket_key_transfer_errors",
            "Ticket-key transfers the keystore failed (those boxes issue no tickets)",
            m.ticket_key_errors.clone(),
        );
        r.register(
            "guest_traps",
            "Boxes that trapped (each ended one connection)",
            m.traps.clone(),
        );
        r.register(
            "live_boxes",
            "Boxes alive now (open connections and configuration checks)",
            m.live_boxes.clone(),
        );
        r.register(
            "config_generation",
            "Configuration generation (1 at start, +1 per reload)",
            m.generation.clone(),
        );
        r.register("reloads", "Configuration reloads, by result", m.reloads.clone());
        m
    }

    /// The metrics as Prometheus/OpenMetrics text.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "encoding metrics");
        }
        out
    }
}

/// A keystore that times every signature and counts failures.
pub(crate) struct MeteredKeystore {
    pub(crate) inner: Arc<dyn Keystore>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Keystore for MeteredKeystore {
    fn describe_key(&self, key: &str) -> Result<KeyInfo, KeystoreError> {
        self.inner.describe_key(key)
    }

    fn sign(&self, key: &str, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        let start = Instant::now();
        let result = self.inner.sign(key, scheme, message);
        self.metrics.sign_seconds.observe(secs(start.elapsed()));
        if result.is_err() {
            // The keystore boundary logs why; here it is counted.
            self.metrics.sign_errors.inc();
        }
        result
    }

    fn ticket_keys(&self, box_public_key: &[u8]) -> Result<WrappedTicketKeys, KeystoreError> {
        let start = Instant::now();
        let result = self.inner.ticket_keys(box_public_key);
        self.metrics.ticket_key_seconds.observe(secs(start.elapsed()));
        if result.is_err() {
            self.metrics.ticket_key_errors.inc();
        }
        result
    }

    fn ticket_keys_epoch(&self) -> Option<u64> {
        self.inner.ticket_keys_epoch()
    }
}

pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
