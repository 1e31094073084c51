"""Faults and races under the real shell-operator: what its runtime does that a stand-in hides.

Real shell-operator discards a failed run's outputs, has no read-your-writes for the ledger and
retries with back-off. These tests kill shell-operator, delete a connector behind its back, race
ConfigMap deletions against ledger writes, and run the hook through a symlink (outages of Connect
are in test_e2e_outages.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import EVERY_FIVE_SECONDS, PROJECT_HOOKS, Deployment

pytestmark = pytest.mark.e2e

SELF_MANAGED = "self-managed"


def test_a_configmap_deleted_while_shell_operator_was_down_is_pruned_at_start_up(
    deployment: Deployment,
) -> None:
    kept, pruned = f"{deployment.prefix}kept", f"{deployment.prefix}pruned"
    deployment.start_operator()
    deployment.apply_connectors(f"{deployment.prefix}kept", {kept: {}})
    deployment.apply_connectors(f"{deployment.prefix}pruned", {pruned: {}})
    deployment.wait_running(kept, pruned)
    deployment.wait_owned(kept, pruned)

    deployment.shell_operator.stop(kill=True)
    deployment.delete_configmap(f"{deployment.prefix}pruned")
    position = deployment.log_position()
    deployment.restart_operator()

    deployment.wait_absent(pruned)
    assert ("deleted", pruned) in deployment.actions(position)
    assert deployment.connector_state(kept) == "RUNNING"
    # With a five-minute schedule, the only run of the new process is its start-up run.
    assert deployment.hook_successes() == 1


def test_a_connector_deleted_by_hand_in_connect_is_recreated_by_the_schedule(
    deployment: Deployment,
) -> None:
    name = f"{deployment.prefix}resilient"
    deployment.start_operator(RESYNC_SCHEDULE=EVERY_FIVE_SECONDS)
    deployment.apply_connectors(f"{deployment.prefix}resilient", {name: {}})
    deployment.wait_running(name)
    deployment.wait_owned(name)
    deployment.wait_for(
        lambda: ("created", name) in deployment.actions(), "the creation's log line"
    )
    position = deployment.log_position()

    deployment.delete_from_connect(name)

    def recreations() -> list[dict[str, object]]:
        return [
            record
            for record in deployment.hook_log(position)
            if record.get("hook_action") == "created" and record.get("hook_connector") == name
        ]

    deployment.wait_for(recreations, "the connector to be created again")
    deployment.wait_running(name)
    # No ConfigMap changed: a scheduled run (the resync, or the hook's retry schedule) found it
    # missing.
    assert {record.get("event") for record in recreations()} == {"schedule"}
    assert deployment.ledger_owns(name)


def test_the_stale_ledger_race_never_leaves_a_connector_unowned(deployment: Deployment) -> None:
    """Create a ConfigMap, delete it a fraction of a second later, again and again: whatever
    the hook created in between must end up pruned, even when a run sees the ledger as it was
    before the previous run wrote it."""
    deployment.start_operator(RESYNC_SCHEDULE=EVERY_FIVE_SECONDS)
    names = [f"{deployment.prefix}race-{round_}" for round_ in range(8)]
    for name in names:
        deployment.apply_connectors(name, {name: {}})
        time.sleep(0.4)
        deployment.delete_configmap(name)
        time.sleep(0.2)

    deployment.wait_absent(*names, timeout=90)
    deployment.wait_for(
        lambda: not any(deployment.ledger_owns(name) for name in names),
        "the ledger to own none of the raced connectors",
    )


def test_the_hook_runs_through_a_symlink_to_hooks_connect_operator(
    deployment: Deployment, tmp_path: Path
) -> None:
    hooks_dir = tmp_path / "hooks"
    hooks_dir.mkdir()
    (hooks_dir / "connect-operator").symlink_to(PROJECT_HOOKS / "connect-operator")
    name = f"{deployment.prefix}linked"

    deployment.start_operator(hooks_dir=hooks_dir)
    deployment.apply_connectors(f"{deployment.prefix}linked", {name: {}})

    deployment.wait_running(name)
    deployment.wait_owned(name)
