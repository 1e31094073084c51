"""The ledger's promises, through the hook's whole run (in process, on a fake clock):

- an unreadable ledger stops the run; it never means "we own nothing";
- a run whose snapshot did not carry the ledger never writes the ledger;
- a connector whose apply did not finish stays owned, so the next run finishes it;
- a listing without configs is never read as "nothing changed".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connect_operator.ledger import entry_key
from tests.support.fake_confluent_cloud import FakeConfluentCloud
from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import ShellOperator, group_contexts
from tests.unit.conftest import connector_json
from tests.unit.test_hook_confluent_cloud import cloud_operator

LEDGER = "connect-operator-ledger"
TARGET = "self-managed"


@pytest.fixture
def operator(fake_connect: FakeConnect, base_env: dict[str, str]) -> ShellOperator:
    """The hook run in process against the fake Connect, waiting on a fake clock."""
    return ShellOperator(env={**base_env, "CONNECT_URL": fake_connect.url}, in_process=True)


def owned(operator: ShellOperator) -> dict[str, str]:
    """connector -> last applied hash, as an independent reader of the ledger sees it."""
    ledger = operator.ledger()
    return {} if ledger is None else {e["connector"]: e["hash"] for e in ledger["entries"]}


def patch_documents(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# -- an unreadable ledger is never "we own nothing" ------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (entry_key(TARGET, "x"), "not json"),
        (entry_key(TARGET, "x"), json.dumps({"t": TARGET, "n": "x"})),  # fields missing
        (entry_key(TARGET, "x"), json.dumps(["a list"])),
        ("ledger.json", '{"entries": [{"target": 1}]}'),
    ],
)
def test_an_unreadable_ledger_stops_the_run_before_any_write(
    operator: ShellOperator, fake_connect: FakeConnect, key: str, value: str
) -> None:
    operator.put_configmap("a", {"a.json": connector_json("a")})
    operator.put_configmap("b", {"b.json": connector_json("b")})
    assert operator.run().returncode == 0
    assert set(owned(operator)) == {"a", "b"}
    # a is no longer declared (so a run that thought it owned nothing would leave it running
    # for good), and c is new (so it would create c and write a ledger without a and b).
    operator.delete_configmap("a")
    operator.put_configmap("c", {"c.json": connector_json("c")})
    ledger = operator.store.get("ConfigMap", "default", LEDGER)
    assert ledger is not None
    ledger["data"][key] = value
    fake_connect.requests.clear()

    run = operator.run()

    assert run.returncode == 2  # bad input: shell-operator keeps its outputs and retries
    assert fake_connect.requests == []  # not even a listing
    assert sorted(fake_connect.connectors) == ["a", "b"]
    assert run.patch == ""
    errors = [line["msg"] for line in run.log_lines() if line["level"] == "error"]
    assert any(f"default/{LEDGER} key {key} is unreadable" in msg for msg in errors), errors
    assert ledger["data"][key] == value  # nothing rewrote the broken entry away


def test_an_unreadable_status_means_retry_everything_not_nothing_to_do(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("a", {"a.json": connector_json("a")})
    assert operator.run().returncode == 0
    ledger = operator.store.get("ConfigMap", "default", LEDGER)
    assert ledger is not None and "status.json" in ledger["data"]

    # A retry tick with nothing changed would return at once without a request ...
    def retry_tick() -> list[dict[str, object]]:
        return [
            {**context, "binding": "retry"}
            for context in group_contexts(operator.config(), operator.store, "Schedule")
        ]

    assert operator.run_with(retry_tick()).returncode == 0
    fake_connect.requests.clear()
    assert operator.run_with(retry_tick()).returncode == 0
    assert fake_connect.requests == []
    # ... but when the status cannot be read, the tick must reconcile.
    ledger = operator.store.get("ConfigMap", "default", LEDGER)
    assert ledger is not None
    ledger["data"]["status.json"] = "{broken"
    assert operator.run_with(retry_tick()).returncode == 0
    assert [(r.method, r.path) for r in fake_connect.requests] == [("GET", "/connectors")]


# -- no ledger snapshot, no ledger write ------------------------------------------------------


def test_a_run_without_the_ledger_snapshot_never_writes_the_ledger(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("a", {"a.json": connector_json("a")})
    assert operator.run().returncode == 0
    before = json.dumps(operator.ledger(), sort_keys=True)
    operator.put_configmap("b", {"b.json": connector_json("b")})
    contexts = group_contexts(operator.config(), operator.store)
    for context in contexts:
        del context["snapshots"]["ledger"]

    run = operator.run_with(contexts)

    assert run.returncode == 0
    assert "b" in fake_connect.connectors  # the run still reconciled what it saw
    assert run.patch == ""  # but wrote nothing about ownership: it did not see the ledger
    assert json.dumps(operator.ledger(), sort_keys=True) == before


def test_a_dry_run_of_the_cli_writes_no_ledger_either(
    operator: ShellOperator, fake_connect: FakeConnect, tmp_path: Path
) -> None:
    from connect_operator.binding import read_binding_context
    from connect_operator.properties import Variables
    from connect_operator.reconcile import reconcile
    from connect_operator.settings import Settings

    operator.put_configmap("a", {"a.json": connector_json("a")})
    settings = Settings.from_env(operator.env)
    view = read_binding_context(
        json.dumps(group_contexts(operator.config(), operator.store)), settings
    )
    report = reconcile(view, Variables(), settings, dry_run=True)
    assert report.ledger_changes is None
    assert report.status is None
    assert fake_connect.writes() == []


# -- an apply that did not finish keeps its ownership ---------------------------------------


def test_an_update_that_fails_keeps_the_entry_with_the_old_hash_so_the_next_run_retries(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("a", {"a.json": connector_json("a", topics="one")})
    assert operator.run().returncode == 0
    first_hash = owned(operator)["a"]
    operator.put_configmap("a", {"a.json": connector_json("a", topics="two")})
    fake_connect.fail_next("PUT", "/connectors/a/config", *[(503, "unavailable")] * 10)

    failed = operator.run()

    assert failed.returncode == 0
    assert fake_connect.connectors["a"]["topics"] == "one"
    assert owned(operator) == {"a": first_hash}
    assert all(
        value is not None
        for document in patch_documents(failed.patch)
        for value in (document.get("mergePatch") or {}).get("data", {}).values()
    ), "the failed update must not remove its ledger entry"
    # The next run sees the difference again and finishes the update.
    assert operator.run().returncode == 0
    assert fake_connect.connectors["a"]["topics"] == "two"
    assert owned(operator)["a"] != first_hash


def test_a_delete_that_fails_keeps_the_connector_owned_so_the_next_run_deletes_it(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("a", {"a.json": connector_json("a")})
    assert operator.run().returncode == 0
    operator.delete_configmap("a")
    fake_connect.fail_next("DELETE", "/connectors/a", *[(503, "unavailable")] * 10)

    assert operator.run().returncode == 0
    assert "a" in fake_connect.connectors
    assert set(owned(operator)) == {"a"}

    assert operator.run().returncode == 0
    assert "a" not in fake_connect.connectors
    assert owned(operator) == {}


def test_writes_not_attempted_after_connect_went_away_stay_owned(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {f"{n}.json": connector_json(n, topics="one") for n in "abc"})
    assert operator.run().returncode == 0
    hashes = owned(operator)
    operator.put_configmap("m", {f"{n}.json": connector_json(n, topics="two") for n in "abc"})
    # The first PUT gets a connection-level failure: the rest are not attempted.
    fake_connect.fail_next("PUT", "/connectors/", *[(503, "unavailable")] * 30)

    run = operator.run()

    assert run.returncode == 0
    assert {name: c["topics"] for name, c in fake_connect.connectors.items()} == dict.fromkeys(
        "abc", "one"
    )
    assert owned(operator) == hashes


# -- a listing without configs is never "nothing changed" -----------------------------------


def managed(name: str, topic: str) -> str:
    """A Confluent Cloud managed connector (Datagen), literal values only."""
    return json.dumps(
        {
            "name": name,
            "config": {
                "connector.class": "DatagenSource",
                "kafka.auth.mode": "KAFKA_API_KEY",
                "kafka.api.key": "KEY-1234",
                "kafka.api.secret": "SECRET-1234",
                "kafka.topic": topic,
                "output.data.format": "JSON",
                "quickstart": "ORDERS",
                "tasks.max": "1",
            },
        }
    )


def test_a_listing_without_configs_still_finds_the_one_config_that_changed(
    base_env: dict[str, str], tmp_path: Path, fake_connect: FakeConnect, cloud: FakeConfluentCloud
) -> None:
    operator = cloud_operator(base_env, tmp_path, cloud, fake_connect)
    labels = {"destination": "connect", "enabled": "true", "destination.cc": "orders-cluster"}
    operator.put_configmap(
        "datagen", {"a.json": managed("gen-a", "one"), "b.json": managed("gen-b", "one")}, labels
    )
    assert operator.run().returncode == 0
    assert len(cloud.writes()) == 2
    cloud.ignores_expand = True
    operator.put_configmap(
        "datagen", {"a.json": managed("gen-a", "two"), "b.json": managed("gen-b", "one")}, labels
    )
    cloud.requests.clear()

    run = operator.run()

    assert run.returncode == 0, run.stdout
    assert [(r.method, r.path) for r in cloud.writes()] == [("PUT", "/connectors/gen-a/config")]
    assert {(r.method, r.path) for r in cloud.requests if r.path.endswith("/config")} >= {
        ("GET", "/connectors/gen-a/config"),
        ("GET", "/connectors/gen-b/config"),
    }
    updated = [line for line in run.log_lines() if line.get("action") == "updated"]
    assert [line["connector"] for line in updated] == ["gen-a"]
