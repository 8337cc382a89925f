#!/usr/bin/env bash
# kiln vs BuildKit, measured in the same run on this machine.
#
# Usage (as root, on Debian 12, from anywhere in the checkout):
#   ./scripts/bench.sh              # 3 repetitions per figure, medians reported
#   BENCH_REPS=5 ./scripts/bench.sh
#   BENCH_KEEP=1 ./scripts/bench.sh # keep the temporary directory (logs, contexts) afterwards
#
# The reference is Debian's docker.io: dockerd (20.10) with its embedded BuildKit, driven by
# `DOCKER_BUILDKIT=1 /usr/bin/docker build` (the only BuildKit that installs here from packages).
# The script:
#   1. installs what it needs with apt when missing (docker.io, docker-registry, skopeo, time,
#      umoci, busybox-static) and builds kiln in release mode (CARGO_TARGET_DIR, default
#      /tmp/target-bench);
#   2. starts its own docker-registry on 127.0.0.1:<free port> and pushes a busybox base image
#      there (the builds suite's recorded ../shared/conformance/suites/builds/base-busybox-oci when
#      present, else one made by hand from Debian's busybox-static with umoci);
#   3. starts its own dockerd (temporary --data-root/--exec-root/--pidfile, a unix socket in the
#      temporary directory, --registry-mirror and --insecure-registry pointing at that registry,
#      --iptables=false --bridge=none) and its own managed containerd; both, and the registry,
#      are stopped by their own PIDs on exit. No other process is touched.
#   4. configures kiln with a kiln.toml (docker.io mirrored to the registry, plain HTTP) and a
#      temporary --root;
#   5. measures for both builders: (a) a cold build of a 20-step Dockerfile, (b) its no-op
#      rebuild, (c) a no-op rebuild with a 20,000-file context, (d) the same after changing one
#      file, (e) peak memory during the cold build; prints a table (median seconds,
#      kiln/BuildKit ratio) and one final line per figure.
#
# How each figure is taken:
#   - Wall-clock seconds of the whole client command (kiln process / docker CLI), median of
#     BENCH_REPS runs.
#   - Cold, kiln: a fresh, empty --root for every repetition (the base image is pulled again).
#     Cold, docker: `docker builder prune -af` and removal of every image before each repetition
#     (same daemon, its data root emptied of build cache and images, so the base is pulled
#     again); one untimed warm-up build first, so the daemon's lazy BuildKit start-up is not
#     charged to the first repetition.
#   - Network: kiln runs RUN steps with its default network (a pooled network namespace per
#     step with slirp4netns outbound NAT); the docker builds use `--network=none`, a loopback-only
#     namespace, because this dockerd runs with --bridge=none, under which its default bridge
#     network cannot work ("network bridge not found"). kiln does more work here, not less.
#   - Export: docker writes the result into its image store (`-t`); kiln into its local image
#     store (`-o type=image` with `-t`), the closest equivalent.
#   - Peak memory: kiln = max RSS of the kiln process from `/usr/bin/time -v` (GNU time reports
#     the largest of kiln and its waited-for children, e.g. runc); BuildKit = the peak of the
#     summed RSS of dockerd's whole process tree (dockerd, its containerd, runc and the build's
#     processes), sampled with `ps` every 0.05 s during the cold build. For a like-for-like
#     view the same tree sampling is also applied to kiln and printed beside it.
#
# This script is not part of the test suite; it needs root, network access to the Debian mirror
# the first time, and a couple of minutes.
set -euo pipefail

REPS=${BENCH_REPS:-3}
ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED_DIR=${KILN_SHARED_DIR:-$ROOT_DIR/../shared}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-bench}
DOCKER=/usr/bin/docker # Debian's client, not any other docker on PATH
export DOCKER_BUILDKIT=1

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (dockerd, kiln's containers and overlayfs need it)"

# --- 1. packages and kiln ------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
packages=(docker.io docker-registry skopeo time umoci busybox-static procps)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  # policy-rc.d/systemd may refuse to start docker.service: that is fine, we run our own dockerd.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] || die "cargo not found: install Rust stable with rustup"
  export PATH="$HOME/.cargo/bin:$PATH"
fi
log "building kiln (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
(cd "$ROOT_DIR" && cargo build --release -q -p kiln-cli)
KILN=$CARGO_TARGET_DIR/release/kiln
[ -x "$KILN" ] || die "$KILN was not built"

# --- temporary state and cleanup -----------------------------------------------------------
WORK=$(mktemp -d /tmp/kiln-bench.XXXXXX)
REGISTRY_PID=
DOCKERD_PID=
SAMPLER_PID=
cleanup() {
  local status=$?
  set +e
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
  if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    # dockerd stops the containerd it started itself.
    kill -TERM "$DOCKERD_PID"
    for _ in $(seq 1 150); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && kill -KILL "$DOCKERD_PID"
  fi
  if [ -n "$REGISTRY_PID" ] && kill -0 "$REGISTRY_PID" 2>/dev/null; then
    kill -TERM "$REGISTRY_PID"; wait "$REGISTRY_PID" 2>/dev/null
  fi
  # dockerd leaves its overlay mounts under the data root on some exits.
  grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free port found"
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "$what did not come up within ${secs}s"
}

# --- 2. registry with busybox ----------------------------------------------------------------
PORT=$(free_port)
REG=127.0.0.1:$PORT
mkdir -p "$WORK/registry"
cat >"$WORK/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry/data
http:
  addr: $REG
  secret: kiln-bench-secret
EOF
/usr/bin/docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 &
REGISTRY_PID=$!
wait_for 20 "docker-registry on $REG" curl -fsS "http://$REG/v2/"

BASE_LAYOUT=$SHARED_DIR/conformance/suites/builds/base-busybox-oci
if [ -f "$BASE_LAYOUT/index.json" ]; then
  log "pushing the recorded busybox layout ($BASE_LAYOUT) to $REG"
else
  log "no recorded layout; making busybox from Debian's busybox-static with umoci"
  BASE_LAYOUT=$WORK/busybox-oci
  bundle=$WORK/busybox-bundle
  umoci init --layout "$BASE_LAYOUT"
  umoci new --image "$BASE_LAYOUT:latest"
  umoci unpack --rootless --image "$BASE_LAYOUT:latest" "$bundle" >/dev/null
  r=$bundle/rootfs
  mkdir -p "$r/bin" "$r/etc" "$r/root" "$r/tmp" "$r/home" "$r/usr/bin"
  chmod 700 "$r/root"; chmod 1777 "$r/tmp"
  cp /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -f "$r/bin/busybox" "$r/bin/$a"; done
  ln -sf ../../bin/env "$r/usr/bin/env"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  umoci repack --image "$BASE_LAYOUT:latest" "$bundle" >/dev/null
  umoci config --image "$BASE_LAYOUT:latest" --config.cmd sh \
    --config.env 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' >/dev/null
fi
skopeo copy -q --all --dest-tls-verify=false "oci:$BASE_LAYOUT:latest" \
  "docker://$REG/library/busybox:latest"

# --- 3. dockerd --------------------------------------------------------------------------------
[ -e /run/containerd/containerd.sock ] &&
  log "note: a system containerd runs at /run/containerd; dockerd 20.10 would use it rather than its own"
mkdir -p "$WORK/docker/data" "$WORK/docker/exec"
echo '{}' >"$WORK/docker/daemon.json"
export DOCKER_HOST=unix://$WORK/docker/docker.sock
/usr/sbin/dockerd \
  --config-file "$WORK/docker/daemon.json" \
  --data-root "$WORK/docker/data" \
  --exec-root "$WORK/docker/exec" \
  --pidfile "$WORK/docker/docker.pid" \
  -H "$DOCKER_HOST" \
  --registry-mirror "http://$REG" \
  --insecure-registry "$REG" \
  --iptables=false --ip6tables=false --bridge=none --ip-masq=false \
  >"$WORK/docker/log" 2>&1 &
DOCKERD_PID=$!
wait_for 60 "dockerd (log: $WORK/docker/log)" "$DOCKER" version
DOCKER_VERSION=$("$DOCKER" version -f '{{.Server.Version}}')

# --- 4. kiln's configuration -----------------------------------------------------------------
cat >"$WORK/kiln.toml" <<EOF
[registry."docker.io"]
mirrors = ["$REG"]
[registry."$REG"]
http = true
EOF
KILN_ROOT_DIR=$WORK/kiln-root
kiln() { "$KILN" --config "$WORK/kiln.toml" --root "$KILN_ROOT_DIR" "$@"; }

# --- the build contexts --------------------------------------------------------------------------
SMALL=$WORK/ctx-small
mkdir -p "$SMALL/dir/sub"
echo a >"$SMALL/a.txt"; echo b >"$SMALL/b.txt"; echo c >"$SMALL/c.txt"
for i in 1 2 3 4 5; do echo "$i" >"$SMALL/dir/f$i"; echo "$i" >"$SMALL/dir/sub/g$i"; done
cat >"$SMALL/Dockerfile" <<'EOF'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY a.txt .
RUN echo one > /app/one
ENV STAGE=build
COPY b.txt ./sub/
RUN cat a.txt sub/b.txt > both
WORKDIR /app/work
RUN mkdir -p x/y && echo hi > x/y/z
COPY dir/ ./dir/
RUN find /app | wc -l > count
ENV MODE=release
RUN for i in $(seq 1 200); do echo $i; done > nums
COPY c.txt /etc/c.txt
RUN sha256sum /etc/c.txt > sum
WORKDIR /
RUN tar cf /tmp/app.tar /app && rm /tmp/app.tar
ENV DONE=1
RUN echo done > /done
EOF
[ "$(grep -c . "$SMALL/Dockerfile")" -eq 20 ] || die "the small Dockerfile must have 20 steps"

BIG=$WORK/ctx-big
log "writing the 20,000-file context"
mkdir -p "$BIG"
(cd "$BIG" && for d in $(seq -w 0 199); do
  mkdir "d$d"
  for f in $(seq -w 0 99); do echo "file $d/$f" >"d$d/f$f"; done
done)
cat >"$BIG/Dockerfile" <<'EOF'
FROM busybox
COPY . /ctx
RUN find /ctx -type f | wc -l > /count
EOF
[ "$(find "$BIG" -type f ! -name Dockerfile | wc -l)" -eq 20000 ] || die "big context is not 20,000 files"

# --- measuring helpers -------------------------------------------------------------------------
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# sample_tree PID OUT: writes the peak summed RSS (KiB) of PID's process tree to OUT until killed.
sample_tree() {
  local root=$1 out=$2 peak=0 cur
  while :; do
    cur=$(ps -e -o pid=,ppid=,rss= | awk -v root="$root" '
      { parent[$1] = $2; rss[$1] = $3 }
      END {
        for (p in parent) {
          q = p; n = 0
          while (q != "" && q != 0 && q != root && n++ < 64) q = parent[q]
          if (q == root) sum += rss[p]
        }
        print sum + 0
      }')
    [ "$cur" -gt "$peak" ] && { peak=$cur; echo "$peak" >"$out"; }
    sleep 0.05
  done
}
start_sampler() { echo 0 >"$2"; sample_tree "$1" "$2" & SAMPLER_PID=$!; }
stop_sampler() { kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=; }

LOGS=$WORK/logs
mkdir -p "$LOGS"
# run_timed LOG COMMAND...: runs it, prints its wall-clock seconds; dies (showing the log) on failure.
run_timed() {
  local logf=$1 t0 t1; shift
  t0=$(now)
  if ! "$@" >"$logf" 2>&1; then
    tail -n 30 "$logf" >&2
    die "failed: $* (log: $logf)"
  fi
  t1=$(now)
  elapsed "$t0" "$t1"
}

kiln_build() { # kiln_build CONTEXT TAG
  kiln build --progress=plain -t "$2" -o type=image "$1"
}
docker_build() { # docker_build CONTEXT TAG
  "$DOCKER" build --network=none --progress=plain -t "$2" "$1"
}
docker_reset() { # empty docker's build cache and image store
  "$DOCKER" builder prune -af >/dev/null
  local ids
  ids=$("$DOCKER" images -aq)
  [ -z "$ids" ] || "$DOCKER" rmi -f $ids >/dev/null
  "$DOCKER" builder prune -af >/dev/null
}

declare -A RESULT
measure() { # measure KEY COMMAND...: runs REPS times, stores the median
  local key=$1 times=() i; shift
  for i in $(seq 1 "$REPS"); do times+=("$(run_timed "$LOGS/$key.$i" "$@")"); done
  RESULT[$key]=$(median "${times[@]}")
  log "$key: ${times[*]} -> median ${RESULT[$key]}s"
}

# --- 5a/5e. cold builds, with memory ----------------------------------------------------------
log "warm-up docker build (untimed: starts the daemon's BuildKit)"
mkdir -p "$WORK/ctx-warm"
printf 'FROM busybox\nRUN true\n' >"$WORK/ctx-warm/Dockerfile"
run_timed "$LOGS/docker-warmup" docker_build "$WORK/ctx-warm" bench-warm >/dev/null
DOCKERD_IDLE_KB=$(ps -o rss= -p "$DOCKERD_PID" | tr -d ' ')

kiln_cold_times=() kiln_rss=() kiln_tree=() docker_cold_times=() docker_tree=()
for i in $(seq 1 "$REPS"); do
  log "cold build $i/$REPS: kiln"
  rm -rf "$KILN_ROOT_DIR"
  t0=$(now)
  # The sampler watches this subshell's tree: GNU time, kiln and its runc/containers.
  (
    exec /usr/bin/time -v -o "$LOGS/kiln-cold.$i.time" "$KILN" --config "$WORK/kiln.toml" \
      --root "$KILN_ROOT_DIR" build --progress=plain -t bench-small -o type=image "$SMALL" \
      >"$LOGS/kiln-cold.$i" 2>&1
  ) &
  bpid=$!
  start_sampler "$bpid" "$LOGS/kiln-cold.$i.tree"
  if ! wait "$bpid"; then stop_sampler; tail -n 30 "$LOGS/kiln-cold.$i" >&2; die "kiln cold build failed"; fi
  t1=$(now)
  stop_sampler
  kiln_cold_times+=("$(elapsed "$t0" "$t1")")
  kiln_rss+=("$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$LOGS/kiln-cold.$i.time")")
  kiln_tree+=("$(cat "$LOGS/kiln-cold.$i.tree")")

  log "cold build $i/$REPS: docker"
  docker_reset
  start_sampler "$DOCKERD_PID" "$LOGS/docker-cold.$i.tree"
  docker_cold_times+=("$(run_timed "$LOGS/docker-cold.$i" docker_build "$SMALL" bench-small)")
  stop_sampler
  docker_tree+=("$(cat "$LOGS/docker-cold.$i.tree")")
done
RESULT[kiln_cold]=$(median "${kiln_cold_times[@]}")
RESULT[docker_cold]=$(median "${docker_cold_times[@]}")
RESULT[kiln_rss]=$(median "${kiln_rss[@]}")
RESULT[kiln_tree]=$(median "${kiln_tree[@]}")
RESULT[docker_tree]=$(median "${docker_tree[@]}")
log "cold kiln: ${kiln_cold_times[*]} s, max RSS ${kiln_rss[*]} KiB, tree ${kiln_tree[*]} KiB"
log "cold docker: ${docker_cold_times[*]} s, tree ${docker_tree[*]} KiB (dockerd idle ${DOCKERD_IDLE_KB} KiB)"

# Sanity: every step of the cold build ran (no cache hit on a fresh root / pruned daemon).
grep -q CACHED "$LOGS/kiln-cold.1" && log "warning: kiln's cold build reported CACHED steps"
grep -q CACHED "$LOGS/docker-cold.1" && log "warning: docker's cold build reported CACHED steps"

# --- 5b. no-op rebuilds of the small Dockerfile ------------------------------------------------
measure kiln_noop kiln_build "$SMALL" bench-small
measure docker_noop docker_build "$SMALL" bench-small
grep -q CACHED "$LOGS/kiln_noop.1" || log "warning: kiln's no-op rebuild printed no CACHED"

# --- 5c/5d. the 20,000-file context -------------------------------------------------------------
log "first builds of the 20,000-file context (untimed)"
run_timed "$LOGS/kiln-big-first" kiln_build "$BIG" bench-big >/dev/null
run_timed "$LOGS/docker-big-first" docker_build "$BIG" bench-big >/dev/null
measure kiln_big_noop kiln_build "$BIG" bench-big
measure docker_big_noop docker_build "$BIG" bench-big

# One file changed before every repetition (a different one each time, for both builders).
CHANGE_N=0
changed_kiln() { CHANGE_N=$((CHANGE_N + 1)); echo "changed $CHANGE_N" >>"$BIG/d100/f050"; kiln_build "$BIG" bench-big; }
changed_docker() { CHANGE_N=$((CHANGE_N + 1)); echo "changed $CHANGE_N" >>"$BIG/d100/f050"; docker_build "$BIG" bench-big; }
measure kiln_big_change changed_kiln
measure docker_big_change changed_docker

# --- report ------------------------------------------------------------------------------------
ratio() { awk -v k="$1" -v d="$2" 'BEGIN { if (d > 0) printf "%.2f", k / d; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
KILN_VERSION=$("$KILN" version 2>/dev/null | head -n 1 || echo kiln)
echo
echo "kiln vs BuildKit ($KILN_VERSION; dockerd $DOCKER_VERSION with embedded BuildKit), $(nproc) CPUs, median of $REPS"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews both builders)"
echo "(a)/(b): 20 instructions (FROM, 8 RUN, 4 COPY, 3 WORKDIR, 4 ENV: 16 BuildKit steps); (c)/(d): COPY . /ctx + RUN"
echo "export: kiln -o type=image -t (kiln's image store); docker build -t (dockerd's image store)"
echo "network: kiln's default RUN network (netns + slirp4netns NAT) vs docker build --network=none (loopback only)"
echo "cold: kiln = fresh --root; docker = 'docker builder prune -af' + all images removed, same daemon"
echo
printf '%-44s %10s %10s %12s\n' "figure" "kiln" "BuildKit" "kiln/BuildKit"
printf '%-44s %10s %10s %12s\n' "--------------------------------------------" "----------" "----------" "------------"
row() { printf '%-44s %9ss %9ss %12s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }
row "(a) cold build, 20-step Dockerfile" "${RESULT[kiln_cold]}" "${RESULT[docker_cold]}"
row "(b) no-op rebuild, 20-step Dockerfile" "${RESULT[kiln_noop]}" "${RESULT[docker_noop]}"
row "(c) no-op rebuild, 20,000-file context" "${RESULT[kiln_big_noop]}" "${RESULT[docker_big_noop]}"
row "(d) one file changed, 20,000-file context" "${RESULT[kiln_big_change]}" "${RESULT[docker_big_change]}"
printf '%-44s %7sMiB %7sMiB %12s\n' "(e) peak RSS, cold build (kiln: time -v)" \
  "$(mib "${RESULT[kiln_rss]}")" "$(mib "${RESULT[docker_tree]}")" "$(ratio "${RESULT[kiln_rss]}" "${RESULT[docker_tree]}")"
printf '%-44s %7sMiB %7sMiB %12s\n' "(e') peak RSS, cold build, process trees" \
  "$(mib "${RESULT[kiln_tree]}")" "$(mib "${RESULT[docker_tree]}")" "$(ratio "${RESULT[kiln_tree]}" "${RESULT[docker_tree]}")"
echo "(e) BuildKit = summed RSS of dockerd + containerd + runc + build processes, sampled every 0.05 s;"
echo "    dockerd alone at rest after the warm-up: $(mib "$DOCKERD_IDLE_KB") MiB"
echo
echo "ratio cold-build: $(ratio "${RESULT[kiln_cold]}" "${RESULT[docker_cold]}") (kiln ${RESULT[kiln_cold]}s, BuildKit ${RESULT[docker_cold]}s)"
echo "ratio noop-rebuild: $(ratio "${RESULT[kiln_noop]}" "${RESULT[docker_noop]}") (kiln ${RESULT[kiln_noop]}s, BuildKit ${RESULT[docker_noop]}s)"
echo "ratio noop-rebuild-20k-files: $(ratio "${RESULT[kiln_big_noop]}" "${RESULT[docker_big_noop]}") (kiln ${RESULT[kiln_big_noop]}s, BuildKit ${RESULT[docker_big_noop]}s)"
echo "ratio one-file-changed-20k-files: $(ratio "${RESULT[kiln_big_change]}" "${RESULT[docker_big_change]}") (kiln ${RESULT[kiln_big_change]}s, BuildKit ${RESULT[docker_big_change]}s)"
echo "ratio peak-memory: $(ratio "${RESULT[kiln_rss]}" "${RESULT[docker_tree]}") (kiln $(mib "${RESULT[kiln_rss]}") MiB max RSS, BuildKit $(mib "${RESULT[docker_tree]}") MiB dockerd tree)"
