"""The whole plan for one target, field by field: every action's target, source, desired
connector, reason, changed keys and lifecycle call; what is refused, kept and reported replaced.

The table tests in test_plan.py check what kind of action each situation gives; these check
that nothing else in the plan is lost or mislabelled (mutation testing showed it could be), in
one target that holds every situation at once, with names ordered so that a loop that stopped
early would drop the connectors after it.
"""

from __future__ import annotations

from connect_operator.connect_client import ObservedConnector
from connect_operator.desired import DesiredConnector, Source
from connect_operator.ledger import LedgerEntry
from connect_operator.plan import (
    Action,
    Lifecycle,
    Replaced,
    Result,
    TargetPlan,
    not_what_we_applied,
    plan_target,
)
from connect_operator.templating import config_hash
from tests.unit.test_plan import TARGET
from tests.unit.test_plan import desired as declared

T = TARGET.id


def live(
    name: str, state: str | None = "RUNNING", problem: str | None = None, **config: str
) -> ObservedConnector:
    return ObservedConnector(
        name=name,
        config={"connector.class": "X", "name": name, **config},
        state=state,
        status_problem=problem,
    )


def entry(name: str, cm: str = "ns/old", klass: str = "X", hash_: str = "h") -> LedgerEntry:
    return LedgerEntry(T, name, cm, f"{name}.json", hash_, connector_class=klass)


def act(
    kind: Result,
    connector: DesiredConnector,
    reason: str,
    keys: tuple[str, ...] = (),
    lifecycle: Lifecycle | None = None,
) -> Action:
    return Action(kind, T, connector.name, reason, connector.source, connector, keys, lifecycle)


def prune(name: str, cm: str = "ns/old") -> Action:
    return Action(
        Result.DELETED,
        T,
        name,
        f"no longer declared by ConfigMap {cm} key {name}.json",
        Source(cm, f"{name}.json"),
    )


# Declared connectors, one per situation.
A = declared("a")
AP = declared("ap", state="paused")
C = declared("c", topics="new")
M = declared("m", topics="t")
S = declared("s", state="paused", topics="t")
SP = declared("sp", state="paused", topics="t")
U = declared("u", topics="new")
Z = declared("z", enabled=False, cm="ns/off")
ZZ = declared("zz", enabled=False, cm="ns/off")
DUP_ON = declared("dup", cm="ns/on")
DUP_OFF = declared("dup", enabled=False, cm="ns/off")
OBSERVED = {
    "c": live("c", state="PAUSED", topics="old"),
    "dup": live("dup"),
    "m": live("m", topics="t"),
    "s": live("s", topics="t"),
    "sp": live("sp", state="RUNNING", problem="malformed status", topics="t"),
    "u": live("u", topics="old"),
    "z": live("z"),
    # owned, no longer declared
    "p-prune": live("p-prune"),
    "q-prune": live("q-prune"),
    "h-hashed": live("h-hashed"),
    "k-broken": live("k-broken"),
    "r-replaced": live("r-replaced", **{"connector.class": "Other"}),
    "r-classless": ObservedConnector(name="r-classless", config={"topics": "t"}),
    "r-unreadable": ObservedConnector(name="r-unreadable", config=None),
    "r-rehashed": live("r-rehashed", topics="changed"),
}
# Hash of the config as Connect shows it, name included: an entry written before classes were.
HASHED = config_hash({"connector.class": "X", "name": "h-hashed"})
OWNED = [
    entry("b-gone"),  # owned, undeclared and already gone: dropped, and the loop goes on
    entry("c", cm="ns/cm"),  # declared: not a prune candidate
    entry("h-hashed", klass="", hash_=HASHED),
    entry("k-broken", cm="ns/broken"),
    entry("p-prune"),
    entry("q-prune"),
    entry("r-classless"),
    entry("r-rehashed", klass="", hash_="sha256:not-this-one"),
    entry("r-replaced"),
    entry("r-unreadable"),
]
BROKEN = frozenset({Source("ns/broken", "k-broken.json")})
DESIRED = [A, AP, C, DUP_OFF, DUP_ON, M, S, SP, U, Z, ZZ]
REPLACED = (
    Replaced(
        "r-classless", Source("ns/old", "r-classless.json"), "its class is now '', we applied 'X'"
    ),
    Replaced(
        "r-rehashed", Source("ns/old", "r-rehashed.json"), "its config is not the one we applied"
    ),
    Replaced(
        "r-replaced",
        Source("ns/old", "r-replaced.json"),
        "its class is now 'Other', we applied 'X'",
    ),
    Replaced(
        "r-unreadable",
        Source("ns/old", "r-unreadable.json"),
        "its config cannot be read, so it cannot be checked to be ours",
    ),
)
KEPT = (
    entry("k-broken", cm="ns/broken"),
    entry("r-classless"),
    entry("r-rehashed", klass="", hash_="sha256:not-this-one"),
    entry("r-replaced"),
    entry("r-unreadable"),
)
UPSERTS = (
    act(Result.CREATED, A, "declared and missing"),
    act(Result.CREATED, AP, "declared and missing, then paused", lifecycle=Lifecycle.PAUSE),
    act(Result.UPDATED, C, "config differs, and state is PAUSED", ("topics",), Lifecycle.RESUME),
    act(Result.UNCHANGED, DUP_ON, "config matches"),
    act(Result.UNCHANGED, M, "config matches"),
    act(Result.UPDATED, S, "state is RUNNING, declared paused", lifecycle=Lifecycle.PAUSE),
    # Its status could not be read: its state is unknown, so no lifecycle call is made.
    act(Result.UNCHANGED, SP, "config matches"),
    act(Result.UPDATED, U, "config differs", ("topics",)),
)


def test_every_field_of_a_plan_that_holds_every_situation() -> None:
    plan = plan_target(T, DESIRED, OBSERVED, OWNED, broken_sources=BROKEN, max_deletes=10)
    assert plan == TargetPlan(
        target_id=T,
        actions=(
            *UPSERTS,
            act(Result.DELETED, Z, 'label enabled is "false"'),
            prune("h-hashed"),
            prune("p-prune"),
            prune("q-prune"),
        ),
        refused_deletes=(),
        kept_entries=KEPT,
        replaced=REPLACED,
    )


def test_refused_deletes_keep_every_entry_and_still_report_what_was_replaced() -> None:
    plan = plan_target(T, DESIRED, OBSERVED, OWNED, broken_sources=BROKEN, max_deletes=3)
    assert plan == TargetPlan(
        target_id=T,
        actions=UPSERTS,
        refused_deletes=("h-hashed", "p-prune", "q-prune", "z"),
        kept_entries=tuple(
            sorted(
                {
                    *KEPT,
                    entry("h-hashed", klass="", hash_=HASHED),
                    entry("p-prune"),
                    entry("q-prune"),
                }
            )
        ),
        replaced=REPLACED,
    )


def test_a_key_only_the_server_has_is_an_update_on_self_managed_connect_by_default() -> None:
    wanted = declared("e", topics="t")
    observed = {"e": live("e", topics="t", **{"errors.tolerance": "all"})}
    # Applied as is last time: only a server that adds defaults may explain the extra key.
    owned = [entry("e", cm="ns/cm", hash_=wanted.config_hash)]
    (action,) = plan_target(T, [wanted], observed, owned).actions
    assert (action.kind, action.changed_keys) == (Result.UPDATED, ("errors.tolerance",))
    (action,) = plan_target(T, [wanted], observed, owned, server_rewrites_config=True).actions
    assert (action.kind, action.changed_keys) == (Result.UNCHANGED, ())


def test_an_entry_without_a_class_matches_a_live_config_hashed_with_or_without_its_name() -> None:
    observed = live("n")
    bare = config_hash({"connector.class": "X"})
    named = config_hash({"connector.class": "X", "name": "n"})
    for recorded in (bare, named):
        assert not_what_we_applied(entry("n", klass="", hash_=recorded), observed) == ""
    other = config_hash({"connector.class": "X", "name": "someone-else"})
    assert not_what_we_applied(entry("n", klass="", hash_=other), observed) != ""
