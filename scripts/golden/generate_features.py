#!/usr/bin/env python3
"""Golden vectors for MarketData's quant features, computed with the reference libraries themselves:
TA-Lib (PyPI `ta-lib`, whose wheels bundle the C library) for MOM, RSI, SMA and EMA, and empyrical
(`empyrical-reloaded`) for annual volatility and max drawdown; returns and VWAP with numpy.

    python3 -m venv /tmp/golden && /tmp/golden/bin/pip install ta-lib==0.8.2 empyrical-reloaded numpy pandas
    /tmp/golden/bin/python scripts/golden/generate_features.py > Tests/MarketDataTests/Fixtures/features_golden.json

The features are defined over a symbol's most recent 504 bars; every `checks` entry uses the first `count` bars
of its series as the stored history.
"""
import datetime
import json
import math
import sys

import empyrical
import numpy as np
import talib

WINDOW = 504


def weekdays(start, n, skip=()):
    day, out = datetime.date.fromisoformat(start), []
    while len(out) < n:
        if day.weekday() < 5 and day.isoformat() not in skip:
            out.append(day.isoformat())
        day += datetime.timedelta(days=1)
    return out


def random_walk(n, seed, start="2023-01-02", skip=()):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n)))
    bars = []
    for date, c in zip(weekdays(start, n, skip), close):
        o = c * (1 + rng.normal(0, 0.004))
        hi = max(o, c) * (1 + abs(rng.normal(0, 0.006)))
        lo = min(o, c) * (1 - abs(rng.normal(0, 0.006)))
        bars.append({"date": date, "open": round(o, 4), "high": round(hi, 4), "low": round(lo, 4),
                     "close": round(c, 4), "volume": float(int(rng.integers(100_000, 5_000_000)))})
    return bars


def value(x):
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def last(series):
    return value(series[-1]) if len(series) else None


def features(history):
    bars = history[-WINDOW:]
    c = np.array([b["close"] for b in bars], dtype=float)
    r = c[1:] / c[:-1] - 1
    out = {}
    for n in (1, 5, 21, 63, 252):
        out[f"return_{n}d"] = value(c[-1] / c[-1 - n] - 1) if len(c) > n else None
    for n in (21, 63):
        out[f"volatility_{n}d"] = value(empyrical.annual_volatility(r[-n:])) if len(r) >= n else None
    out["momentum_10"] = last(talib.MOM(c, 10))
    out["rsi_14"] = last(talib.RSI(c, 14))
    for n in (20, 50, 200):
        out[f"sma_{n}"] = last(talib.SMA(c, n))
    for n in (12, 26):
        out[f"ema_{n}"] = last(talib.EMA(c, n))
    out["max_drawdown_252d"] = value(empyrical.max_drawdown(r[-252:])) if len(r) >= 252 else None
    if len(bars) >= 20:
        tail = bars[-20:]
        volume = sum(b["volume"] for b in tail)
        pv = sum((b["high"] + b["low"] + b["close"]) / 3 * b["volume"] for b in tail)
        out["vwap_20"] = value(pv / volume) if volume > 0 else None
    else:
        out["vwap_20"] = None
    return out


def series(name, bars, counts):
    return {"name": name, "bars": bars,
            "checks": [{"count": k, "expected": features(bars[:k])} for k in counts]}


walk = random_walk(700, seed=20261129)
flat = [{"date": d, "open": 100.0, "high": 100.0, "low": 100.0, "close": 100.0, "volume": 1000.0}
        for d in weekdays("2024-01-01", 300)]
gappy = random_walk(260, seed=7, skip={"2024-03-29", "2024-05-27", "2024-07-04"}, start="2024-01-02")
quiet = random_walk(40, seed=11)
for b in quiet[-20:]:
    b["volume"] = 0.0

doc = {
    "generator": "scripts/golden/generate_features.py",
    "libraries": {"ta-lib": talib.__version__, "empyrical": empyrical.__version__, "numpy": np.__version__},
    "window": WINDOW,
    "series": [
        series("random-walk", walk, [1, 2, 6, 10, 11, 12, 14, 15, 16, 20, 21, 22, 26, 27, 50, 63, 64, 200, 252,
                                     253, 254, 300, 504, 505, 700]),
        series("flat", flat, [1, 15, 16, 300]),
        series("gaps", gappy, [260]),
        series("zero-volume", quiet, [40]),
    ],
}
json.dump(doc, sys.stdout, indent=1, sort_keys=True)
sys.stdout.write("\n")
