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
