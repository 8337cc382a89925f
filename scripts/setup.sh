#!/usr/bin/env bash
# Installs what kiln's build, example and tests need on a fresh Debian 12 machine (run as root).
# Idempotent: packages already present are not reinstalled, and apt's lists are only refreshed
# when something is missing.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# Debian packages the build and the tests use.
packages=(ca-certificates git gcc libc6-dev pkg-config
  docker-registry skopeo   # a real registry for the tests, and a real client to check it
  runc busybox-static      # the OCI runtime RUN steps use, and a shell for test rootfs
  slirp4netns              # outbound network for RUN steps (the sandbox network)
  umoci                    # a second real client to check OCI layouts
  docker.io                # dockerd + docker: the engine `kiln build --load` is tested against
  bzip2 xz-utils zstd)     # archives for ADD's auto-extraction tests, zstd to check zstd layers

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Rust toolchain (stable, with rustfmt and clippy) comes from rustup.
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: cargo not found: install Rust stable with rustup (https://rustup.rs), then re-run" >&2
    exit 1
  fi
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done
