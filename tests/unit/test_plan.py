"""The pure planner: one table of situations and the actions they lead to."""

from __future__ import annotations

import copy

import pytest

from connect_operator.connect_client import ObservedConnector
from connect_operator.desired import DesiredConnector, Source
from connect_operator.ledger import LedgerEntry
from connect_operator.plan import Lifecycle, Result, lifecycle_call, plan_target
from connect_operator.targets import Target
from connect_operator.templating import config_hash

TARGET = Target(id="self-managed", base_url="http://connect")


def desired(
    name: str, enabled: bool = True, cm: str = "ns/cm", state: str = "running", **config: str
) -> DesiredConnector:
    return DesiredConnector(
        target=TARGET,
        name=name,
        config={"connector.class": "X", **config},
        secret_keys=frozenset(),
        source=Source(cm, f"{name}.json"),
        enabled=enabled,
        state=state,
    )


def observed(name: str, **config: str) -> ObservedConnector:
    return ObservedConnector(name=name, config={"connector.class": "X", "name": name, **config})


def owned(name: str, cm: str = "ns/cm", hash_: str = "h") -> LedgerEntry:
    return LedgerEntry("self-managed", name, cm, f"{name}.json", hash_, connector_class="X")


def kinds(plan) -> dict[str, Result]:  # type: ignore[no-untyped-def]
    return {action.connector: action.kind for action in plan.actions}


def test_missing_connectors_are_created_and_matching_ones_kept() -> None:
    plan = plan_target("self-managed", [desired("a"), desired("b")], {"b": observed("b")}, [])
    assert kinds(plan) == {"a": Result.CREATED, "b": Result.UNCHANGED}


def test_only_a_differing_connector_is_updated_with_its_keys_named() -> None:
    plan = plan_target(
        "self-managed", [desired("a", topic="new")], {"a": observed("a", topic="old")}, []
    )
    (action,) = plan.actions
    assert action.kind is Result.UPDATED
    assert action.changed_keys == ("topic",)


def test_disabled_connectors_are_deleted_even_when_not_owned() -> None:
    plan = plan_target("self-managed", [desired("a", enabled=False)], {"a": observed("a")}, [])
    assert kinds(plan) == {"a": Result.DELETED}


def test_disabled_and_absent_needs_nothing() -> None:
    assert plan_target("self-managed", [desired("a", enabled=False)], {}, []).actions == ()


def test_owned_but_undeclared_connectors_are_pruned_and_foreign_ones_left() -> None:
    plan = plan_target(
        "self-managed",
        [],
        {"mine": observed("mine"), "foreign": observed("foreign")},
        [owned("mine")],
    )
    assert kinds(plan) == {"mine": Result.DELETED}
    assert "no longer declared by ConfigMap ns/cm" in plan.actions[0].reason


def test_an_owned_connector_already_gone_is_dropped_silently() -> None:
    plan = plan_target("self-managed", [], {}, [owned("gone")])
    assert plan.actions == () and plan.kept_entries == ()


def test_a_broken_source_protects_what_it_owned() -> None:
    entry = owned("mine")
    plan = plan_target(
        "self-managed",
        [],
        {"mine": observed("mine")},
        [entry],
        broken_sources={Source("ns/cm", "mine.json")},
    )
    assert plan.actions == ()
    assert plan.kept_entries == (entry,)


def test_event_only_runs_prune_only_within_their_scope() -> None:
    plan = plan_target(
        "self-managed",
        [],
        {"a": observed("a"), "b": observed("b")},
        [owned("a", cm="ns/deleted"), owned("b", cm="ns/unseen")],
        scope={"ns/deleted"},
    )
    assert kinds(plan) == {"a": Result.DELETED}
    assert [e.connector for e in plan.kept_entries] == ["b"]


def test_too_many_prunes_are_refused_all_together() -> None:
    names = [f"c{i}" for i in range(5)]
    plan = plan_target(
        "self-managed",
        [desired("keep")],
        {name: observed(name) for name in [*names, "keep"]},
        [owned(name) for name in names],
        max_deletes=3,
    )
    assert kinds(plan) == {"keep": Result.UNCHANGED}
    assert plan.refused_deletes == tuple(names)
    assert [e.connector for e in plan.kept_entries] == names


def test_prunes_at_the_limit_go_ahead() -> None:
    plan = plan_target("self-managed", [], {"a": observed("a")}, [owned("a")], max_deletes=1)
    assert kinds(plan) == {"a": Result.DELETED}


def test_a_connector_moved_to_another_configmap_is_kept_not_recreated() -> None:
    plan = plan_target(
        "self-managed", [desired("a", cm="ns/new")], {"a": observed("a")}, [owned("a", "ns/old")]
    )
    assert kinds(plan) == {"a": Result.UNCHANGED}


def test_masked_values_match_through_the_ledger_hash() -> None:
    connector = desired("a", password="secret")
    plan = plan_target(
        "cc",
        [connector],
        {"a": observed("a", password="****")},
        [owned("a", hash_=config_hash(connector.config))],
        server_rewrites_config=True,
    )
    assert kinds(plan) == {"a": Result.UNCHANGED}


def test_planning_leaves_its_inputs_alone_and_ignores_their_order() -> None:
    wanted = [desired("c", topics="new"), desired("a"), desired("z", enabled=False)]
    live = {"c": observed("c", topics="old"), "b": observed("b"), "z": observed("z")}
    ours = [owned("d"), owned("b")]
    snapshot = (copy.deepcopy(wanted), copy.deepcopy(live), copy.deepcopy(ours))
    plan = plan_target("self-managed", wanted, live, ours, max_deletes=5)
    assert (wanted, live, ours) == snapshot  # nothing it was given was changed
    reordered = plan_target(
        "self-managed",
        list(reversed(wanted)),
        dict(reversed(list(live.items()))),
        list(reversed(ours)),
        max_deletes=5,
    )
    assert reordered == plan
    assert [(a.connector, a.kind) for a in plan.actions] == [
        ("a", Result.CREATED),
        ("c", Result.UPDATED),
        ("z", Result.DELETED),  # enabled: "false"
        ("b", Result.DELETED),  # owned, no longer declared
    ]
    assert plan.kept_entries == ()  # d is owned but already gone: dropped


def test_disabled_deletes_and_prunes_count_together_against_the_limit() -> None:
    disabled = [desired(f"off{i}", enabled=False) for i in range(2)]
    plan = plan_target(
        "self-managed",
        disabled,
        {name: observed(name) for name in ("off0", "off1", "gone")},
        [owned("gone")],
        max_deletes=2,
    )
    assert plan.actions == ()
    assert plan.refused_deletes == ("gone", "off0", "off1")
    assert [e.connector for e in plan.kept_entries] == ["gone"]


def test_disabled_deletes_alone_above_the_limit_are_refused() -> None:
    disabled = [desired(f"off{i}", enabled=False) for i in range(3)]
    plan = plan_target(
        "self-managed",
        disabled,
        {c.name: observed(c.name) for c in disabled},
        [],
        max_deletes=2,
    )
    assert plan.actions == () and len(plan.refused_deletes) == 3


def test_an_owned_connector_someone_replaced_is_reported_not_pruned() -> None:
    entry = owned("mine")
    replaced = ObservedConnector(name="mine", config={"connector.class": "Other", "name": "mine"})
    plan = plan_target("self-managed", [], {"mine": replaced}, [entry])
    assert plan.actions == ()
    assert [r.connector for r in plan.replaced] == ["mine"]
    assert "'Other'" in plan.replaced[0].reason and "'X'" in plan.replaced[0].reason
    assert plan.kept_entries == (entry,)


def test_an_entry_without_a_class_is_checked_by_config_hash() -> None:
    connector = desired("old")
    legacy = LedgerEntry("self-managed", "old", "ns/cm", "old.json", connector.config_hash)
    same = plan_target("self-managed", [], {"old": observed("old")}, [legacy])
    assert kinds(same) == {"old": Result.DELETED}
    edited = plan_target("self-managed", [], {"old": observed("old", extra="1")}, [legacy])
    assert edited.actions == () and [r.connector for r in edited.replaced] == ["old"]


def test_a_contested_name_is_never_pruned() -> None:
    entry = owned("shared", cm="ns/previous-owner")
    plan = plan_target(
        "self-managed", [], {"shared": observed("shared")}, [entry], contested={"shared"}
    )
    assert plan.actions == () and plan.kept_entries == (entry,)


def test_a_declared_connector_listed_without_a_config_is_never_planned_from_it() -> None:
    # A server that ignores `expand` lists names only: that is not "everything changed".
    with pytest.raises(ValueError, match="carries no config for a"):
        plan_target(
            "self-managed",
            [desired("a")],
            {"a": ObservedConnector(name="a", config=None)},
            [],
        )


@pytest.mark.parametrize(
    ("declared", "live", "exists", "call"),
    [
        ("running", None, False, None),
        ("paused", None, False, Lifecycle.PAUSE),
        ("stopped", None, False, Lifecycle.STOP),
        ("running", "RUNNING", True, None),
        ("running", "PROVISIONING", True, None),
        ("running", "FAILED", True, None),
        ("running", "PAUSED", True, Lifecycle.RESUME),
        ("running", "STOPPED", True, Lifecycle.RESUME),
        ("paused", "RUNNING", True, Lifecycle.PAUSE),
        ("paused", "PROVISIONING", True, Lifecycle.PAUSE),
        ("paused", "PAUSED", True, None),
        ("stopped", "RUNNING", True, Lifecycle.STOP),
        ("stopped", "STOPPED", True, None),
        ("paused", None, True, None),  # the live state is unknown: do nothing
    ],
)
def test_the_lifecycle_call_makes_the_live_state_the_declared_one(
    declared: str, live: str | None, exists: bool, call: Lifecycle | None
) -> None:
    assert lifecycle_call(declared, live, exists) is call


def test_a_state_change_alone_is_an_update_without_config_keys() -> None:
    paused = ObservedConnector(name="a", config={"connector.class": "X"}, state="PAUSED")
    (action,) = plan_target("self-managed", [desired("a")], {"a": paused}, []).actions
    assert action.kind is Result.UPDATED
    assert action.changed_keys == () and action.lifecycle is Lifecycle.RESUME
    assert "state is PAUSED, declared running" in action.reason


def test_a_new_connector_declared_paused_is_created_then_paused() -> None:
    (action,) = plan_target("self-managed", [desired("a", state="paused")], {}, []).actions
    assert action.kind is Result.CREATED and action.lifecycle is Lifecycle.PAUSE


def test_an_unreadable_status_never_changes_the_state() -> None:
    broken = ObservedConnector(
        name="a", config={"connector.class": "X"}, status_problem="malformed status"
    )
    plan = plan_target("self-managed", [desired("a", state="paused")], {"a": broken}, [])
    assert kinds(plan) == {"a": Result.UNCHANGED}
