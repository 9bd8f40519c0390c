//! Accept loops and the life of one connection: limits at accept, the
//! handshake under a deadline, then the built-in page or forwarding.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tlsbox_host::core::rustls::AlertDescription;
use tlsbox_host::proxy_protocol::{self, ClientFacts};
use tlsbox_host::stream::TlsStream;
use tlsbox_host::{Error, SessionInfo};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::forward::{self, Ended};
use super::metrics::{DirectionLabels, ReasonLabels};
use super::{Listening, Role, Shared, TlsConfig};
use crate::cli::{self, Address};

/// How long the target has to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A byte stream of either kind.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A bound listening socket.
pub(crate) enum Bound {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Who is on the other end, for logs and PROXY headers.
#[derive(Debug, Clone, Copy)]
struct Peer {
    /// The TCP peer (or the client a PROXY header named).
    address: Option<SocketAddr>,
    /// Our end of the accepted connection.
    local: Option<SocketAddr>,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.address {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("unix"),
        }
    }
}

/// Bind listener `index`'s address.
pub(crate) async fn bind(shared: &Shared, index: usize) -> Result<Bound> {
    let listening = shared.listeners.get(index).context("no such listener")?;
    let bound = match &listening.spec.listen {
        Address::Tcp(a) => Bound::Tcp(
            TcpListener::bind(a.as_str())
                .await
                .with_context(|| format!("listening on {a}"))?,
        ),
        Address::Unix(path) => {
            // A stale socket from an earlier run would make bind fail.
            if std::fs::symlink_metadata(path).is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
            {
                let _ = std::fs::remove_file(path);
            }
            Bound::Unix(UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?)
        }
    };
    let local = match &bound {
        Bound::Tcp(l) => l.local_addr().ok(),
        Bound::Unix(_) => None,
    };
    let shown = match &bound {
        Bound::Tcp(_) => local.map(|a| a.to_string()).unwrap_or_default(),
        Bound::Unix(_) => listening.spec.listen.to_string(),
    };
    if let Some(ca) = &listening.current().trust_hint {
        if let Some(url) = trust_url(&listening.spec.listen, local) {
            cli::say(format_args!(
                "tlsbox: trust it with: curl --cacert {} {url}",
                ca.display()
            ));
        }
    }
    match &listening.spec.role {
        Role::Server { target: Some(t), .. } => tracing::info!(listen = %shown, target = %t, "tlsbox server ready"),
        Role::Server { target: None, .. } => tracing::info!(listen = %shown, "tlsbox server ready (built-in page)"),
        Role::Client { target } => tracing::info!(listen = %shown, target = %target, "tlsbox client ready"),
    }
    Ok(bound)
}

/// curl's arguments to reach a listener on `listen`, bound at `local` (TCP):
/// the port it got, not the one asked for (`127.0.0.1:0`).
fn trust_url(listen: &Address, local: Option<SocketAddr>) -> Option<String> {
    match listen {
        Address::Unix(path) => Some(format!("--unix-socket {} https://localhost/", path.display())),
        Address::Tcp(_) => local.map(|a| format!("https://localhost:{}/", a.port())),
    }
}

/// Accept until shutdown; each connection in its own task.
pub(crate) async fn accept_loop(shared: Arc<Shared>, index: usize, bound: Bound, mut shutdown: watch::Receiver<bool>) {
    let Some(listening) = shared.listeners.get(index) else {
        return;
    };
    let label = &listening.label;
    let slots = Arc::new(Semaphore::new(listening.spec.limits.max_conns));
    loop {
        let accepted: std::io::Result<(Box<dyn Io>, Peer)> = tokio::select! {
            a = accept(&bound) => a,
            _ = shutdown.changed() => return,
        };
        let (io, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                // Out of descriptors and the like: do not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            shared
                .metrics
                .refused
                .get_or_create(&ReasonLabels {
                    listener: label.listener.clone(),
                    reason: "max_concurrent_conns".into(),
                })
                .inc();
            tracing::warn!(%peer, limit = listening.spec.limits.max_conns, "refused: too many connections");
            drop(io);
            continue;
        };
        tokio::spawn(connection(shared.clone(), index, io, peer, permit));
    }
}

async fn accept(bound: &Bound) -> std::io::Result<(Box<dyn Io>, Peer)> {
    match bound {
        Bound::Tcp(l) => {
            let (tcp, address) = l.accept().await?;
            let _ = tcp.set_nodelay(true);
            let local = tcp.local_addr().ok();
            Ok((
                Box::new(tcp),
                Peer {
                    address: Some(address),
                    local,
                },
            ))
        }
        Bound::Unix(l) => {
            let (unix, _) = l.accept().await?;
            Ok((
                Box::new(unix),
                Peer {
                    address: None,
                    local: None,
                },
            ))
        }
    }
}

/// One connection, from accept to close.
async fn connection(shared: Arc<Shared>, index: usize, io: Box<dyn Io>, peer: Peer, _permit: OwnedSemaphorePermit) {
    let Some(listening) = shared.listeners.get(index) else {
        return;
    };
    let _active = Active::count(shared.metrics.active.get_or_create(&listening.label).clone());
    let state = listening.current();
    match (&listening.spec.role, &state.config) {
        (role @ Role::Server { .. }, TlsConfig::Server(config)) => {
            server_connection(&shared, listening, role, config, io, peer).await;
        }
        (Role::Client { target }, TlsConfig::Client(config)) => {
            client_connection(&shared, listening, target, config, io, peer).await;
        }
        _ => tracing::error!("listener role and configuration disagree"),
    }
}

/// Counts a connection as active for as long as it lives, however it ends.
struct Active(prometheus_client::metrics::gauge::Gauge);

impl Active {
    fn count(gauge: prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Terminate TLS, then answer or forward.
async fn server_connection(
    shared: &Shared,
    listening: &Listening,
    role: &Role,
    config: &tlsbox_host::ServerConfig,
    mut io: Box<dyn Io>,
    mut peer: Peer,
) {
    let Role::Server {
        target,
        proxy_protocol_out,
        proxy_protocol_in,
    } = role
    else {
        return;
    };
    let limits = listening.spec.limits;
    let start = Instant::now();
    let handshake = async {
        if *proxy_protocol_in {
            match proxy_protocol::read(&mut io).await {
                Ok(Some(client)) => peer.address = Some(client),
                Ok(None) => {}
                Err(e) => return Err(Failure::ProxyHeader(e)),
            }
        }
        // Held for the handshake only: handshakes are what cost the keystore.
        let _turn = listening.handshakes.acquire().await.map_err(|_| Failure::Closing)?;
        tlsbox_host::stream::accept(&shared.engine, config, io)
            .await
            .map_err(Failure::Tls)
    };
    let outcome = tokio::time::timeout(limits.handshake_timeout, handshake).await;
    let Some(mut tls) = handshake_done(shared, listening, peer, start, outcome) else {
        return;
    };
    let Some(info) = session_info(shared, listening, &mut tls, peer) else {
        return;
    };
    let Some(target) = target else {
        if let Err(e) = cli::respond(&mut tls, &info).await {
            tracing::info!(%peer, error = %e, "connection ended with an error");
        }
        return;
    };
    let mut plain = match connect(target).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(%peer, %target, error = format!("{e:#}"), "target unreachable; closing the client connection");
            let _ = tokio::time::timeout(Duration::from_secs(5), tls.shutdown()).await;
            return;
        }
    };
    if *proxy_protocol_out {
        let facts = ClientFacts {
            version: cli::version_name(&info),
            server_name: info.server_name.clone(),
            common_name: info
                .peer_certificates
                .first()
                .and_then(|leaf| tlsbox_host::core::peer_policy::subject_common_name(leaf)),
        };
        let header = match (peer.address, peer.local) {
            (Some(src), Some(dst)) => proxy_protocol::encode(src, dst, &facts),
            _ => proxy_protocol::encode(
                SocketAddr::from(([0, 0, 0, 0], 0)),
                SocketAddr::from(([0, 0, 0, 0], 0)),
                &facts,
            ),
        };
        let sent = match header {
            Ok(h) => plain
                .write_all(&h)
                .await
                .map_err(proxy_protocol::ProxyHeaderError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            tracing::warn!(%peer, error = %e, "PROXY header not sent; closing");
            return;
        }
    }
    relay(shared, listening, tls, plain, peer).await;
}

/// Accept plaintext, originate TLS to the target, forward.
async fn client_connection(
    shared: &Shared,
    listening: &Listening,
    target: &Address,
    config: &tlsbox_host::ClientConfig,
    plain: Box<dyn Io>,
    peer: Peer,
) {
    let start = Instant::now();
    let handshake = async {
        let _turn = listening.handshakes.acquire().await.map_err(|_| Failure::Closing)?;
        let tcp = connect(target).await.map_err(Failure::Target)?;
        tlsbox_host::stream::connect(&shared.engine, config, tcp)
            .await
            .map_err(Failure::Tls)
    };
    let limits = listening.spec.limits;
    let outcome = tokio::time::timeout(limits.handshake_timeout, handshake).await;
    let Some(mut tls) = handshake_done(shared, listening, peer, start, outcome) else {
        return;
    };
    if session_info(shared, listening, &mut tls, peer).is_none() {
        return;
    }
    relay(shared, listening, tls, plain, peer).await;
}

/// Why a connection never got to carry data.
#[derive(Debug)]
enum Failure {
    ProxyHeader(proxy_protocol::ProxyHeaderError),
    Target(anyhow::Error),
    Tls(Error),
    /// The listener is going away.
    Closing,
}

/// Count and log the handshake's outcome; the stream if it succeeded.
fn handshake_done<T>(
    shared: &Shared,
    listening: &Listening,
    peer: Peer,
    start: Instant,
    outcome: Result<Result<TlsStream<T>, Failure>, tokio::time::error::Elapsed>,
) -> Option<TlsStream<T>> {
    let label = &listening.label;
    let m = &shared.metrics;
    let failed = |reason: &str| {
        m.handshakes_failed
            .get_or_create(&ReasonLabels {
                listener: label.listener.clone(),
                reason: reason.into(),
            })
            .inc();
    };
    match outcome {
        Ok(Ok(tls)) => {
            m.handshakes_ok.get_or_create(label).inc();
            m.handshake_seconds
                .get_or_create(label)
                .observe(start.elapsed().as_secs_f64());
            Some(tls)
        }
        Err(_) => {
            failed("timeout");
            tracing::info!(%peer, "handshake timed out");
            None
        }
        Ok(Err(Failure::ProxyHeader(e))) => {
            failed("proxy_header");
            tracing::info!(%peer, error = %e, "bad PROXY header");
            None
        }
        Ok(Err(Failure::Closing)) => {
            failed("closing");
            None
        }
        Ok(Err(Failure::Target(e))) => {
            failed("target_unreachable");
            tracing::warn!(%peer, error = format!("{e:#}"), "target unreachable");
            None
        }
        Ok(Err(Failure::Tls(e))) => {
            let reason = reason_of(&e);
            failed(&reason);
            if matches!(e, Error::Trap(_)) {
                m.traps.inc();
            }
            if reason == "access_denied" {
                tracing::warn!(%peer, error = %e, "client refused");
            } else {
                tracing::info!(%peer, error = %e, "handshake failed");
            }
            None
        }
    }
}

/// A short metrics label for a handshake error.
fn reason_of(e: &Error) -> String {
    use tlsbox_host::core::Error as E;
    match e {
        Error::Tls(E::Certificate { alert, .. }) | Error::Tls(E::Protocol { alert, .. }) => alert_name(*alert),
        Error::Tls(E::ClosedWithoutAlert(_)) => "closed_without_alert".into(),
        Error::Tls(E::PeerAlert(alert)) => format!("peer_{}", alert_name(*alert)),
        Error::Tls(E::Keystore(_)) => "keystore".into(),
        Error::Tls(_) => "tls".into(),
        Error::Trap(_) => "guest_trap".into(),
        Error::Engine(_) => "engine".into(),
        Error::Io(_) => "io".into(),
        _ => "other".into(),
    }
}

fn alert_name(alert: AlertDescription) -> String {
    // rustls' Debug names are the RFC names in CamelCase.
    let camel = format!("{alert:?}");
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Log what was negotiated; count resumed sessions.
fn session_info<T: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    listening: &Listening,
    tls: &mut TlsStream<T>,
    peer: Peer,
) -> Option<SessionInfo> {
    match tls.session_info() {
        Ok(info) => {
            if info.resumed {
                shared.metrics.handshakes_resumed.get_or_create(&listening.label).inc();
            }
            tracing::info!(
                %peer,
                allowed_by = info.peer_allowed_by.as_deref().unwrap_or("-"),
                "{}",
                cli::summary(&info)
            );
            Some(info)
        }
        Err(e) => {
            tracing::warn!(%peer, error = %e, "session info");
            None
        }
    }
}

/// Forward, count bytes, log how it ended.
async fn relay<T: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    listening: &Listening,
    tls: TlsStream<T>,
    plain: Box<dyn Io>,
    peer: Peer,
) {
    let label = &listening.label;
    let counter = |direction| {
        shared
            .metrics
            .bytes
            .get_or_create(&DirectionLabels {
                listener: label.listener.clone(),
                direction,
            })
            .clone()
    };
    let ended = forward::forward(
        tls,
        plain,
        listening.spec.limits.bounds,
        counter("from_tls"),
        counter("to_tls"),
    )
    .await;
    match ended {
        Ended::Closed => tracing::debug!(%peer, "connection closed"),
        Ended::Idle => tracing::info!(%peer, "idle timeout: connection closed"),
        Ended::Lifetime => tracing::info!(%peer, "maximum lifetime reached: connection closed"),
        Ended::Failed(e) => {
            if e.get_ref()
                .and_then(|inner| inner.downcast_ref::<Error>())
                .is_some_and(|e| matches!(e, Error::Trap(_)))
            {
                shared.metrics.traps.inc();
                tracing::error!(%peer, error = %e, "box trapped: connection ended");
            } else {
                tracing::info!(%peer, error = %e, "connection ended with an error");
            }
        }
    }
}

/// Connect to a target, TCP or UNIX.
async fn connect(target: &Address) -> Result<Box<dyn Io>> {
    let connecting = async {
        Ok::<Box<dyn Io>, anyhow::Error>(match target {
            Address::Tcp(a) => {
                let tcp = TcpStream::connect(a.as_str()).await?;
                let _ = tcp.set_nodelay(true);
                Box::new(tcp)
            }
            Address::Unix(p) => Box::new(UnixStream::connect(p).await?),
        })
    };
    tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .context("connect timed out")?
        .with_context(|| format!("connecting to {target}"))
}
