#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) and runs kiln's whole test suite: formatting,
# clippy with warnings denied, and every unit, conformance and end-to-end test.
#
# The conformance suites read ../shared/conformance beside this checkout (or $KILN_SHARED_DIR);
# where it is absent they print a skip line and pass.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace --no-fail-fast
