# Shared by the benchmarks (sourced): a work folder removed on exit with the nginx it started, a free loopback
# port, the features-like JSON body nginx serves, and the CPU time of a command.

# WORK: a fresh folder nginx's workers (another user) can read; on exit nginx is stopped and the folder removed.
WORK=$(mktemp -d)
chmod 755 "$WORK"
trap 'kill $(cat "$WORK/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/www" "$WORK/logs"

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The body every tool fetches: the shape of the reference API's features answer (about 500 bytes).
python3 - "$WORK/www/features.json" <<'PY'
import json, sys
body = {"symbol": "AAPL", "asOf": "2026-11-27", "bars": 504,
        "features": {k: 0.123456 for k in ["return_1d", "return_5d", "return_21d", "return_63d", "return_252d",
                     "volatility_21d", "volatility_63d", "momentum_10", "rsi_14", "sma_20", "sma_50", "sma_200",
                     "ema_12", "ema_26", "max_drawdown_252d", "vwap_20"]}}
open(sys.argv[1], "w").write(json.dumps(body))
PY

# CPU seconds (user + system) of a command; its output goes to $WORK/out.
cpu_of() { /usr/bin/time -f '%U %S' -o "$WORK/time" "$@" >"$WORK/out" 2>&1 || true; tail -n 1 "$WORK/time" | awk '{print $1+$2}'; }
