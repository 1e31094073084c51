"""Desired state: which declarations count, and who gets a connector name two ConfigMaps want."""

from __future__ import annotations

import json

import pytest

from connect_operator.binding import ConfigMapView
from connect_operator.desired import DesiredState, desired_state
from connect_operator.properties import Variables
from connect_operator.settings import Settings
from tests.unit.conftest import connector_json

SETTINGS = Settings(own_namespace="ops", watch_namespaces=None)


def configmap(
    namespace: str, name: str, enabled: str | None = "true", **data: str
) -> ConfigMapView:
    labels = {"destination": "connect"}
    if enabled is not None:
        labels["enabled"] = enabled
    return ConfigMapView(namespace, name, labels, data)


def state(
    *configmaps: ConfigMapView, owners: dict[tuple[str, str], str] | None = None
) -> DesiredState:
    return desired_state(configmaps, (), Variables(), SETTINGS, owners=owners)


def errors(result: DesiredState) -> dict[str, str]:
    return {f"{e.source.configmap}:{e.source.key}": e.message for e in result.errors}


@pytest.mark.parametrize("value", ["True", "yes", "", "1", "false "])
def test_enabled_must_be_exactly_true_or_false(value: str) -> None:
    result = state(configmap("team", "cm", value, **{"a.json": connector_json("a")}))
    assert result.connectors == ()
    assert "must be exactly" in errors(result)["team/cm:a.json"]
    assert {s.key for s in result.broken_sources} == {"a.json"}


@pytest.mark.parametrize(("value", "enabled"), [("true", True), ("false", False), (None, False)])
def test_enabled_true_false_and_absent(value: str | None, enabled: bool) -> None:
    (connector,) = state(
        configmap("team", "cm", value, **{"a.json": connector_json("a")})
    ).connectors
    assert connector.enabled is enabled


def test_the_ledger_owner_keeps_a_name_another_namespace_also_declares() -> None:
    mine = configmap("team-b", "orders", **{"o.json": connector_json("orders")})
    thief = configmap("team-a", "grab", "false", **{"o.json": connector_json("orders")})
    result = state(mine, thief, owners={("self-managed", "orders"): "team-b/orders"})
    assert [c.source.configmap for c in result.connectors] == ["team-b/orders"]
    assert "records ConfigMap team-b/orders as its owner" in errors(result)["team-a/grab:o.json"]
    assert result.contested == {}


def test_without_an_owner_both_declarations_of_a_name_are_errors() -> None:
    first = configmap("team-a", "one", **{"x.json": connector_json("x")})
    second = configmap("team-b", "two", **{"x.json": connector_json("x")})
    result = state(first, second)
    assert result.connectors == ()
    assert set(errors(result)) == {"team-a/one:x.json", "team-b/two:x.json"}
    assert result.contested == {"self-managed": frozenset({"x"})}


@pytest.mark.parametrize("name", [".", "..", "a/b", "a\\\\b", "tab\\there"])
def test_a_connector_name_that_is_not_one_path_segment_is_a_declaration_error(name: str) -> None:
    program = json.dumps({"name": name, "config": {"connector.class": "X"}})
    result = state(configmap("team", "cm", **{"k.json": program}))
    assert result.connectors == ()
    assert "cannot be one URL path segment" in errors(result)["team/cm:k.json"]
