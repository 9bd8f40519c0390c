//! The wasmtime engine: compile the box once, instantiate it per connection.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::{Tlsbox, TlsboxPre};
use crate::keystore::Keystore;
use crate::Error;

/// The box, as built by `host/build.rs` from `guest/component`.
pub static GUEST_COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tlsbox_guest.wasm"));

/// How the engine runs boxes.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most boxes alive at once (the pooling allocator's slots).
    pub max_instances: u32,
    /// Most linear memory one box may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// Where compiled code is cached between runs (`None`: no disk cache).
    pub cache_dir: Option<PathBuf>,
    /// A fixed wall-clock time for every box, instead of the system clock
    /// (tests of certificate validity).
    pub fixed_time: Option<SystemTime>,
    /// Longest one call into a box may take (its guest code and the
    /// keystore signature it may wait for). A box past it is interrupted
    /// and traps, which ends its connection only.
    pub call_deadline: Duration,
}

/// Bytes of each of a box's tables kept in memory when the box closes
/// (see `Engine::new`): the program's function table (698 entries of 8
/// bytes in this build) with room to grow, and the canonical ABI shims'.
const TABLE_KEEP_RESIDENT: usize = 16 << 10;

/// How often the engine's epoch advances: the resolution of call deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_instances: 1000,
            max_memory_bytes: 16 << 20,
            cache_dir: dirs::cache_dir().map(|d| d.join("tlsbox")),
            fixed_time: None,
            call_deadline: Duration::from_secs(5),
        }
    }
}

/// What each box's store holds: WASI (clocks, random; nothing else) and
/// the keystore it may ask to sign.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    pub(crate) keystore: Arc<dyn Keystore>,
    /// Epoch ticks each call into the box may run for.
    pub(crate) call_ticks: u64,
    /// Counted among the live boxes (connections and configuration
    /// checks; not the long-lived ticket relays).
    _live: Option<LiveBox>,
}

/// Counts a box as live from instantiation until its store is dropped.
struct LiveBox(Arc<AtomicUsize>);

impl Drop for LiveBox {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Compiled once, shared by every connection: the box and its linker.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    engine: wasmtime::Engine,
    pre: TlsboxPre<HostState>,
    config: EngineConfig,
    from_cache: bool,
    live: Arc<AtomicUsize>,
    /// Tells the epoch ticker thread to stop.
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// Advance the engine's epoch every tick until told to stop, so that a
/// box stuck in a loop reaches its deadline.
fn start_epoch_ticker(engine: wasmtime::Engine) -> Result<Arc<AtomicBool>, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::Builder::new()
        .name("tlsbox-epoch".into())
        .spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .map_err(|e| Error::Engine(format!("starting the epoch ticker: {e}")))?;
    Ok(stop)
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// A frozen wall clock for the boxes.
struct FixedClock(Duration);

impl wasmtime_wasi::HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

impl Engine {
    /// Set up the engine and compile the box (or load it from the cache).
    pub fn new(config: EngineConfig) -> Result<Self, Error> {
        let mut pooling = PoolingAllocationConfig::default();
        // Each box is one component: the program's core instance and the
        // canonical ABI's shims, one linear memory, a few tables.
        pooling
            .total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances.saturating_mul(8))
            .total_memories(config.max_instances)
            .total_tables(config.max_instances.saturating_mul(8))
            .max_memory_size(config.max_memory_bytes)
            // Returning a closed box's pages to the kernel (madvise) costs a
            // TLB shootdown across cores; in batches of 16 it is paid once
            // per 16 boxes. Connection setup and teardown went from about 51
            // to 45 µs in a loop; at most 15 closed boxes per core stay
            // resident until their batch goes, and a full pool flushes first.
            .decommit_batch_size(16)
            // A closed box's tables (function references into its own
            // instance, nothing of the connection's) are zeroed with
            // `memset` and stay in memory, rather than returned to the
            // kernel and faulted in again (read, then written) by the next
            // box in the slot: five page faults fewer per box, a new box
            // about 43 to 37 µs. A table slot once used keeps up to two
            // pages (a box's tables fill three: its function table two, the
            // shims' one; slots are not tied to one table, so a small table
            // may leave a large one's second page kept, zeroed and not
            // counted by the pool); every live box holds them anyway.
            // Linear memory is not kept this way: it would be reset by
            // `memset` from its lowest address, the stack's far end, while
            // the pages a box touches lie at the stack's top, in its data
            // and its heap.
            .table_keep_resident(TABLE_KEEP_RESIDENT)
            // Without the PAGEMAP_SCAN ioctl, what is kept is reset in
            // full; with it, wasmtime would reset only the pages present
            // in memory, and a page swapped out meanwhile would come back
            // unreset (wasmtime pull request #14357). Said here, in case
            // wasmtime's default changes.
            .pagemap_scan(wasmtime::Enabled::No);
        let mut wasm = wasmtime::Config::new();
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling))
            .wasm_component_model(true)
            // Deadlines per call: cheaper than fuel, and they also bound
            // the time a box waits on a slow keystore.
            .epoch_interruption(true)
            .cranelift_opt_level(wasmtime::OptLevel::Speed)
            // The embedded box is built for it (host/build.rs): one
            // 64×64→128-bit multiply where wasm would otherwise need four,
            // for X25519's and P-256's field arithmetic.
            .wasm_wide_arithmetic(true);
        let engine = wasmtime::Engine::new(&wasm).map_err(Error::engine)?;
        let (component, from_cache) = load_component(&engine, GUEST_COMPONENT, config.cache_dir.as_deref())?;
        tracing::debug!(from_cache, "box ready");

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(Error::engine)?;
        Tlsbox::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s).map_err(Error::engine)?;
        let pre = TlsboxPre::new(linker.instantiate_pre(&component).map_err(Error::engine)?).map_err(Error::engine)?;
        let stop_ticker = start_epoch_ticker(engine.clone())?;
        Ok(Self {
            inner: Arc::new(EngineInner {
                engine,
                pre,
                config,
                from_cache,
                live: Arc::new(AtomicUsize::new(0)),
                stop_ticker,
            }),
        })
    }

    /// Whether the box's machine code came from the disk cache rather than
    /// being compiled by this engine.
    pub fn compiled_from_cache(&self) -> bool {
        self.inner.from_cache
    }

    /// Boxes alive now: one per open connection or configuration check.
    /// Returns to its level when connections close (a leak check).
    pub fn live_boxes(&self) -> usize {
        self.inner.live.load(Ordering::Relaxed)
    }

    /// Bytes the pool keeps in memory for closed boxes, ready for the next
    /// box in their slot: their tables (see `Engine::new`; linear memory
    /// too, should it ever be kept). A memory figure per connection must
    /// count them: a new box takes them over.
    pub fn pool_bytes_kept_resident(&self) -> usize {
        self.inner.engine.pooling_allocator_metrics().map_or(0, |m| {
            m.unused_table_bytes_resident()
                .saturating_add(m.unused_memory_bytes_resident())
        })
    }

    /// A fresh box: a store with its own memory, and the instance in it.
    pub(crate) fn instantiate(&self, keystore: Arc<dyn Keystore>) -> Result<(Store<HostState>, Tlsbox), Error> {
        self.instantiate_counted(keystore, true)
    }

    /// A fresh long-lived box (a ticket relay), not counted among the
    /// live boxes, which return to zero when connections close.
    pub(crate) fn instantiate_unlisted(
        &self,
        keystore: Arc<dyn Keystore>,
    ) -> Result<(Store<HostState>, Tlsbox), Error> {
        self.instantiate_counted(keystore, false)
    }

    fn instantiate_counted(
        &self,
        keystore: Arc<dyn Keystore>,
        counted: bool,
    ) -> Result<(Store<HostState>, Tlsbox), Error> {
        let mut wasi = WasiCtxBuilder::new();
        if let Some(t) = self.inner.config.fixed_time {
            let since_epoch = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
            wasi.wall_clock(FixedClock(since_epoch));
        }
        let state = HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.inner.config.max_memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            keystore,
            call_ticks: ticks(self.inner.config.call_deadline),
            _live: counted.then(|| {
                self.inner.live.fetch_add(1, Ordering::Relaxed);
                LiveBox(self.inner.live.clone())
            }),
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(store.data().call_ticks);
        // Failing here means no free slot in the pool (or a broken
        // component): an engine condition, not this connection's doing.
        let instance = self
            .inner
            .pre
            .instantiate(&mut store)
            .map_err(|e| Error::Engine(format!("starting a box: {e:#}")))?;
        Ok((store, instance))
    }
}

/// A deadline in epoch ticks, at least one.
fn ticks(deadline: Duration) -> u64 {
    u64::try_from(deadline.as_millis() / EPOCH_TICK.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Compile `wasm`, or load the machine code a previous run cached for this
/// very component, engine version and engine settings.
fn load_component(
    engine: &wasmtime::Engine,
    wasm: &[u8],
    cache_dir: Option<&Path>,
) -> Result<(Component, bool), Error> {
    let Some(dir) = cache_dir else {
        return Ok((Component::new(engine, wasm).map_err(Error::engine)?, false));
    };
    let mut settings = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut settings);
    let mut key = Sha256::new();
    key.update(wasm);
    key.update(settings.finish().to_le_bytes());
    key.update(env!("CARGO_PKG_VERSION"));
    let digest = key.finalize();
    let name: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("tlsbox-{name}.cwasm"));

    if path.exists() {
        // SAFETY: deserializing runs native code from this file. It lives in
        // our own cache directory, was written by `serialize` below for this
        // exact component and engine configuration (the file name hashes
        // both), and is replaced atomically. Anyone able to write there could
        // equally replace this binary.
        #[expect(unsafe_code, reason = "loading our own cached machine code")]
        let cached = unsafe { Component::deserialize_file(engine, &path) };
        match cached {
            Ok(component) => return Ok((component, true)),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring unusable compiled-code cache"),
        }
    }
    let component = Component::new(engine, wasm).map_err(Error::engine)?;
    if let Err(e) = store_cache(&component, dir, &path) {
        tracing::warn!(path = %path.display(), error = %e, "could not cache compiled code");
    }
    Ok((component, false))
}

fn store_cache(component: &Component, dir: &Path, path: &Path) -> Result<(), Error> {
    let bytes = component.serialize().map_err(Error::engine)?;
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::write(tmp.path(), bytes)?;
    tmp.persist(path).map_err(|e| Error::Io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The box calls WASI 0.2 only. One WASI preview 1 call anywhere in the
    /// guest (getrandom 0.2, rand_core 0.6's `OsRng`) makes the linker add
    /// the preview 1 adapter: another core instance per connection, and
    /// about 24 KiB more memory in each ([`tlsbox_core::random`]).
    #[test]
    fn the_box_has_no_wasi_preview1_adapter() {
        let preview1 = b"wasi_snapshot_preview1";
        assert!(
            !GUEST_COMPONENT.windows(preview1.len()).any(|w| w == preview1),
            "the box imports WASI preview 1: use tlsbox_core::random, not OsRng or getrandom 0.2"
        );
    }

    /// host/build.rs builds the embedded box with wide arithmetic added to
    /// `.cargo/config.toml`'s SIMD128 (through `cargo --config`): an engine
    /// without either proposal must refuse it, for that reason. The first
    /// function using one fails validation, so this is quick.
    #[test]
    fn the_embedded_box_uses_wide_arithmetic_and_simd128() {
        let mut no_wide = wasmtime::Config::new();
        no_wide.wasm_component_model(true).wasm_wide_arithmetic(false);
        let mut no_simd = wasmtime::Config::new();
        no_simd
            .wasm_component_model(true)
            .wasm_wide_arithmetic(true)
            .wasm_relaxed_simd(false)
            .wasm_simd(false);
        for (without, config, refusal) in [
            ("wide arithmetic", no_wide, "wide arithmetic support is not enabled"),
            ("SIMD128", no_simd, "SIMD support is not enabled"),
        ] {
            let engine = wasmtime::Engine::new(&config).unwrap_or_else(|e| panic!("{e}"));
            match Component::new(&engine, GUEST_COMPONENT) {
                Ok(_) => panic!("an engine without {without} accepted the box: built without it?"),
                Err(e) => assert!(format!("{e:#}").contains(refusal), "{without}: {e:#}"),
            }
        }
    }

    #[test]
    fn second_engine_loads_the_compiled_box_from_the_cache() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let config = EngineConfig {
            max_instances: 2,
            cache_dir: Some(dir.path().into()),
            ..Default::default()
        };
        let first = Engine::new(config.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!first.compiled_from_cache());
        let second = Engine::new(config).unwrap_or_else(|e| panic!("{e}"));
        assert!(second.compiled_from_cache());
    }

    #[test]
    fn a_corrupt_cache_file_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let config = EngineConfig {
            max_instances: 2,
            cache_dir: Some(dir.path().into()),
            ..Default::default()
        };
        drop(Engine::new(config.clone()).unwrap_or_else(|e| panic!("{e}")));
        for entry in std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
        {
            std::fs::write(entry.path(), b"not machine code").unwrap_or_else(|e| panic!("{e}"));
        }
        let engine = Engine::new(config.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!engine.compiled_from_cache());
        assert!(Engine::new(config)
            .unwrap_or_else(|e| panic!("{e}"))
            .compiled_from_cache());
    }
}
