#!/usr/bin/env python3
"""Checks every scenario in scenarios/ against scenarios/schema.json (JSON Schema 2020-12), and that the
schema rejects a few malformed scenarios the loader rejects too."""
import copy
import json
import pathlib
import sys

import jsonschema

root = pathlib.Path(__file__).resolve().parent.parent / "scenarios"
schema = json.loads((root / "schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
failures = 0
scenarios = []
for path in sorted(root.glob("*.json")):
    if path.name == "schema.json":
        continue
    doc = json.loads(path.read_text())
    if doc.get("kind") == "drill":
        continue
    scenarios.append(doc)
    errors = list(validator.iter_errors(doc))
    for e in errors:
        print(f"{path.name}: {e.json_path}: {e.message}")
    failures += len(errors)
    print(f"{path.name}: {'ok' if not errors else 'INVALID'}")

base = scenarios[0]
bad = {
    "unknown top-level key": lambda d: d.update(colour="red"),
    "unknown executor": lambda d: d["load"].update(executor="constant-rate"),
    "duration without unit": lambda d: d["load"].update(duration="30"),
    "request path without /": lambda d: d["requests"][0].update(path="api"),
    "check testing two things": lambda d: d["requests"][0]["checks"][0].update(json="$.a"),
    "unknown threshold metric": lambda d: d["thresholds"].update(http_req_duraton=["p(95)<1"]),
}
# Forms the loader accepts (it reads numbers and booleans from strings, expands ${VAR} before validating) must
# validate against the schema too, or editors flag valid files. Each is also given to the built loader when the
# binary exists, so the list cannot drift from what the loader really accepts.
def setting(path, value):
    def change(d):
        node = d
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return change

good = {
    "rate as a string": setting(["load", "rate"], "200"),
    "rate from a variable": setting(["load", "rate"], "${RATE:-200}"),
    "VUs from a variable": setting(["load", "preAllocatedVUs"], "${VUS-20}"),
    "order from a variable": setting(["data", "symbol"], {"values": ["AAPL"], "order": "${ORDER:-random}"}),
    "errorStatus": setting(["transport", "mock", "errorStatus"], 500),
    "errorStatus from a variable": setting(["transport", "mock", "errorStatus"], "${ERR:-500}"),
    "errorRate as a string": setting(["transport", "mock", "errorRate"], "0.05"),
    "insecureSkipVerify": setting(["http", "insecureSkipVerify"], True),
    "insecureSkipVerify from a variable": setting(["http", "insecureSkipVerify"], "${INSECURE:-false}"),
    "a status list check": lambda d: d["requests"][0]["checks"].__setitem__(0, {"status": [200, 204]}),
    "abortOnFail object form": setting(
        ["thresholds", "http_req_failed"], [{"threshold": "rate<0.01", "abortOnFail": "true", "delayAbortEval": "5s"}]
    ),
}
binary = pathlib.Path(__file__).resolve().parent.parent / ".build" / "debug" / "preflight"
accepted = 0
for name, change in good.items():
    doc = copy.deepcopy(base)
    change(doc)
    errors = list(validator.iter_errors(doc))
    if errors:
        print(f"schema rejects a scenario the loader accepts ({name}): {errors[0].json_path}: {errors[0].message}")
        failures += 1
        continue
    if binary.exists():
        import subprocess
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=root, delete=False) as f:
            json.dump(doc, f)
        try:
            r = subprocess.run([str(binary), "validate", f.name], capture_output=True, text=True)
        finally:
            pathlib.Path(f.name).unlink()
        if r.returncode != 0:
            print(f"the loader rejects a variant the check expects it to accept ({name}): {r.stderr.strip()}")
            failures += 1
            continue
    accepted += 1
print(f"{accepted} of {len(good)} loader-accepted variants accepted by the schema"
      + ("" if binary.exists() else " (loader not built: schema side only)"))

rejected = 0
for name, change in bad.items():
    doc = copy.deepcopy(base)
    change(doc)
    if validator.is_valid(doc):
        print(f"schema accepts a malformed scenario: {name}")
        failures += 1
    else:
        rejected += 1
print(f"{rejected} of {len(bad)} malformed variants rejected")
sys.exit(1 if failures else 0)
