//! The status endpoint: `/_status` (JSON health) and `/_metrics`
//! (Prometheus text), on a plain-HTTP listener of its own.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::sync::watch;

use super::{Listening, Shared};
use crate::cli::Address;

/// A certificate being served, for expiry monitoring.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CertificateStatus {
    pub(crate) subject: String,
    /// Seconds since the Unix epoch.
    pub(crate) not_after: u64,
    /// Negative once expired.
    pub(crate) expires_in_seconds: i64,
}

#[derive(Debug, Serialize)]
struct ListenerStatus {
    listen: String,
    role: &'static str,
    active_connections: i64,
    certificates: Vec<CertificateStatus>,
    /// Null when the listener uses no token.
    token_reachable: Option<bool>,
}

#[derive(Debug, Serialize)]
struct Status {
    /// Every token answers.
    ok: bool,
    generation: u64,
    listeners: Vec<ListenerStatus>,
}

/// Subject and notAfter of a DER certificate.
pub(crate) fn certificate_status(der: &[u8]) -> Option<CertificateStatus> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let not_after = cert.tbs_certificate.validity.not_after.to_unix_duration().as_secs();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(CertificateStatus {
        subject: cert.tbs_certificate.subject.to_string(),
        not_after,
        expires_in_seconds: i64::try_from(not_after).ok()? - i64::try_from(now).ok()?,
    })
}

/// Serve the status endpoint on `address` until `shutdown` flips.
pub(crate) async fn serve(address: &Address, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) -> Result<()> {
    let listener = match address {
        Address::Tcp(a) => tokio::net::TcpListener::bind(a.as_str())
            .await
            .with_context(|| format!("status listener on {a}"))?,
        Address::Unix(_) => anyhow::bail!("--status takes HOST:PORT"),
    };
    tracing::info!(status = %listener.local_addr()?, "status endpoint ready: /_status, /_metrics");
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown.changed() => return,
            };
            let Ok((tcp, _)) = accepted else { continue };
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| answer(req, shared.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    Ok(())
}

async fn answer(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match req.uri().path() {
        "/_metrics" => {
            let live = i64::try_from(shared.engine.live_boxes()).unwrap_or(i64::MAX);
            shared.metrics.live_boxes.set(live);
            (
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                shared.metrics.encode(),
            )
        }
        "/_status" => {
            let status = tokio::task::spawn_blocking(move || status(&shared)).await;
            match status.ok().and_then(|s| serde_json::to_string_pretty(&s).ok()) {
                Some(json) => (StatusCode::OK, "application/json", json),
                None => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "status failed\n".into(),
                ),
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "try /_status or /_metrics\n".into(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    Ok(response)
}

/// Asks every token whether it answers (blocking PKCS#11 calls).
fn status(shared: &Shared) -> Status {
    let listeners: Vec<ListenerStatus> = shared
        .listeners
        .iter()
        .map(|l: &Listening| {
            let state = l.current();
            let token_reachable = match state.tokens.is_empty() {
                true => None,
                false => Some(state.tokens.iter().all(|t| t.tokens_reachable().is_ok())),
            };
            ListenerStatus {
                listen: l.spec.listen.to_string(),
                role: l.spec.role.name(),
                active_connections: shared.metrics.active.get_or_create(&l.label).get(),
                certificates: state.leaves.iter().filter_map(|der| certificate_status(der)).collect(),
                token_reachable,
            }
        })
        .collect();
    Status {
        ok: listeners.iter().all(|l| l.token_reachable != Some(false)),
        generation: shared.generation(),
        listeners,
    }
}
