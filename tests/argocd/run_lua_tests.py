"""Runs the Argo CD health check and resource actions of examples/argocd/ the way Argo CD does:
Lua with `obj` bound to the resource, `health_test.yaml` / `action_test.yaml` as the expectations.

    python run_lua_tests.py DIR     (DIR = .../resource_customizations/pmssync.io/PmsIntegration)

Prints one line per case and "N passed, M failed"; exits 1 on any failure.
"""
import os
import sys

import lupa
import yaml


def to_lua(lua, value):
    if isinstance(value, dict):
        return lua.table_from({k: to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([to_lua(lua, v) for v in value])
    return value


def from_lua(value):
    if lupa.lua_type(value) == "table":
        keys = list(value.keys())
        if keys and all(isinstance(k, int) for k in keys):
            return [from_lua(value[k]) for k in sorted(keys)]
        return {k: from_lua(v) for k, v in value.items()}
    return value


def run(script, resource):
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = to_lua(lua, resource)
    return from_lua(lua.execute(script))


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def main(root):
    passed = failed = 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
        passed, failed = passed + ok, failed + (not ok)

    health = open(os.path.join(root, "health.lua"), encoding="utf-8").read()
    for case in load(os.path.join(root, "health_test.yaml"))["tests"]:
        got = run(health, load(os.path.join(root, case["inputPath"])))
        want = case["healthStatus"]
        check(f"health {case['inputPath']}", got.get("status") == want["status"] and got.get("message") == want["message"], f"{got} != {want}")

    actions = os.path.join(root, "actions")
    spec = load(os.path.join(actions, "action_test.yaml"))
    discovery = open(os.path.join(actions, "discovery.lua"), encoding="utf-8").read()
    for case in spec["discoveryTests"]:
        got = run(discovery, load(os.path.join(actions, case["inputPath"])))
        listed = [{"name": name, "disabled": bool(entry.get("disabled", False))} for name, entry in sorted(got.items())]
        check(f"discovery {case['inputPath']}", listed == case["result"], f"{listed}")
    for case in spec["actionTests"]:
        script = open(os.path.join(actions, case["action"], "action.lua"), encoding="utf-8").read()
        resource = load(os.path.join(actions, case["inputPath"]))
        first = run(script, resource)
        if "expectedAnnotation" in case:
            # A new token, and nothing but metadata changed.
            token = first["metadata"]["annotations"].get(case["expectedAnnotation"])
            unchanged = {k: v for k, v in first.items() if k != "metadata"} == {k: v for k, v in resource.items() if k != "metadata"}
            check(f"action {case['action']}", bool(token) and unchanged, f"{first}")
        else:
            # The spec as expected, everything else (metadata included) as it was.
            spec_ok = first.get("spec") == {**(resource.get("spec") or {}), **case["expectedSpec"]}
            rest = {k: v for k, v in first.items() if k != "spec"} == {k: v for k, v in resource.items() if k != "spec"}
            check(f"action {case['action']}", spec_ok and rest, f"{first}")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "health":
        # python run_lua_tests.py health DIR RESOURCE.json: the health of one live object.
        with open(os.path.join(sys.argv[2], "health.lua"), encoding="utf-8") as f:
            script = f.read()
        print(yaml.safe_dump(run(script, load(sys.argv[3]))).strip())
        sys.exit(0)
    sys.exit(main(sys.argv[1]))
