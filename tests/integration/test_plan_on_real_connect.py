"""`connect-operator plan` on the real local Connect cluster, before and after the real hook
applies the same manifests: the plan said what the hook then did, and read without writing.

The plan runs as a user runs it (the console command on a folder of manifests, JSON output),
through a recording proxy in front of one worker, so its requests can be counted; the hook runs
as shell-operator runs it, with the same variables and the same Connect.
"""

# The fixtures of the hook's suite are imported and then named as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.integration.test_hook_on_real_connect import (  # noqa: F401 (fixtures)
    SINK,
    make_operator,
    ok,
    prefix,
    proxy,
    settled_listing,
    sink,
    source,
    variables_dir,
)
from tests.kafka import cluster
from tests.support.recording_proxy import RecordingProxy
from tests.support.shell_operator import REPO_ROOT, ShellOperator

pytestmark = pytest.mark.integration

CHANGES = ("create", "update", "delete")
VERBS = {"created": "create", "updated": "update", "deleted": "delete"}


def configmap(name: str, data: dict[str, str], enabled: str = "true") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"destination": "connect", "enabled": enabled}},
        "data": data,
    }


def write_manifests(folder: Path, *documents: dict[str, Any]) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "connectors.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))


def run_plan(operator: ShellOperator, *args: str) -> tuple[int, dict[str, Any], str]:
    """The console command with the hook's own environment; (exit code, JSON plan, stderr)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "connect_operator",
            "plan",
            *args,
            "--output",
            "json",
            "--detailed-exitcode",
        ],
        env=operator.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 2), result.stdout + result.stderr
    assert "IT-CANARY" not in result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def planned(document: dict[str, Any], prefix: str) -> dict[str, str]:
    return {
        c["connector"]: c["action"]
        for c in document["connectors"]
        if c["connector"] and c["connector"].startswith(prefix)
    }


def hook_did(run: Any, prefix: str) -> dict[str, str]:
    return {
        line["connector"]: VERBS[line["action"]]
        for line in run.log_lines()
        if str(line.get("connector", "")).startswith(prefix) and line.get("action") in VERBS
    }


def ledger_file(operator: ShellOperator, path: Path) -> Path:
    """The ledger's ConfigMaps as `kubectl get cm -l ... -o yaml` prints them: a List."""
    items = [
        obj
        for (kind, _, name), obj in sorted(operator.store.objects.items())
        if kind == "ConfigMap" and name.startswith("connect-operator-ledger")
    ]
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def test_the_plan_before_and_after_a_hook_run_matches_what_the_hook_did(
    proxy: RecordingProxy,
    variables_dir: Path,
    prefix: str,
    connect_cluster: cluster.ClusterInfo,
    tmp_path: Path,
) -> None:
    url = connect_cluster.urls[0]
    for name, topic in ((f"{prefix}gone", "g"), (f"{prefix}foreign", "f")):
        requests.put(
            f"{url}/connectors/{name}/config",
            json={"connector.class": SINK, "topics": topic, "file": "/dev/null"},
            timeout=60,
        ).raise_for_status()
    settled_listing(url, present={f"{prefix}gone", f"{prefix}foreign"})
    operator = make_operator(proxy.url, variables_dir)
    folder = tmp_path / "manifests"
    write_manifests(
        folder,
        configmap("plan-it", {"a.json": sink(f"{prefix}a"), "b.json": source(f"{prefix}b")}),
        configmap("retired", {"gone.json": sink(f"{prefix}gone", topic="g")}, enabled="false"),
    )

    # Before: a plan of creates and the delete, from one GET and no write.
    proxy.exchanges.clear()
    code, before, _ = run_plan(operator, "-f", str(folder))
    assert code == 2
    assert [(e.method, e.path) for e in proxy.exchanges] == [
        ("GET", "/connectors?expand=info&expand=status")
    ]
    assert planned(before, prefix) == {
        f"{prefix}a": "create",
        f"{prefix}b": "create",
        f"{prefix}gone": "delete",
        f"{prefix}foreign": "not-declared",
    }
    create_b = next(c for c in before["connectors"] if c["connector"] == f"{prefix}b")
    assert create_b["config"]["producer.override.sasl.jaas.config"] == "****"

    # The hook applies the same manifests and does exactly the planned changes.
    operator.store.load_manifests([folder / "connectors.yaml"])
    run = operator.run()
    ok(run)
    changes = {k: v for k, v in planned(before, prefix).items() if v in CHANGES}
    assert hook_did(run, prefix) == changes
    assert sorted((e.method, e.path) for e in proxy.writes()) == sorted(
        [
            ("PUT", f"/connectors/{prefix}a/config"),
            ("PUT", f"/connectors/{prefix}b/config"),
            ("DELETE", f"/connectors/{prefix}gone"),
        ]
    )

    # After: nothing left to do, and with the ledger the foreign connector is not ours to list.
    settled_listing(url, present={f"{prefix}a", f"{prefix}b"}, absent={f"{prefix}gone"})
    ledger = ledger_file(operator, tmp_path / "ledger.yaml")
    proxy.exchanges.clear()
    code, after, _ = run_plan(operator, "-f", str(folder), "--ledger", str(ledger))
    assert code == 0, after
    assert proxy.writes() == []
    assert planned(after, prefix) == {f"{prefix}a": "unchanged", f"{prefix}b": "unchanged"}

    # The next change: a topic changes, a key goes. The plan shows the update with its old and
    # new value and the prune; the hook does the same and no more.
    write_manifests(
        folder,
        configmap("plan-it", {"a.json": sink(f"{prefix}a", topic="moved")}),
        configmap("retired", {"gone.json": sink(f"{prefix}gone", topic="g")}, enabled="false"),
    )
    code, change, _ = run_plan(operator, "-f", str(folder), "--ledger", str(ledger))
    assert code == 2
    assert planned(change, prefix) == {f"{prefix}a": "update", f"{prefix}b": "delete"}
    update = next(c for c in change["connectors"] if c["connector"] == f"{prefix}a")
    assert update["changes"] == [
        {"key": "topics", "old": "it.t", "new": "it.moved", "secret": False}
    ]
    operator.store.objects.clear()
    operator.store.load_manifests([folder / "connectors.yaml"])
    for obj in yaml.safe_load(ledger.read_text())["items"]:
        operator.store.put(obj)
    proxy.exchanges.clear()
    run = operator.run()
    ok(run)
    assert hook_did(run, prefix) == {f"{prefix}a": "update", f"{prefix}b": "delete"}
    assert sorted((e.method, e.path) for e in proxy.writes()) == [
        ("DELETE", f"/connectors/{prefix}b"),
        ("PUT", f"/connectors/{prefix}a/config"),
    ]
    live = settled_listing(url, present={f"{prefix}a"}, absent={f"{prefix}b"})
    assert live[f"{prefix}a"]["info"]["config"]["topics"] == "it.moved"
    assert f"{prefix}foreign" in live

    # A state change alone: the plan says `state` with the live state, the hook pauses it and
    # sends no config.
    program = sink(f"{prefix}a", topic="moved")[:-1] + ', "state": "paused"}'
    write_manifests(folder, configmap("plan-it", {"a.json": program}))
    ledger = ledger_file(operator, tmp_path / "ledger.yaml")
    code, state, _ = run_plan(operator, "-f", str(folder), "--ledger", str(ledger))
    assert code == 2
    entry = next(c for c in state["connectors"] if c["connector"] == f"{prefix}a")
    assert (entry["action"], entry["changes"]) == ("state", [])
    assert entry["state"]["declared"] == "paused" and entry["state"]["call"] == "pause"
    operator.store.objects.clear()
    operator.store.load_manifests([folder / "connectors.yaml"])
    for obj in yaml.safe_load(ledger.read_text())["items"]:
        operator.store.put(obj)
    proxy.exchanges.clear()
    ok(operator.run())
    assert [(e.method, e.path) for e in proxy.writes()] == [("PUT", f"/connectors/{prefix}a/pause")]


def test_validate_asks_real_connect_and_reports_what_it_refuses(
    proxy: RecordingProxy, variables_dir: Path, prefix: str, tmp_path: Path
) -> None:
    operator = make_operator(proxy.url, variables_dir)
    folder = tmp_path / "manifests"
    missing = '{"name": "%s", "config": {"connector.class": "com.example.Missing", "x": "y"}}'
    write_manifests(
        folder,
        configmap(
            "validated",
            {
                "good.json": sink(f"{prefix}good"),
                "bad.json": sink(f"{prefix}bad", tasks="many"),
                "missing.json": missing % f"{prefix}missing",
            },
        ),
    )
    proxy.exchanges.clear()
    result = subprocess.run(
        [sys.executable, "-m", "connect_operator", "plan", "-f", str(folder), "--validate"],
        env=operator.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"+ create       {prefix}good on self-managed") for line in lines)
    bad = next(line for line in lines if "key bad.json" in line)
    assert bad.startswith("! invalid      ConfigMap default/validated key bad.json: Connect's")
    assert "tasks.max: Invalid value many for configuration tasks.max" in bad
    missing_line = next(line for line in lines if "key missing.json" in line)
    assert "Failed to find any class that implements Connector" in missing_line
    assert len(missing_line) < 500
    assert proxy.writes() == []  # a validation changes nothing
    validations = [e for e in proxy.exchanges if e.path.endswith("/config/validate")]
    assert [e.method for e in validations] == ["PUT"] * 3
