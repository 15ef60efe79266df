#!/usr/bin/env bash
# HTTP/2 benchmark: preflight (http.version "2") vs h2load against the same nginx (one worker process, HTTP/2 on a
# TLS listener with a self-signed certificate this script makes), same connections × streams, same duration,
# interleaved rounds. Prints req/s of each, CPU µs per request, and the ratios (#28: preflight ≥ 0.7× h2load's
# req/s, CPU per request within 2×).
#
#   scripts/bench/h2.sh [seconds=10] [connections=2] [streams=32] [rounds=3]
#
# preflight runs connections event loops with one connection each and connections × streams VUs (a VU waits for
# its answer, so that many streams are in flight); h2load runs one thread with -c connections -m streams.
# Needs nginx, openssl and h2load (Debian nghttp2-client); installs what is missing. Release build. Traffic goes
# to 127.0.0.1 only; every run is bounded by the duration.
set -euo pipefail
DUR=${1:-10}
CONNS=${2:-2}
STREAMS=${3:-32}
ROUNDS=${4:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need h2load || ! need openssl || [ ! -x /usr/bin/time ]; then
    apt-get update -qq && apt-get install -y -qq nginx-light nghttp2-client openssl time >/dev/null
fi
swift build -c release --product preflight >/dev/null
PREFLIGHT="$ROOT/.build/release/preflight"

# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
PORT=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log crit;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    http2_max_concurrent_streams 128;
    server {
        listen 127.0.0.1:$PORT ssl http2;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        root $WORK/www;
        location / { default_type application/json; }
    }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK"
sleep 0.5
URL="https://127.0.0.1:$PORT/features.json"

cat > "$WORK/scenario.json" <<JSON
{ "name": "bench-h2", "target": { "baseURL": "https://127.0.0.1:$PORT" },
  "http": { "version": "2", "connections": 1, "insecureSkipVerify": true },
  "requests": [ { "name": "features", "path": "/features.json" } ],
  "load": { "executor": "constant-vus", "vus": $((CONNS * STREAMS)), "duration": "${DUR}s", "gracefulStop": "5s" } }
JSON


declare -a P H PC HC
for r in $(seq 1 "$ROUNDS"); do
    rm -rf "$WORK/reports"
    c=$(cpu_of "$PREFLIGHT" run "$WORK/scenario.json" --out "$WORK/reports" --quiet --event-loops "$CONNS")
    grep -E "verdict|✗|warning" "$WORK/out" >&2 || true
    read -r rps n proto < <(python3 -c "
import json,glob
r=json.load(open(sorted(glob.glob('$WORK/reports/*/report.json'))[-1]))
v=r['metrics']['http_reqs']['values']; print(v['rate'], v['count'], r['requests'][0].get('protocol'))")
    [ "$proto" = "HTTP/2" ] || { echo "preflight spoke $proto, not HTTP/2" >&2; exit 1; }
    P+=("$rps"); PC+=("$(python3 -c "print($c/$n*10000)")")
    c=$(cpu_of h2load -D "$DUR" -c "$CONNS" -m "$STREAMS" -t 1 "$URL")
    rps=$(awk '/^finished in/ {for (i=1;i<=NF;i++) if ($(i+1) ~ /^req\/s/) print $i}' "$WORK/out" | tr -d ',')
    n=$(awk '/^requests:/ {print $8}' "$WORK/out")
    H+=("$rps"); HC+=("$(python3 -c "print($c/$n*10000)")")
    echo "round $r: preflight ${P[-1]} req/s, h2load ${H[-1]} req/s" >&2
done

python3 - "$CONNS" "$STREAMS" "$DUR" "${P[*]}" "${H[*]}" "${PC[*]}" "${HC[*]}" <<'PY'
import statistics, sys
conns, streams, dur = sys.argv[1:4]
p, h, pc, hc = ([float(x) for x in a.split()] for a in sys.argv[4:8])
med = statistics.median
print(f"nginx static JSON over HTTP/2 + TLS on 127.0.0.1, {conns} connections x {streams} streams, {dur}s per tool, "
      f"{len(p)} interleaved rounds (medians)")
print(f"{'tool':<10}{'req/s':>12}{'range':>22}{'CPU µs/req':>12}")
for name, rps, cpu in [("preflight", p, pc), ("h2load", h, hc)]:
    print(f"{name:<10}{med(rps):>12,.0f}{f'{min(rps):,.0f}–{max(rps):,.0f}':>22}{med(cpu) * 100:>12.1f}")
ratios = [a / b for a, b in zip(p, h)]
print(f"preflight / h2load = {med(p)/med(h):.2f}x req/s (per round {min(ratios):.2f}–{max(ratios):.2f}x)   "
      f"CPU per request preflight / h2load = {med(pc)/med(hc):.2f}x")
PY
