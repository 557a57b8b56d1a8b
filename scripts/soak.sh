#!/usr/bin/env bash
# Runs the robustness soaks at the sizes of the robustness issue, against a
# Bun server and a Deno server, and prints each script's figure table.
#
#   scripts/soak.sh                    # every soak, both server runtimes (about 15 minutes)
#   scripts/soak.sh deno               # one server runtime
#   scripts/soak.sh both fuzz crash    # some soaks
#
# Environment:
#   SOAK_HARNESS=bun|deno   runtime of the load generators (default bun, so the
#                           two server runtimes face the same client)
#   SOAK_TASKSET=CPUS       run everything under `taskset -c CPUS` (e.g. 0 when
#                           another CPU is reserved for something else)
#   SOAK_LOG_DIR=DIR        where the outputs go (default .tmp/soak-DATE)
#
# Loopback only. Each soak starts and stops its own server processes (by PID)
# and is bounded in time (`timeout` below). Exit status: non-zero if any soak
# failed one of its musts.
set -u
cd "$(dirname "$0")/.."

which=${1:-both}
shift || true
soaks=("$@")
[ ${#soaks[@]} -eq 0 ] && soaks=(fuzz idle slowreader crash federation bruteforce history-junk)
case "$which" in
  both) runtimes=(bun deno) ;;
  bun | deno) runtimes=("$which") ;;
  *) echo "usage: $0 [bun|deno|both] [fuzz|idle|slowreader|crash|federation|bruteforce|history-junk ...]" >&2; exit 2 ;;
esac

args_for() {
  case "$1" in
    fuzz) echo "--seconds 60 --connections 50" ;;
    idle) echo "--connections 2000 --ips 20" ;;
    slowreader) echo "--messages 100000 --senders 50" ;;
    crash) echo "--cycles 5 --seconds 6 --writers 20" ;;
    federation) echo "--cycles 3 --seconds 6 --writers 10" ;;
    bruteforce) echo "--attempts 1000 --concurrency 200 --ips 10 --samples 300" ;;
    history-junk) echo "--connections 100 --seconds 30" ;;
    *) echo "unknown soak $1" >&2; return 1 ;;
  esac
}

harness=${SOAK_HARNESS:-bun}
case "$harness" in
  bun) run=(node_modules/.bin/bun) ;;
  deno) run=(node_modules/.bin/deno run -A --quiet) ;;
  *) echo "SOAK_HARNESS: bun or deno" >&2; exit 2 ;;
esac
pin=()
[ -n "${SOAK_TASKSET:-}" ] && pin=(taskset -c "$SOAK_TASKSET")
logdir=${SOAK_LOG_DIR:-.tmp/soak-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$logdir"

status=0
summary=()
for rt in "${runtimes[@]}"; do
  for soak in "${soaks[@]}"; do
    a=$(args_for "$soak") || exit 2
    log="$logdir/$soak-$rt.txt"
    echo "=== $soak on $rt: scripts/soak-$soak.ts --runtime $rt $a"
    started=$(date +%s)
    # shellcheck disable=SC2086
    timeout --signal=TERM --kill-after=30 900 "${pin[@]}" "${run[@]}" "scripts/soak-$soak.ts" --runtime "$rt" $a 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    secs=$(($(date +%s) - started))
    [ "$rc" -ne 0 ] && status=1
    summary+=("$(printf '%-11s %-5s %s (%ss)' "$soak" "$rt" "$([ "$rc" -eq 0 ] && echo PASS || echo "FAIL rc=$rc")" "$secs")")
  done
done
echo
echo "=== summary (logs in $logdir)"
printf '%s\n' "${summary[@]}"
exit $status
