#!/usr/bin/env bash
# The runtimes' own floor: the bench's null relay (no parsing, no store, one
# copy per chunk) written for Bun (scripts/relay-floor-bun.ts) and for Deno
# (scripts/relay-floor-deno.ts), next to the Go null relay that bench-e2e's
# latency target is measured against. Same load generator, same pinning, same
# scenarios as run-anchors.sh; runs interleaved. What a JavaScript server on a
# runtime cannot beat on this machine whatever it does (see BENCHMARKS.md).
# The -sqlite relays also store every chunk in SQLite, one transaction per
# turn, before forwarding it (scripts/relay-floor-store.ts): the least a
# server that stores each message before delivering it pays (no checkpoints,
# no fsyncs; the WAL grows by ~8 KB a message at 5,000 msg/s, in the work dir).
# The -ack relays also answer every chunk with a SOLEC Success frame to its
# sender: one read and two writes a message, the least a server that
# acknowledges each message pays.
#
#   scripts/bench-relay-floor.sh            # REPS=3, scenarios "rate pairs"
#   npm run bench -- floor                  # the same
#   REPS=5 SCENARIOS=rate scripts/bench-relay-floor.sh
#
# Environment (all optional):
#   REPS         runs per (relay, scenario), interleaved          (default 3)
#   SCENARIOS    subset of: rate pairs                            (default both)
#   RELAYS       subset of: relay-go relay-bun relay-deno relay-bun-ack
#                relay-deno-ack relay-bun-sqlite relay-deno-sqlite (default all)
#   DUR          measured seconds per run                         (default 10)
#   SERVER_CPU, HARNESS_CPU  cores to pin to                      (default 1 and 0)
#   SOLEC_BENCH_DIR   the shared bench dir (default: ../shared/bench beside the checkout)
#   SOLEC_BENCH_WORK  work dir (loadgen binary, results)   (default $TMPDIR/solec-bench-floor)
#
# Relays listen on 127.0.0.1 only; each is started for one run and stopped by
# its PID; every load run is bounded (60 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case ${1:-} in
  "") ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "bench-relay-floor: unknown argument $1 (see --help)" >&2; exit 2 ;;
esac
log() { echo "[bench-relay-floor] $*" >&2; }

BENCH_SRC=${SOLEC_BENCH_DIR:-$(dirname "$ROOT")/shared/bench}
[ -d "$BENCH_SRC/loadgen" ] || { log "no loadgen at $BENCH_SRC (set SOLEC_BENCH_DIR)"; exit 2; }
BUN=$ROOT/node_modules/.bin/bun
DENO=$ROOT/node_modules/.bin/deno
for b in "$BUN" "$DENO"; do
  [ -x "$b" ] || { log "missing $b: run npm ci first"; exit 2; }
done
REPS=${REPS:-3}
SCENARIOS=${SCENARIOS:-"rate pairs"}
RELAYS=${RELAYS:-"relay-go relay-bun relay-deno relay-bun-ack relay-deno-ack relay-bun-sqlite relay-deno-sqlite"}
for r in $RELAYS; do
  case $r in
    relay-go | relay-bun | relay-deno | relay-bun-ack | relay-deno-ack | relay-bun-sqlite | relay-deno-sqlite) ;;
    *) log "unknown relay $r in RELAYS"; exit 2 ;;
  esac
done
DUR=${DUR:-10}
SERVER_CPU=${SERVER_CPU:-1}
HARNESS_CPU=${HARNESS_CPU:-0}
WORK=${SOLEC_BENCH_WORK:-${TMPDIR:-/tmp}/solec-bench-floor}
OUT=$WORK/results/floor-$(date -u +%Y-%m-%dT%H%M%SZ).jsonl
mkdir -p "$WORK/bin" "$WORK/results"

LOADGEN=$WORK/bin/loadgen
log "building loadgen"
(cd "$BENCH_SRC" && go build -o "$LOADGEN" ./loadgen)

SRV_PID=""
stop_server() {
  [ -n "$SRV_PID" ] || return 0
  kill "$SRV_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
}
trap 'stop_server; exit 130' INT TERM

# The background case execs taskset, which execs the relay: $! is the relay's own PID (the
# load generator reads its CPU use).
start_relay() {
  local port=$2
  if ss -Hltn "sport = :$port" | grep -q .; then
    log "port $port is taken: not measuring someone else's server"
    return 1
  fi
  case $1 in
    relay-go) exec taskset -c "$SERVER_CPU" "$LOADGEN" -serve-relay "127.0.0.1:$port" -relay-lifetime 2m ;;
    relay-bun) exec taskset -c "$SERVER_CPU" "$BUN" "$ROOT/scripts/relay-floor-bun.ts" "$port" ;;
    relay-deno) exec taskset -c "$SERVER_CPU" "$DENO" run -A "$ROOT/scripts/relay-floor-deno.ts" "$port" ;;
    relay-bun-ack) exec taskset -c "$SERVER_CPU" "$BUN" "$ROOT/scripts/relay-floor-bun.ts" "$port" --ack ;;
    relay-deno-ack) exec taskset -c "$SERVER_CPU" "$DENO" run -A "$ROOT/scripts/relay-floor-deno.ts" "$port" --ack ;;
    relay-bun-sqlite) exec taskset -c "$SERVER_CPU" "$BUN" "$ROOT/scripts/relay-floor-bun.ts" "$port" "$WORK/floor.db" ;;
    relay-deno-sqlite) exec taskset -c "$SERVER_CPU" "$DENO" run -A "$ROOT/scripts/relay-floor-deno.ts" "$port" "$WORK/floor.db" ;;
  esac >"$WORK/$1.log" 2>&1 &
  SRV_PID=$!
  for _ in $(seq 100); do
    ss -Hltn "sport = :$port" | grep -q . && return 0
    sleep 0.1
  done
  log "$1 did not start (log: $WORK/$1.log)"
  stop_server
  return 1
}

args_for() {
  case $1 in
    pairs) echo "-scenario pairs -p 50 -w 128 -d ${DUR}s -warmup 2s" ;;
    rate) echo "-scenario pairs -p 50 -rate 5000 -d ${DUR}s -warmup 2s" ;;
    *) log "unknown scenario $1"; exit 2 ;;
  esac
}

log "results -> $OUT (reps $REPS, scenarios: $SCENARIOS, relay on CPU $SERVER_CPU, harness on CPU $HARNESS_CPU)"
for rep in $(seq "$REPS"); do
  for s in $SCENARIOS; do
    port=17100
    for t in $RELAYS; do
      port=$((port + 1))
      start_relay "$t" "$port" || continue
      sleep 0.3
      log "rep $rep: $t $s"
      # shellcheck disable=SC2046
      timeout 60 taskset -c "$HARNESS_CPU" "$LOADGEN" -proto relay -addr "127.0.0.1:$port" -label "$t" \
        -server-pid "$SRV_PID" -max-time 58s $(args_for "$s") -out "$OUT" >/dev/null || log "$t $s failed"
      stop_server
    done
  done
done
rm -f "$WORK"/floor.db*
"$LOADGEN" -summarize -ref relay-go "$OUT" | tee "${OUT%.jsonl}.md"
