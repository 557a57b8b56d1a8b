#!/usr/bin/env bash
# End-to-end benchmark: solec on Bun and Deno next to the anchor servers
# (null relay, ngIRCd, Mosquitto), driven by the shared Go load generator
# (../shared/bench: loadgen + run-anchors.sh) over loopback.
#
#   scripts/bench-e2e.sh                    # SQLite store (default), REPS=3
#   npm run bench -- e2e                    # the same
#   MEMORY=1 scripts/bench-e2e.sh           # memory store (also: --memory)
#   MEMORY=both REPS=1 scripts/bench-e2e.sh # both stores (also: --both)
#   SCENARIOS="pairs rate" TARGETS="ngircd solec-bun" scripts/bench-e2e.sh
#
# Steps: copy ../shared/bench to a writable work dir (run-anchors.sh writes
# beside itself); provision ONE SQLite store with `solec user import` and
# `solec contact import` (domain localhost, password pw: s0..s49 + r0..r49
# with s<i>/r<i> mutual contacts, m0..m99, c0..c99; scrypt cost 10, see
# BENCHMARKS.md); write one wrapper per solec variant that copies that store
# to a fresh file and execs the runtime (so run-anchors.sh sees the server's
# PID); run run-anchors.sh; print its tables, the same against ngIRCd, and
# the issue's targets (scripts/bench-e2e-report.ts).
#
# Environment (all optional):
#   REPS         runs per (target, scenario), interleaved        (default 3)
#   SCENARIOS    subset of: pairs rate fanout conns              (default all four)
#   MEMORY       0 = SQLite variants, 1 = memory variants, both  (default 0)
#   TARGETS      override, any of: relay ngircd mosquitto ergo solec-bun solec-deno
#                solec-bun-mem solec-deno-mem                    (default: anchors + MEMORY's)
#   DUR, PIN, SERVER_CPU, HARNESS_CPU, SKIP_INSTALL, SOLEC_CONN_USERS
#                passed through to run-anchors.sh (see its README)
#   SOLEC_BENCH_DIR   the shared bench dir      (default: ../shared/bench beside the checkout)
#   SOLEC_BENCH_WORK  work dir (copy, store, wrappers, results) (default $TMPDIR/solec-bench-e2e)
#   OUT          JSON-lines results file        (default $SOLEC_BENCH_WORK/results/e2e-<UTC time>.jsonl)
#   SERVE_FLAGS  extra flags for every solec server (e.g. "--max-payload 16384")
#
# Servers listen on 127.0.0.1 only; run-anchors.sh starts and stops each one by
# its own PID and bounds every run (60 s start, 60 s loadgen); the whole run is
# bounded too (BENCH_TIMEOUT seconds, default from the number of runs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MEMORY=${MEMORY:-0}
for arg in "$@"; do
  case $arg in
    --memory) MEMORY=1 ;;
    --both) MEMORY=both ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-e2e: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "[bench-e2e] $*" >&2; }

BENCH_SRC=${SOLEC_BENCH_DIR:-$(dirname "$ROOT")/shared/bench}
if [ ! -f "$BENCH_SRC/run-anchors.sh" ] || [ ! -d "$BENCH_SRC/loadgen" ]; then
  log "no bench at $BENCH_SRC (expected ../shared/bench beside the checkout; set SOLEC_BENCH_DIR)"
  exit 2
fi
BUN=$ROOT/node_modules/.bin/bun
DENO=$ROOT/node_modules/.bin/deno
for b in "$BUN" "$DENO"; do
  [ -x "$b" ] || { log "missing $b: run npm ci first"; exit 2; }
done

case $MEMORY in
  0) SOLEC_TARGETS="solec-bun solec-deno" ;;
  1) SOLEC_TARGETS="solec-bun-mem solec-deno-mem" ;;
  both) SOLEC_TARGETS="solec-bun solec-deno solec-bun-mem solec-deno-mem" ;;
  *) log "MEMORY must be 0, 1 or both, not $MEMORY"; exit 2 ;;
esac
TARGETS=${TARGETS:-"relay ngircd mosquitto $SOLEC_TARGETS"}
SCENARIOS=${SCENARIOS:-"pairs rate fanout conns"}
REPS=${REPS:-3}
SOLEC_PORT=19999

WORK=${SOLEC_BENCH_WORK:-${TMPDIR:-/tmp}/solec-bench-e2e}
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT=${OUT:-$WORK/results/e2e-$STAMP.jsonl}
STORE_DIR=$WORK/store
RUN_DIR=$WORK/run
mkdir -p "$WORK" "$(dirname "$OUT")"

# ---------- a writable copy of the bench (run-anchors.sh writes beside itself) ----------
rm -rf "$WORK/bench"
cp -R "$BENCH_SRC" "$WORK/bench"
chmod -R u+w "$WORK/bench"

# ---------- provision one store ----------
rm -rf "$STORE_DIR" "$RUN_DIR"
mkdir -p "$STORE_DIR" "$RUN_DIR"
DB=$STORE_DIR/provisioned.db
KEY=$STORE_DIR/solec.key
solec() { (cd "$ROOT" && env -u SOLEC_CONFIG "$BUN" src/main/bun.ts "$@" \
  --store "sqlite:$DB" --key "$KEY" --domain localhost --password-cost 10); }
log "provisioning $DB"
started=$(date +%s%N)
solec key generate >/dev/null
{
  echo "# pairs and rate: senders and receivers"
  for i in $(seq 0 49); do echo "s$i pw"; echo "r$i pw"; done
  echo "# fanout: channel members"
  for i in $(seq 0 99); do echo "m$i pw"; done
  echo "# conns: the 5000 connections share these round-robin"
  for i in $(seq 0 99); do echo "c$i pw"; done
} | solec user import >&2
for i in $(seq 0 49); do echo "s$i r$i"; done | solec contact import >&2
log "provisioned in $((($(date +%s%N) - started) / 1000000)) ms"

# ---------- one wrapper per solec variant: fresh copy of the store, exec the runtime ----------
# Limits that would refuse the load are off, as the anchors' are (ngIRCd: no
# penalties, no per-IP limit): connection caps, the per-connection request rate.
# --password-cost 10 matches the provisioned hashes (else the first login of
# each account re-hashes at the default cost, ln 15, on the server's core).
COMMON_FLAGS="--domain localhost --host 127.0.0.1 --port $SOLEC_PORT --http-port off \
--key $KEY --log-level warn --password-cost 10 \
--max-connections 0 --max-connections-per-ip 0 --rate-limit 0 ${SERVE_FLAGS:-}"
wrapper() { # $1 = variant, $2 = exec line (uses $copy)
  cat >"$RUN_DIR/$1.sh" <<EOF
#!/usr/bin/env bash
# Generated by scripts/bench-e2e.sh: start solec ($1) on a fresh copy of the provisioned store.
set -e
for v in \$(compgen -e); do [[ \$v == SOLEC_* ]] && unset "\$v"; done
# Every earlier run's copy (run-anchors.sh runs one server at a time, so theirs have
# exited): deleted, their dirty pages are never written back. Then the copy is made
# and flushed: a kernel writing back hundreds of MB of an earlier run's WAL can stall
# this run's fsyncs for seconds (measured on this VM: one fsync took 2.2 s during a
# 1.5 GB write-back), and a sender's acknowledgements wait for those fsyncs.
rm -f "$RUN_DIR"/*.db*
copy="$RUN_DIR/$1.\$\$.db"
cp "$DB" "\$copy"
sync
cd "$ROOT"
# run-anchors.sh truncates its log per run: keep every run's server output here.
echo "=== \$(date -u +%FT%TZ) pid \$\$" >>"$RUN_DIR/$1.log"
exec $2 >>"$RUN_DIR/$1.log" 2>&1
EOF
  chmod +x "$RUN_DIR/$1.sh"
}
# Bun's environment as `bun run serve` sets it (README, "Commands"); Deno's below as `deno task serve` does.
BUN_ENV="env MIMALLOC_PURGE_HOLES_MIN_INTERVAL=1000"
wrapper solec-bun "$BUN_ENV node_modules/.bin/bun src/main/bun.ts serve --store \"sqlite:\$copy\" $COMMON_FLAGS"
wrapper solec-deno "env MALLOC_ARENA_MAX=1 node_modules/.bin/deno run -A --v8-flags=--max-semi-space-size=4,--expose-gc src/main/deno.ts serve --store \"sqlite:\$copy\" $COMMON_FLAGS"
wrapper solec-bun-mem \
  "$BUN_ENV node_modules/.bin/bun scripts/bench-serve-memory-bun.ts --from \"sqlite:\$copy\" $COMMON_FLAGS"
wrapper solec-deno-mem \
  "env MALLOC_ARENA_MAX=1 node_modules/.bin/deno run -A --v8-flags=--max-semi-space-size=4,--expose-gc scripts/bench-serve-memory-deno.ts --from \"sqlite:\$copy\" $COMMON_FLAGS"
export CMD_solec_bun=$RUN_DIR/solec-bun.sh CMD_solec_deno=$RUN_DIR/solec-deno.sh
export CMD_solec_bun_mem=$RUN_DIR/solec-bun-mem.sh CMD_solec_deno_mem=$RUN_DIR/solec-deno-mem.sh

# ---------- run ----------
if ss -Hltn "sport = :$SOLEC_PORT" 2>/dev/null | grep -q .; then
  log "port $SOLEC_PORT is in use: stop whatever listens there first"
  exit 1
fi
nt=$(wc -w <<<"$TARGETS")
ns=$(wc -w <<<"$SCENARIOS")
BENCH_TIMEOUT=${BENCH_TIMEOUT:-$((REPS * nt * ns * 140 + 600))}
log "targets: $TARGETS; scenarios: $SCENARIOS; reps: $REPS; results: $OUT"
log "bounded by $BENCH_TIMEOUT s; server logs in /tmp/solec-bench/<target>.log (solec: every run's in $RUN_DIR/<target>.log)"
status=0
TARGETS=$TARGETS SCENARIOS=$SCENARIOS REPS=$REPS OUT=$OUT SOLEC_ADDR=127.0.0.1:$SOLEC_PORT \
  timeout "$BENCH_TIMEOUT" bash "$WORK/bench/run-anchors.sh" || status=$?
[ "$status" = 0 ] || log "run-anchors.sh exited with $status"
rm -rf "$RUN_DIR"/*.db*

# ---------- report ----------
LOADGEN=$WORK/bench/bin/loadgen
REPORT=${OUT%.jsonl}-report.md
if [ -s "$OUT" ] && [ -x "$LOADGEN" ]; then
  {
    echo "# solec end-to-end benchmark, $STAMP"
    echo
    echo "Results: $OUT"
    echo
    echo "## Against the null relay (ratio column: / relay)"
    "$LOADGEN" -summarize -ref relay "$OUT"
    echo
    echo "## Against ngIRCd (ratio column: / ngircd)"
    "$LOADGEN" -summarize -ref ngircd "$OUT"
    echo
    (cd "$ROOT" && "$BUN" scripts/bench-e2e-report.ts "$OUT")
  } >"$REPORT"
  echo
  sed -n '/^## Against ngIRCd/,$p' "$REPORT"
  log "report: $REPORT"
else
  log "no results in $OUT"
  status=1
fi
exit "$status"
