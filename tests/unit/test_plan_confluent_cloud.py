"""`connect-operator plan` on Confluent Cloud targets, against the spec-derived fake of
`connect/v1`: its own listing form, masked values and server-added keys compared through the
ledger as the hook compares them, and refused credentials as a plain error."""

# The fixtures of the Confluent Cloud hook tests are imported and then named as parameters.

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner, Result

from connect_operator.cli import cli
from tests.support.fake_confluent_cloud import FakeConfluentCloud
from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import ShellOperator
from tests.unit.test_hook_confluent_cloud import (
    CANARIES,
    CC_LABELS,
    TARGET,
    cloud_operator,
    datagen,
)


def manifests(path: Path, quickstart: str = "ORDERS") -> Path:
    documents = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "orders-cluster",
                "labels": {"environment_id": "env-123", "resource_id": "lkc-456"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "datagen", "labels": CC_LABELS},
            "data": {"d.json": datagen("datagen-orders", quickstart)},
        },
    ]
    path.write_text(yaml.safe_dump_all(documents))
    return path


def ledger_file(operator: ShellOperator, path: Path) -> Path:
    items = [
        obj
        for (kind, _, name), obj in sorted(operator.store.objects.items())
        if kind == "ConfigMap" and name.startswith("connect-operator-ledger")
    ]
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def plan(operator: ShellOperator, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["plan", *args],
        env={**operator.env, "POD_NAMESPACE": "default"},
        catch_exceptions=False,
    )


def test_a_managed_connector_the_hook_applied_plans_unchanged_with_the_ledger_and_one_listing(
    base_env: dict[str, str], tmp_path: Path, cloud: FakeConfluentCloud, fake_connect: FakeConnect
) -> None:
    operator = cloud_operator(base_env, tmp_path, cloud, fake_connect)
    path = manifests(tmp_path / "m.yaml")
    first = plan(operator, "-f", str(path), "--output", "json", "--detailed-exitcode")
    assert first.exit_code == 2, first.output
    document = json.loads(first.stdout)
    assert [(c["action"], c["target"]) for c in document["connectors"]] == [("create", TARGET)]
    assert document["connectors"][0]["config"]["kafka.api.secret"] == "****"

    operator.store.load_manifests([path])
    assert operator.run().returncode == 0
    assert "datagen-orders" in cloud.connectors

    ledger = ledger_file(operator, tmp_path / "ledger.yaml")
    cloud.requests.clear()
    after = plan(operator, "-f", str(path), "--ledger", str(ledger), "--detailed-exitcode")
    assert after.exit_code == 0, after.output
    assert "  unchanged    datagen-orders on confluent-cloud/env-123/lkc-456" in after.stdout
    assert [(r.method, r.query) for r in cloud.requests] == [
        ("GET", {"expand": ["info,status,id"]})
    ]
    changed = plan(
        operator, "-f", str(manifests(tmp_path / "m2.yaml", "USERS")), "--ledger", str(ledger)
    )
    assert '      quickstart: "ORDERS" -> "USERS"' in changed.stdout.splitlines()
    assert cloud.writes() == []
    for text in (first.output, after.output, changed.output):
        for canary in CANARIES:
            assert canary not in text


def test_refused_cloud_credentials_are_an_error_naming_the_variables_to_check(
    base_env: dict[str, str], tmp_path: Path, cloud: FakeConfluentCloud, fake_connect: FakeConnect
) -> None:
    operator = cloud_operator(base_env, tmp_path, cloud, fake_connect, secret="wrong-secret")
    result = plan(operator, "-f", str(manifests(tmp_path / "m.yaml")), "--detailed-exitcode")
    assert result.exit_code == 1
    error = next(line for line in result.stdout.splitlines() if line.startswith("error: "))
    assert "confluent-cloud/env-123/lkc-456" in error
    assert "CONNECT_REST_KEY" in error and "CONNECT_REST_SECRET" in error
    assert "wrong-secret" not in result.output
