#!/usr/bin/env python3
"""Checks every scenario in scenarios/ against scenarios/schema.json and every drill against
scenarios/drill.schema.json (JSON Schema 2020-12), that each schema rejects a few malformed files the loader rejects
too and accepts forms the loader accepts, and that the parts the drill schema copies from the scenario schema have
not drifted."""
import copy
import json
import pathlib
import subprocess
import sys
import tempfile

import jsonschema

root = pathlib.Path(__file__).resolve().parent.parent / "scenarios"
binary = pathlib.Path(__file__).resolve().parent.parent / ".build" / "debug" / "preflight"
failures = 0


def load_schema(name):
    schema = json.loads((root / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema, jsonschema.Draft202012Validator(schema)


def shipped(validator, schema_name, drills):
    """Validates the shipped files of one kind; returns them."""
    global failures
    docs = []
    for path in sorted(root.glob("*.json")):
        if path.name.endswith("schema.json"):
            continue
        doc = json.loads(path.read_text())
        if (doc.get("kind") == "drill") != drills:
            continue
        docs.append(doc)
        errors = list(validator.iter_errors(doc))
        for e in errors:
            print(f"{path.name}: {e.json_path}: {e.message}")
        failures += len(errors)
        print(f"{path.name}: {'ok' if not errors else 'INVALID'}" + (f" ({schema_name})" if drills else ""))
    return docs


def loader_exit(doc):
    """The built loader's exit status for `preflight validate` of doc, or None when it is not built."""
    if not binary.exists():
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=root, delete=False) as f:
        json.dump(doc, f)
    try:
        return subprocess.run([str(binary), "validate", f.name], capture_output=True, text=True).returncode
    finally:
        pathlib.Path(f.name).unlink()


def variants(validator, base, good, bad, kind):
    """Forms the loader accepts must validate too (or editors flag valid files), and malformed ones must not. Each
    is also given to the built loader when the binary exists, so the lists cannot drift from what it really does."""
    global failures
    accepted = 0
    for name, change in good.items():
        doc = copy.deepcopy(base)
        change(doc)
        errors = list(validator.iter_errors(doc))
        if errors:
            print(f"schema rejects a {kind} the loader accepts ({name}): {errors[0].json_path}: {errors[0].message}")
            failures += 1
            continue
        status = loader_exit(doc)
        if status not in (None, 0):
            print(f"the loader rejects a {kind} variant the check expects it to accept ({name}): exit {status}")
            failures += 1
            continue
        accepted += 1
    print(f"{accepted} of {len(good)} loader-accepted {kind} variants accepted by the schema"
          + ("" if binary.exists() else " (loader not built: schema side only)"))
    rejected = 0
    for name, change in bad.items():
        doc = copy.deepcopy(base)
        change(doc)
        if validator.is_valid(doc):
            print(f"schema accepts a malformed {kind}: {name}")
            failures += 1
            continue
        status = loader_exit(doc)
        if status not in (None, 2):
            print(f"the loader accepts a {kind} the schema rejects ({name}): exit {status}")
            failures += 1
            continue
        rejected += 1
    print(f"{rejected} of {len(bad)} malformed {kind} variants rejected")


def setting(path, value):
    def change(d):
        node = d
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return change


def as_flow(d):
    """The scenario with its requests replaced by a two-step flow (SPEC §14) using every step key."""
    del d["requests"]
    d["transport"] = {"mode": "mock"}
    d["thresholds"] = {"iteration_duration": ["p(95)<2000"]}
    d["flow"] = [
        {"name": "login", "method": "POST", "path": "/login",
         "capture": {"token": {"json": "$.token"}, "id": {"header": "Location", "regex": "/(\\d+)$"},
                     "sid": {"cookie": "session"}}},
        {"name": "poll", "path": "/jobs/{{id}}", "headers": {"Authorization": "Bearer {{token}}"},
         "until": {"check": {"json": "$.status", "equals": "done"}, "every": "500ms", "max": 20},
         "onFailure": "continue"},
    ]


# Load scenarios.
schema, validator = load_schema("schema.json")
scenarios = shipped(validator, "schema.json", drills=False)
variants(
    validator,
    # The variants edit a `requests` scenario with constant-arrival-rate (cached_symbol.json).
    next(d for d in scenarios if "requests" in d and d["load"]["executor"] == "constant-arrival-rate"),
    good={
        # The loader reads numbers and booleans from strings, and expands ${VAR} before validating.
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
        "a flow instead of requests": as_flow,
        "a timing phase threshold": setting(["thresholds", "http_req_waiting{name:features}"], ["p(95)<50"]),
        "HTTP/2 over two connections per loop": lambda d: d.update(http={"version": "2", "connections": 2}),
        "capacity stairs": setting(
            ["load"],
            {"executor": "capacity-search", "stairs": [100, "200", "${TOP:-400}"], "stepDuration": "20s",
             "preAllocatedVUs": 20},
        ),
        "abortOnFail object form": setting(
            ["thresholds", "http_req_failed"],
            [{"threshold": "rate<0.01", "abortOnFail": "true", "delayAbortEval": "5s"}],
        ),
    },
    bad={
        "unknown top-level key": lambda d: d.update(colour="red"),
        "unknown executor": lambda d: d["load"].update(executor="constant-rate"),
        "duration without unit": lambda d: d["load"].update(duration="30"),
        "request path without /": lambda d: d["requests"][0].update(path="api"),
        "check testing two things": lambda d: d["requests"][0]["checks"][0].update(json="$.a"),
        "requests and a flow": lambda d: d.update(flow=[{"name": "a", "path": "/a"}]),
        "a flow step with a weight": lambda d: d.update(flow=[{"name": "a", "path": "/a", "weight": 2}])
        or d.pop("requests"),
        "unknown threshold metric": lambda d: d["thresholds"].update(http_req_duraton=["p(95)<1"]),
        "an HTTP version that does not exist": lambda d: d.update(http={"version": "3"}),
        "capacity stairs beside startRate": setting(
            ["load"],
            {"executor": "capacity-search", "stairs": [100, 200], "startRate": 50, "preAllocatedVUs": 20},
        ),
    },
    kind="scenario",
)

# Drills: their own schema, whose shared parts are copies of the scenario schema's (editors resolve no $ref to a
# second file reliably), so the copies are compared here.
drill_schema, drill_validator = load_schema("drill.schema.json")
drifted = [k for k in schema["$defs"] if drill_schema["$defs"].get(k) != schema["$defs"][k]]
drifted += [f"background.{k}" for k in ["requests", "load", "data", "thresholds", "warmup"]
            if drill_schema["properties"]["background"]["properties"][k] != schema["properties"][k]]
drifted += [k for k in ["http", "name"] if drill_schema["properties"][k] != schema["properties"][k]]
for k in drifted:
    print(f"drill.schema.json: {k} differs from schema.json's; copy it again")
failures += len(drifted)
drills = shipped(drill_validator, "drill.schema.json", drills=True)
variants(
    drill_validator,
    drills[0],
    good={
        "verify by a command": setting(["fault", "verify"], {"run": ["true"]}),
        "objective in milliseconds": setting(["objectives", "rto"], "<=1500"),
        "objective from a variable": setting(["objectives", "rto"], "${RTO:-<30s}"),
        "no background, no canary": lambda d: (d.pop("background"), d.pop("canary"), d["objectives"].pop("rpo"),
                                               d["objectives"].pop("lostWrites")),
    },
    bad={
        "unknown top-level key": lambda d: d.update(colour="red"),
        "no fault": lambda d: d.pop("fault"),
        "verify neither probe-fails nor an action": lambda d: d["fault"].update(verify="probe-passes"),
        "objective without an operator": lambda d: d["objectives"].update(rto="30s"),
        "unknown objective": lambda d: d["objectives"].update(mttr="<30s"),
        "action without run": lambda d: d["fault"].update(action={"timeout": "5s"}),
    },
    kind="drill",
)
sys.exit(1 if failures else 0)
