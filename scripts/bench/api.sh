#!/usr/bin/env bash
# Reference API throughput: wrk against `preflight serve` (release) on 127.0.0.1, for
#   cached:   one hot symbol, every request a cache hit;
#   uncached: 500 symbols round-robin with the cache disabled (database read + computation each time).
#
#   scripts/bench/api.sh [seconds=10] [connections=64] [rounds=3]
#
# Rounds alternate cached and uncached; the summary gives every round and the range (min–max), not the best.
# Needs wrk (Debian; installed when missing). Traffic stays on 127.0.0.1; each run is bounded by the duration.
set -euo pipefail
DUR=${1:-10}
CONNS=${2:-64}
ROUNDS=${3:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
swift build -c release --product preflight >/dev/null
BIN="$ROOT/.build/release/preflight"
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done; echo "server on $1 not ready" >&2; exit 1; }

SYMBOLS=$(python3 -c 'print(",".join("S%03d" % i for i in range(500)))')

P1=$(port)
"$BIN" serve --port "$P1" --db "$WORK/cached.sqlite" --symbols AAPL --demo-data >"$WORK/cached.log" 2>&1 &
PIDS+=($!)
P2=$(port)
"$BIN" serve --port "$P2" --db "$WORK/uncached.sqlite" --symbols "$SYMBOLS" --demo-data --cache-size 0 >"$WORK/uncached.log" 2>&1 &
PIDS+=($!)
wait_ready "$P1"
wait_ready "$P2"

cat >"$WORK/roundrobin.lua" <<'LUA'
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", string.format("/api/v1/features/quant/S%03d", i % 500))
LUA
echo "end" >>"$WORK/roundrobin.lua"

curl -s "http://127.0.0.1:$P1/api/v1/features/quant/AAPL" >/dev/null  # warm the cache
for r in $(seq 1 "$ROUNDS"); do
    wrk -t2 -c"$CONNS" -d"${DUR}s" --latency "http://127.0.0.1:$P1/api/v1/features/quant/AAPL" >"$WORK/cached-$r.txt"
    wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -s "$WORK/roundrobin.lua" "http://127.0.0.1:$P2/" >"$WORK/uncached-$r.txt"
done

summary() {
    local rps p50 p99 non2xx
    rps=$(awk '/Requests\/sec/ {print $2}' "$1")
    p50=$(awk '$1 == "50%" {print $2}' "$1")
    p99=$(awk '$1 == "99%" {print $2}' "$1")
    non2xx=$(awk '/Non-2xx/ {print $5}' "$1")
    printf '%-9s round %s %10s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$2" "$3" "$rps" "$p50" "$p99" "${non2xx:-0}"
}
range() {
    cat "$WORK"/"$1"-*.txt | awk '/Requests\/sec/ {print $2}' | sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%s range %s – %s req/s over %d rounds\n", "'"$1"'", lo, hi, NR}'
}
echo "reference API on 127.0.0.1, wrk -t2 -c$CONNS -d${DUR}s, release build, $(nproc) cores"
for kind in cached uncached; do
    for r in $(seq 1 "$ROUNDS"); do summary "$WORK/$kind-$r.txt" "$kind" "$r"; done
    range "$kind"
done
