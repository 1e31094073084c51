"""The declared `"state"` of a connector, through the real hook: pause and resume on Confluent
Cloud (where `stopped` is a declaration error), pause, resume and stop on self-managed Connect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fake_confluent_cloud import FakeConfluentCloud
from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import ShellOperator
from tests.unit.test_hook_confluent_cloud import CC_LABELS, cloud_operator, datagen


def with_state(program: str, state: str) -> str:
    """A connector document with a top-level `state`."""
    return program[: program.rindex("}")] + f', "state": "{state}"}}'


def local(name: str, state: str | None = None) -> str:
    document: dict[str, object] = {
        "name": name,
        "config": {"connector.class": "FileStreamSink", "topics": "t"},
    }
    if state:
        document["state"] = state
    return json.dumps(document)


def test_a_managed_connector_declared_paused_is_created_then_paused_and_left_alone(
    base_env: dict[str, str],
    tmp_path: Path,
    cloud: FakeConfluentCloud,
    fake_connect: FakeConnect,
) -> None:
    operator = cloud_operator(base_env, tmp_path, cloud, fake_connect)
    operator.put_configmap("d", {"d.json": with_state(datagen("orders"), "paused")}, CC_LABELS)
    assert operator.run().returncode == 0
    assert [(r.method, r.path) for r in cloud.writes()] == [
        ("PUT", "/connectors/orders/config"),
        ("PUT", "/connectors/orders/pause"),
    ]
    assert cloud.connectors["orders"].state == "PAUSED"
    cloud.requests.clear()
    run = operator.run(trigger="Schedule")
    assert run.returncode == 0
    assert cloud.writes() == []


def test_a_managed_connector_paused_by_hand_is_resumed_without_a_config_put(
    base_env: dict[str, str],
    tmp_path: Path,
    cloud: FakeConfluentCloud,
    fake_connect: FakeConnect,
) -> None:
    operator = cloud_operator(base_env, tmp_path, cloud, fake_connect)
    operator.put_configmap("d", {"d.json": datagen("orders")}, CC_LABELS)
    assert operator.run().returncode == 0
    cloud.connectors["orders"].state = "PAUSED"  # someone paused it in the Cloud console
    cloud.requests.clear()
    run = operator.run(trigger="Schedule")
    assert run.returncode == 0
    assert [(r.method, r.path) for r in cloud.writes()] == [("PUT", "/connectors/orders/resume")]
    assert any(
        "has been updated: state is PAUSED, declared running" in line["msg"]
        for line in run.log_lines()
    )


def test_stopped_on_confluent_cloud_is_a_declaration_error_naming_the_key(
    base_env: dict[str, str],
    tmp_path: Path,
    cloud: FakeConfluentCloud,
    fake_connect: FakeConnect,
) -> None:
    operator = cloud_operator(base_env, tmp_path, cloud, fake_connect)
    operator.put_configmap("d", {"d.json": with_state(datagen("orders"), "stopped")}, CC_LABELS)
    operator.put_configmap("ok", {"ok.json": datagen("fine")}, CC_LABELS)
    run = operator.run()
    assert run.returncode == 0
    assert list(cloud.connectors) == ["fine"]
    errors = [line for line in run.log_lines() if line["level"] == "error"]
    assert any(
        line.get("configmap") == "default/d"
        and line.get("key") == "d.json"
        and 'state "stopped" is not supported on Confluent Cloud' in line["msg"]
        for line in errors
    )


def test_self_managed_connectors_are_stopped_paused_and_resumed_as_declared(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("s", {"s.json": local("stopped-one", "stopped")})
    operator.put_configmap("p", {"p.json": local("paused-one", "paused")})
    operator.put_configmap("r", {"r.json": local("running-one")})
    assert operator.run().returncode == 0
    # Connect 3.7+ (KIP-980): created directly in the declared state, never running meanwhile
    writes = sorted((r.method, r.path, r.body.get("initial_state")) for r in fake_connect.writes())
    assert writes == [
        ("POST", "/connectors", "PAUSED"),
        ("POST", "/connectors", "STOPPED"),
        ("PUT", "/connectors/running-one/config", None),
    ]
    assert fake_connect.states == {"stopped-one": "STOPPED", "paused-one": "PAUSED"}
    fake_connect.requests.clear()
    assert operator.run(trigger="Schedule").returncode == 0
    assert fake_connect.writes() == []
    operator.put_configmap("p", {"p.json": local("paused-one", "running")})
    assert operator.run().returncode == 0
    assert [(r.method, r.path) for r in fake_connect.writes()] == [
        ("PUT", "/connectors/paused-one/resume")
    ]
    assert "paused-one" not in fake_connect.states


def test_before_connect_3_7_a_connector_declared_paused_is_created_then_paused(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    fake_connect.version = "3.6.2"  # no `initial_state` on create (KIP-980 is 3.7)
    operator.put_configmap("p", {"p.json": local("paused-one", "paused")})
    assert operator.run().returncode == 0
    assert [(r.method, r.path) for r in fake_connect.writes()] == [
        ("PUT", "/connectors/paused-one/config"),
        ("PUT", "/connectors/paused-one/pause"),
    ]
    assert fake_connect.states == {"paused-one": "PAUSED"}


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("4.1.2", True),
        ("3.7.0", True),
        ("3.6.2", False),
        ("7.7.1-ccs", True),
        ("7.6.0-ce", False),
        ("8.0.0-ccs", True),
        ("", False),
        ("unknown", False),
    ],
)
def test_initial_state_on_create_is_used_from_kafka_3_7_and_confluent_platform_7_7(
    version: str, supported: bool
) -> None:
    from connect_operator.connect_client import _has_initial_state

    assert _has_initial_state(version) is supported
