#!/usr/bin/env bash
# Smoke-tests compiled solec binaries (default: dist/solec-bun dist/solec-deno).
#
# For each binary, in a fresh temp dir with its own SQLite store: creates two
# users and makes them contacts (the binary's own CLI), starts `serve` on free
# loopback ports, checks /healthz and /readyz, has alice send bob a message
# with the binary's `chat` client and bob read it back from history, checks
# /metrics counted it, then sends SIGTERM and expects exit 0. Prints the
# binary's size and its start-up time (launch to the "listening" log line).
#
# Usage: bash scripts/smoke-binaries.sh [BINARY...]
# Only processes this script started are signalled.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then set -- dist/solec-bun dist/solec-deno; fi

DOMAIN=smoke.test
SERVE_PID=""
WORK=""

cleanup() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -KILL "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
  SERVE_PID=""
  WORK=""
}
trap cleanup EXIT

fail() {
  echo "smoke: FAIL: $*" >&2
  if [ -n "$WORK" ] && [ -f "$WORK/serve.log" ]; then
    echo "--- serve log ---" >&2
    cat "$WORK/serve.log" >&2
  fi
  exit 1
}

now_ms() { date +%s%3N; }

# GET a URL; prints the body, fails on a non-2xx status. curl when there is
# one, else Node's fetch (npm implies Node >= 18).
http_get() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 5 "$1"
  else
    node -e '
      fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then(async (r) => {
        process.stdout.write(await r.text());
        process.exit(r.ok ? 0 : 1);
      }, (e) => { console.error(String(e)); process.exit(1); });
    ' "$1"
  fi
}

# The "port" of the first log line whose msg is $1.
log_port() {
  grep -m1 "\"msg\":\"$1\"" "$WORK/serve.log" | sed -n 's/.*"port":\([0-9][0-9]*\).*/\1/p'
}

smoke() {
  local bin="$1"
  [ -x "$bin" ] || fail "$bin: not an executable (run npm run compile first)"
  local name size
  name=$(basename "$bin")
  size=$(stat -c %s "$bin")
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/solec-smoke-XXXXXX")
  local common=(--store "sqlite:$WORK/solec.db" --key "$WORK/solec.key" --domain "$DOMAIN"
    --password-cost 10)

  printf 'pw-alice\n' | "$bin" user add alice --password-stdin "${common[@]}" >/dev/null ||
    fail "$name: user add alice"
  printf 'pw-bob\n' | "$bin" user add bob --password-stdin "${common[@]}" >/dev/null ||
    fail "$name: user add bob"
  "$bin" contact add alice bob "${common[@]}" >/dev/null || fail "$name: contact add"

  local launched
  launched=$(now_ms)
  "$bin" serve "${common[@]}" --host 127.0.0.1 --port 0 --http-host 127.0.0.1 --http-port 0 \
    2>"$WORK/serve.log" &
  SERVE_PID=$!
  local waited=0
  until grep -q '"msg":"http listening"' "$WORK/serve.log"; do
    kill -0 "$SERVE_PID" 2>/dev/null || fail "$name: serve exited during start-up"
    [ "$waited" -lt 3000 ] || fail "$name: serve did not start within 30 s"
    sleep 0.01
    waited=$((waited + 1))
  done
  local port http listened_at startup_ms
  port=$(log_port listening)
  http=$(log_port "http listening")
  [ -n "$port" ] && [ -n "$http" ] || fail "$name: no ports in the log"
  listened_at=$(grep -m1 '"msg":"listening"' "$WORK/serve.log" |
    sed -n 's/.*"time":"\([^"]*\)".*/\1/p')
  startup_ms=$(($(date -d "$listened_at" +%s%3N) - launched))

  http_get "http://127.0.0.1:$http/healthz" >/dev/null || fail "$name: /healthz"
  http_get "http://127.0.0.1:$http/readyz" >/dev/null || fail "$name: /readyz"

  local text="hello from the $name smoke test"
  printf 'pw-alice\n/msg bob@%s %s\n/quit\n' "$DOMAIN" "$text" |
    "$bin" chat "alice@$DOMAIN" --server "127.0.0.1:$port" --password-stdin >"$WORK/alice.out" ||
    fail "$name: alice's chat session: $(cat "$WORK/alice.out")"
  printf 'pw-bob\n/history alice@%s\n/quit\n' "$DOMAIN" |
    "$bin" chat "bob@$DOMAIN" --server "127.0.0.1:$port" --password-stdin >"$WORK/bob.out" ||
    fail "$name: bob's chat session: $(cat "$WORK/bob.out")"
  grep -q "<alice@$DOMAIN> $text" "$WORK/bob.out" ||
    fail "$name: bob did not get the message: $(cat "$WORK/bob.out")"

  http_get "http://127.0.0.1:$http/metrics" >"$WORK/metrics.txt" || fail "$name: /metrics"
  grep -q '^solec_messages_total{route="local"} 1$' "$WORK/metrics.txt" ||
    fail "$name: /metrics did not count the message"

  local stop_started code=0
  stop_started=$(now_ms)
  kill -TERM "$SERVE_PID"
  wait "$SERVE_PID" || code=$?
  SERVE_PID=""
  [ "$code" -eq 0 ] || fail "$name: exit code $code after SIGTERM"
  grep -q '"msg":"stopped"' "$WORK/serve.log" || fail "$name: no \"stopped\" log line"
  # The store's flusher thread is a second entry point inside the binary.
  if grep -q "flusher thread failed" "$WORK/serve.log"; then
    fail "$name: the SQLite flusher thread did not run"
  fi

  awk -v n="$name" -v s="$size" -v t="$startup_ms" -v d="$(($(now_ms) - stop_started))" \
    'BEGIN { printf "smoke: %s OK: size %.1f MiB, start-up %d ms (launch to listening), stop %d ms\n", n, s / 1048576, t, d }'
  cleanup
}

for bin in "$@"; do smoke "$bin"; done
