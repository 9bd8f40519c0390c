#!/usr/bin/env bash
# The project's test command (README.md, .ci/run). Works on a machine that
# has only the Rust toolchain: installs the real TLS peers the tests talk to
# (openssl, curl, gnutls-cli, headless chromium), SoftHSM2 for the token
# tests, Node.js and Python's venv for the language examples, and the
# wasm32-wasip2 target when missing; then runs formatting, lints and every
# test (Rust, Node, Python).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v gnutls-cli >/dev/null 2>&1 || missing+=(gnutls-bin)
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
if ((${#missing[@]})); then
  echo "tests/run.sh: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# rust-toolchain.toml names the target, but rustup adds targets only when it
# installs a toolchain; add it to one that is already there.
rustup target add wasm32-wasip2 >/dev/null

set -x
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release -- -D warnings
# The component's own code only exists for wasm32: lint it there too.
CARGO_TARGET_DIR=target/guest cargo clippy --release --target wasm32-wasip2 -p tlsbox-guest -p tlsbox-core -p tlsbox-crypto -p tlsbox-guest-bench -- -D warnings
cargo test --workspace --release
cargo bench --workspace --no-run

# The box's portable build from Node.js (jco) and Python (wasmtime-py), each
# with a keystore of its own language; `cargo test` above built it.
(cd examples/js && npm ci --no-audit --no-fund --loglevel=error && npm test)
python3 -m venv target/py-venv
target/py-venv/bin/pip install --quiet --disable-pip-version-check -r examples/python/requirements.txt
(cd examples/python && ../../target/py-venv/bin/python -m pytest -q tests)

# Fuzzing, bounded: each target for 20 s from the committed seeds, when
# cargo-fuzz and a nightly toolchain are here; the closing notes record
# longer runs.
if cargo +nightly --version >/dev/null 2>&1 && cargo fuzz --version >/dev/null 2>&1; then
  for target in server_ciphertext client_ciphertext peer_policy pkcs11_uri proxy_header config_file pem_key; do
    scratch=$(mktemp -d)
    (cd fuzz && cargo +nightly fuzz run -O "$target" "$scratch" "corpus/$target" -- -max_total_time=20 -rss_limit_mb=2048)
    rm -rf "$scratch"
  done
else
  set +x
  echo "tests/run.sh: fuzzing skipped (needs cargo-fuzz and a nightly toolchain: cargo install cargo-fuzz; rustup toolchain install nightly)"
fi
