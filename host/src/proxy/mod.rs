//! The proxy: listeners that terminate TLS (server mode) or originate it
//! (client mode), each connection in its own box, plaintext forwarded to a
//! target. Around them: limits, reload on SIGHUP, graceful shutdown on
//! SIGTERM/SIGINT, and the status endpoint.
//!
//! - [`listener`]: accept loops and the life of one connection;
//! - [`forward`]: moving plaintext both ways with half-close;
//! - [`tlsbox_host::proxy_protocol`]: PROXY v2 towards the target and from a balancer;
//! - [`metrics`] and [`status`]: what operators watch.

mod forward;
mod listener;
mod metrics;
mod status;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tlsbox_host::keystore::bounded::BoundedKeystore;
use tlsbox_host::keystore::pkcs11::Pkcs11Keystore;
use tlsbox_host::keystore::Keystore;
use tlsbox_host::{ClientConfig, Engine, EngineConfig, ServerConfig};
use tokio::sync::watch;

use crate::cli::{self, Address, ListenerArgs, Plan};
pub(crate) use metrics::{ListenerLabel, MeteredKeystore, Metrics};

/// Default bound on a listener's connections.
pub(crate) const DEFAULT_MAX_CONNS: usize = 512;
/// Boxes kept spare for configuration checks (one per reload build).
const SPARE_INSTANCES: usize = 16;

/// What a listener does, fixed for the life of the process.
#[derive(Debug, Clone)]
pub(crate) struct ListenerSpec {
    pub(crate) listen: Address,
    pub(crate) limits: Limits,
    pub(crate) role: Role,
}

/// Server (terminate TLS) or client (originate it).
#[derive(Debug, Clone)]
pub(crate) enum Role {
    Server {
        /// None: the built-in page answers.
        target: Option<Address>,
        proxy_protocol_out: bool,
        proxy_protocol_in: bool,
    },
    Client {
        target: Address,
    },
}

impl Role {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Role::Server { .. } => "server",
            Role::Client { .. } => "client",
        }
    }
}

/// Bounds on a listener's connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_conns: usize,
    /// Handshakes under way at once (they are what costs the keystore).
    pub(crate) max_handshakes: usize,
    /// Signatures in the keystore at once, per listener.
    pub(crate) max_signatures: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) bounds: forward::Bounds,
}

/// A checked TLS configuration (replaced on reload).
#[derive(Debug, Clone)]
pub(crate) enum TlsConfig {
    Server(ServerConfig),
    Client(ClientConfig),
}

/// What a reload replaces: the TLS configuration and what status shows of it.
#[derive(Debug)]
pub(crate) struct TlsState {
    pub(crate) config: TlsConfig,
    /// Leaf certificates served (or presented), for expiry in /_status.
    pub(crate) leaves: Vec<Vec<u8>>,
    /// PKCS#11 keystores in use, for token health in /_status.
    pub(crate) tokens: Vec<Arc<Pkcs11Keystore>>,
    /// The ticket relay the server's boxes get ticket keys from: owned
    /// here, so that a reload retires it with the configuration.
    pub(crate) _relay: Option<Arc<tlsbox_host::relay::TicketRelay>>,
    /// With a generated identity, the local CA a client can trust: said
    /// with the bound port when the listener comes up.
    pub(crate) trust_hint: Option<std::path::PathBuf>,
}

/// A running listener: its spec and current configuration.
pub(crate) struct Listening {
    pub(crate) spec: ListenerSpec,
    /// Its metrics label, made once.
    pub(crate) label: ListenerLabel,
    state: RwLock<Arc<TlsState>>,
    /// Permits for handshakes under way.
    pub(crate) handshakes: Arc<tokio::sync::Semaphore>,
}

impl Listening {
    /// The configuration new connections get.
    pub(crate) fn current(&self) -> Arc<TlsState> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, state: TlsState) {
        *self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(state);
    }
}

/// What every task of the proxy shares.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) listeners: Vec<Listening>,
    generation: AtomicU64,
}

impl Shared {
    /// 1 at start, +1 per successful reload.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }
}

/// Idle and lifetime bounds of forwarded connections.
pub(crate) fn forward_bounds(idle: Option<Duration>, lifetime: Option<Duration>) -> forward::Bounds {
    forward::Bounds { idle, lifetime }
}

/// Build a listener's TLS state from its arguments.
fn build(engine: &Engine, args: &ListenerArgs, limits: &Limits, metrics: &Arc<Metrics>) -> Result<TlsState> {
    let max_signatures = limits.max_signatures;
    let meter = |inner: Arc<dyn Keystore>| -> Arc<dyn Keystore> {
        Arc::new(MeteredKeystore {
            inner: Arc::new(BoundedKeystore::new(inner, max_signatures)),
            metrics: metrics.clone(),
        })
    };
    match args {
        ListenerArgs::Server(a) => cli::build_server(engine, a, &meter),
        ListenerArgs::Client(a) => cli::build_client(engine, a, &meter),
    }
}

/// Run the plan until SIGTERM/SIGINT, then let live connections finish.
pub(crate) async fn run(plan: Plan) -> Result<()> {
    let mut specs = vec![];
    for args in &plan.listeners {
        specs.push(match args {
            ListenerArgs::Server(a) => cli::server_spec(a).await?,
            ListenerArgs::Client(a) => cli::client_spec(a).await?,
        });
    }
    // Ticket relays are boxes too: the current ones, a replacement each
    // while it is built, and a reload's overlap.
    let relays = specs.len() * 3 * tlsbox_host::relay::default_slots();
    let max_instances = specs.iter().map(|s| s.limits.max_conns).sum::<usize>() + SPARE_INSTANCES + relays;
    let engine = Engine::new(EngineConfig {
        max_instances: u32::try_from(max_instances).context("too many connections allowed")?,
        ..EngineConfig::default()
    })
    .context("starting the engine")?;
    let metrics = Arc::new(Metrics::new());
    let mut listeners = vec![];
    for (spec, args) in specs.into_iter().zip(&plan.listeners) {
        let state = build(&engine, args, &spec.limits, &metrics)
            .with_context(|| format!("{} {}", spec.role.name(), spec.listen))?;
        listeners.push(Listening {
            label: ListenerLabel {
                listener: format!("{} {}", spec.role.name(), spec.listen),
            },
            handshakes: Arc::new(tokio::sync::Semaphore::new(spec.limits.max_handshakes)),
            spec,
            state: RwLock::new(Arc::new(state)),
        });
    }
    metrics.generation.set(1);
    let shared = Arc::new(Shared {
        engine,
        metrics,
        listeners,
        generation: AtomicU64::new(1),
    });
    let (shutdown_tx, shutdown) = watch::channel(false);
    let mut accept_loops = vec![];
    for index in 0..shared.listeners.len() {
        let bound = listener::bind(&shared, index).await?;
        accept_loops.push(tokio::spawn(listener::accept_loop(
            shared.clone(),
            index,
            bound,
            shutdown.clone(),
        )));
    }
    if let Some(address) = &plan.global.status {
        status::serve(address, shared.clone(), shutdown.clone()).await?;
    }
    signals(&shared, &plan).await?;

    let _ = shutdown_tx.send(true);
    for task in accept_loops {
        let _ = task.await;
    }
    let grace = Duration::from_secs(plan.global.shutdown_timeout.unwrap_or(30));
    let active = || -> i64 {
        shared
            .listeners
            .iter()
            .map(|l| shared.metrics.active.get_or_create(&l.label).get())
            .sum()
    };
    tracing::info!(
        live = active(),
        grace_seconds = grace.as_secs(),
        "shutting down: no new connections"
    );
    let deadline = tokio::time::Instant::now() + grace;
    while active() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match active() {
        0 => tracing::info!("all connections finished; bye"),
        n => tracing::warn!(live = n, "shutdown timeout: closing the remaining connections"),
    }
    Ok(())
}

/// Wait for SIGTERM/SIGINT; reload on SIGHUP and on the --timed-reload tick.
async fn signals(shared: &Arc<Shared>, plan: &Plan) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let period = plan.global.timed_reload.filter(|s| *s > 0).map(Duration::from_secs);
    let mut tick = tokio::time::interval(period.unwrap_or(Duration::from_secs(3600)));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = hangup.recv() => reload(shared, "SIGHUP").await,
            _ = tick.tick(), if period.is_some() => reload(shared, "timer").await,
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
        }
    }
}

/// Re-read the configuration and rebuild every listener's TLS state; all
/// or nothing: on any failure the old configuration stays and the log says why.
async fn reload(shared: &Arc<Shared>, why: &str) {
    let shared2 = shared.clone();
    let rebuilt = tokio::task::spawn_blocking(move || rebuild(&shared2)).await;
    let result = match rebuilt {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("reload task failed: {e}")),
    };
    match result {
        Ok(states) => {
            for (listening, state) in shared.listeners.iter().zip(states) {
                listening.replace(state);
            }
            let generation = shared.generation.fetch_add(1, Ordering::Relaxed) + 1;
            shared
                .metrics
                .generation
                .set(i64::try_from(generation).unwrap_or(i64::MAX));
            shared
                .metrics
                .reloads
                .get_or_create(&metrics::ResultLabel { result: "ok" })
                .inc();
            tracing::info!(generation, trigger = why, "configuration reloaded");
        }
        Err(e) => {
            shared
                .metrics
                .reloads
                .get_or_create(&metrics::ResultLabel { result: "failed" })
                .inc();
            tracing::error!(
                trigger = why,
                error = format!("{e:#}"),
                "reload failed; keeping the running configuration"
            );
        }
    }
}

fn rebuild(shared: &Shared) -> Result<Vec<TlsState>> {
    let plan = cli::plan()?;
    if plan.listeners.len() != shared.listeners.len() {
        bail!("the number of listeners changed: restart to add or remove listeners");
    }
    let mut states = vec![];
    for (listening, args) in shared.listeners.iter().zip(&plan.listeners) {
        let name = format!("{} {}", listening.spec.role.name(), listening.spec.listen);
        let same_role = matches!(
            (&listening.spec.role, args),
            (Role::Server { .. }, ListenerArgs::Server(_)) | (Role::Client { .. }, ListenerArgs::Client(_))
        );
        if !same_role {
            bail!("{name}: the listener's role changed: restart to apply");
        }
        states
            .push(build(&shared.engine, args, &listening.spec.limits, &shared.metrics).with_context(|| name.clone())?);
    }
    Ok(states)
}
