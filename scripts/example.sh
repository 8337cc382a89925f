#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root), builds kiln, and runs it on the examples:
#  - examples/site: a real build, exported as an OCI layout tarball and checked with skopeo;
#  - examples/hello: the build checks (lint), the outline of the default target, the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh
cargo build --release -p kiln-cli
kiln=$PWD/target/release/kiln
out=$(mktemp -d)

set -x
"$kiln" build -t example.local/site:1 -o "type=oci,dest=$out/site.tar" examples/site
skopeo inspect --raw "oci-archive:$out/site.tar"
"$kiln" build --call=outline examples/hello
"$kiln" build --call=targets examples/hello
# Exit status 1 here is buildx's: the example carries deliberate lint warnings.
"$kiln" build --call=check examples/hello || true
