"""Binding contexts in every shape shell-operator writes, and the configuration we declare."""

from __future__ import annotations

import json

import pytest

from connect_operator.binding import (
    ClusterView,
    binding_configuration,
    label_selector,
    read_binding_context,
)
from connect_operator.errors import BindingContextError, SettingsError
from connect_operator.settings import Settings
from tests.support.shell_operator import validate_hook_config
from tests.unit.conftest import DATA

SETTINGS = Settings()
CONTEXTS = DATA / "binding-contexts"


def configmap(name: str, namespace: str = "default", **data: str) -> dict[str, object]:
    return {
        "object": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"destination": "connect"},
                "resourceVersion": "7",
            },
            "data": data,
        }
    }


def read(contexts: object) -> ClusterView:
    return read_binding_context(json.dumps(contexts), SETTINGS)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("destination=connect", {"matchLabels": {"destination": "connect"}}),
        (
            "a==b,c!=d",
            {
                "matchLabels": {"a": "b"},
                "matchExpressions": [{"key": "c", "operator": "NotIn", "values": ["d"]}],
            },
        ),
        (
            "tier in (b, a)",
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
        ),
        (
            "tier notin (x)",
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]},
        ),
        (
            "team,!legacy",
            {
                "matchExpressions": [
                    {"key": "team", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ]
            },
        ),
        ("example.com/owner=me", {"matchLabels": {"example.com/owner": "me"}}),
    ],
)
def test_label_selectors_translate_to_shell_operator_form(
    selector: str, expected: dict[str, object]
) -> None:
    assert label_selector(selector) == expected


@pytest.mark.parametrize("selector", ["", "a=(b", "a ~ b"])
def test_bad_label_selectors_are_setting_errors(selector: str) -> None:
    with pytest.raises(SettingsError, match="CONNECTOR_LABEL_SELECTOR"):
        label_selector(selector)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"WATCH_NAMESPACES": "*"},
        {"WATCH_NAMESPACES": "a,b", "POD_NAMESPACE": "ops"},
        {"CONNECTOR_LABEL_SELECTOR": "destination=connect,team in (x,y),!skip"},
        {"RESYNC_SCHEDULE": "@every 1m"},
    ],
)
def test_the_binding_configuration_is_valid_for_every_setting(env: dict[str, str]) -> None:
    validate_hook_config(binding_configuration(Settings.from_env(env)))


def test_the_ledger_is_watched_only_in_the_operator_namespace() -> None:
    config = binding_configuration(
        Settings.from_env({"POD_NAMESPACE": "ops", "WATCH_NAMESPACES": "a"})
    )
    ledger = next(b for b in config["kubernetes"] if b["name"] == "ledger")
    assert ledger["namespace"] == {"nameSelector": {"matchNames": ["ops"]}}
    assert ledger["executeHookOnEvent"] == [] and ledger["executeHookOnSynchronization"] is False


def test_a_group_context_gives_the_full_state() -> None:
    view = read(
        [
            {
                "binding": "connectors",
                "type": "Group",
                "groupName": "connectors",
                "snapshots": {
                    "connectors": [configmap("b", **{"k": "v"}), configmap("a")],
                    "confluent-cloud-clusters": [],
                    "ledger": [],
                },
            }
        ]
    )
    assert view.is_full and view.ledger_known and view.ledgers == ()
    assert [cm.name for cm in view.declared_configmaps()] == ["a", "b"]
    assert view.declared_configmaps()[1].data == {"k": "v"}


def test_the_newest_snapshot_wins_when_contexts_are_combined() -> None:
    old = {
        "binding": "connectors",
        "type": "Group",
        "snapshots": {"connectors": [configmap("old")]},
    }
    new = {"binding": "resync", "type": "Schedule", "snapshots": {"connectors": [configmap("new")]}}
    assert [cm.name for cm in read([old, new]).declared_configmaps()] == ["new"]


def test_filter_result_only_items_are_read() -> None:
    view = read_binding_context((CONTEXTS / "group-filter-result-only.json").read_text(), SETTINGS)
    (cm,) = view.declared_configmaps()
    assert (cm.namespace, cm.name, cm.labels["enabled"]) == ("team-a", "x", "true")


def test_synchronization_objects_without_a_group_give_the_full_state() -> None:
    view = read([{"binding": "connectors", "type": "Synchronization", "objects": [configmap("a")]}])
    assert view.is_full and [cm.name for cm in view.declared_configmaps()] == ["a"]


def test_event_only_contexts_give_a_scoped_partial_state() -> None:
    view = read_binding_context((CONTEXTS / "event-only.json").read_text(), SETTINGS)
    assert not view.is_full
    assert view.scope == frozenset({"default/a", "default/gone"})
    assert [cm.name for cm in view.declared_configmaps()] == ["a"]


SHAPES = json.loads((CONTEXTS / "shell-operator-shapes.json").read_text())


@pytest.mark.parametrize("shape", sorted(name for name in SHAPES if not name.startswith("_")))
def test_every_shell_operator_shape_of_other_bindings_is_read_as_carrying_no_state(
    shape: str,
) -> None:
    contexts = SHAPES[shape]
    view = read(contexts)  # bindings of other hooks are ignored, never fatal
    # Nothing of ours in it: no full state to prune from, no event scope, no ledger to write.
    assert view.connector_configmaps is None and not view.is_full
    assert view.scope == frozenset() and view.declared_configmaps() == ()
    assert view.cluster_configmaps == () and view.ledgers == () and not view.ledger_known
    assert view.context_types == tuple(str(c.get("type", c["binding"])) for c in contexts)
    assert view.context_bindings == tuple(c["binding"] for c in contexts)
    assert not view.only_retry_ticks


def test_onstartup_alone_carries_no_state() -> None:
    view = read_binding_context((CONTEXTS / "onstartup.json").read_text(), SETTINGS)
    assert not view.is_full and not view.scope and view.context_types == ("onStartup",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ((CONTEXTS / "malformed.json").read_text(), "not JSON"),
        ('"a string"', "JSON array"),
        ("[1]", "not an object with a 'binding'"),
        (
            '[{"binding": "connectors", "type": "Group", "snapshots": []}]',
            "'snapshots' must be an object",
        ),
        (
            '[{"binding": "connectors", "type": "Group", "snapshots": {"connectors": [{}]}}]',
            "neither 'object' nor 'filterResult'",
        ),
        (
            '[{"binding": "connectors", "type": "Group",'
            ' "snapshots": {"connectors": [{"object": {"metadata": {}}}]}}]',
            "no metadata.name",
        ),
    ],
)
def test_malformed_contexts_are_rejected_with_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(BindingContextError, match=None) as caught:
        read_binding_context(text, SETTINGS)
    assert message in str(caught.value)


def test_only_the_configured_ledger_is_read() -> None:
    other = configmap("someone-elses-ledger")
    mine = configmap("connect-operator-ledger", **{"ledger.json": '{"format": 1, "entries": []}'})
    view = read([{"binding": "x", "type": "Group", "snapshots": {"ledger": [other, mine]}}])
    assert [ledger.name for ledger in view.ledgers] == ["connect-operator-ledger"]
