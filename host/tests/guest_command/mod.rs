//! Runs `tlsbox-guest-bench` (built for wasm32-wasip2 by host/build.rs)
//! inside wasmtime, compiled with the same code generation settings as the
//! box (Cranelift at `Speed`, epoch interruption on, wide arithmetic), so
//! its timings are what the box's code gets. The portable flavour, the
//! one the JS and Python bindings load, runs with wide arithmetic off.

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, OptLevel, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// An error from wasmtime or from the command, as text.
fn text(e: impl std::fmt::Display) -> String {
    format!("{e:#}")
}

/// The compiled command, ready to run many times.
pub(crate) struct GuestCommand {
    engine: Engine,
    component: Component,
    linker: Linker<State>,
}

impl GuestCommand {
    /// Compile the command (a few seconds), built as the box is.
    pub(crate) fn load() -> Result<Self, String> {
        Self::load_with(Config::new())
    }

    /// Compile the portable flavour's command, in an engine without the
    /// wide-arithmetic proposal, as other component-model hosts run it.
    #[allow(dead_code, reason = "box_vs_native runs only the box's flavour")]
    pub(crate) fn load_portable() -> Result<Self, String> {
        let mut config = Config::new();
        config.wasm_wide_arithmetic(false);
        Self::compile(config, env!("TLSBOX_GUEST_BENCH_PORTABLE_WASM"))
    }

    /// Compile it as for a host without AVX-512, whatever this one has.
    /// Cranelift turns wasm's `i64x2.mul` into one `vpmullq` with AVX-512
    /// and into a sequence of 32-bit multiplies without, and LLVM emits
    /// that multiply in GHASH: its speed depends on the host's CPU.
    #[allow(dead_code, reason = "only the primitives bench compares hosts")]
    pub(crate) fn load_without_avx512() -> Result<Self, String> {
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut config = Config::new();
        // Cranelift's names; other architectures have none of them.
        #[cfg(target_arch = "x86_64")]
        for flag in [
            "has_avx512f",
            "has_avx512vl",
            "has_avx512dq",
            "has_avx512vbmi",
            "has_avx512bitalg",
        ] {
            // SAFETY: turning a CPU feature off only narrows the
            // instructions Cranelift may emit; the code stays valid on
            // this host.
            unsafe {
                config.cranelift_flag_set(flag, "false");
            }
        }
        Self::load_with(config)
    }

    fn load_with(mut config: Config) -> Result<Self, String> {
        config.wasm_wide_arithmetic(true);
        Self::compile(config, env!("TLSBOX_GUEST_BENCH_WASM"))
    }

    fn compile(mut config: Config, path: &str) -> Result<Self, String> {
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed);
        let engine = Engine::new(&config).map_err(text)?;
        let component = Component::from_file(&engine, path).map_err(|e| format!("loading {path}: {e:#}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(text)?;
        Ok(Self {
            engine,
            component,
            linker,
        })
    }

    /// Run it with `args`; its standard output if it exits with success.
    pub(crate) fn run(&self, args: &[&str]) -> Result<String, String> {
        let stdout = MemoryOutputPipe::new(1 << 20);
        let stderr = MemoryOutputPipe::new(1 << 16);
        let mut argv = vec!["tlsbox-guest-bench"];
        argv.extend_from_slice(args);
        let wasi = WasiCtxBuilder::new()
            .args(&argv)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let mut store = Store::new(
            &self.engine,
            State {
                wasi,
                table: ResourceTable::new(),
            },
        );
        // Nothing advances the epoch here: the deadline only has to exist.
        store.set_epoch_deadline(1 << 40);
        let command = Command::instantiate(&mut store, &self.component, &self.linker).map_err(text)?;
        let exited = command.wasi_cli_run().call_run(&mut store).map_err(text)?;
        let err = String::from_utf8_lossy(&stderr.contents()).into_owned();
        exited.map_err(|()| format!("tlsbox-guest-bench {args:?} failed: {err}"))?;
        Ok(String::from_utf8_lossy(&stdout.contents()).into_owned())
    }
}

/// Parse `name<TAB>value<TAB>unit` lines.
#[allow(dead_code, reason = "the bench reads figures, the test does not")]
pub(crate) fn figures(output: &str) -> Vec<(String, f64, String)> {
    output
        .lines()
        .filter_map(|line| {
            let mut parts = line.split('\t');
            let name = parts.next()?.to_string();
            let value = parts.next()?.parse().ok()?;
            let unit = parts.next()?.to_string();
            Some((name, value, unit))
        })
        .collect()
}

/// Run `wasm` and `native` `rounds` times each, alternating which goes
/// first, so that drift on a shared machine hits both sides alike.
#[allow(dead_code, reason = "the benches alternate, the test does not")]
pub(crate) fn alternate(rounds: usize, mut wasm: impl FnMut(), mut native: impl FnMut()) {
    for round in 0..rounds {
        if round % 2 == 0 {
            wasm();
            native();
        } else {
            native();
            wasm();
        }
    }
}
