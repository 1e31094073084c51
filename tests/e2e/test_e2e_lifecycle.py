"""The connector lifecycle under the real shell-operator, on a real API server and Kafka Connect.

Each test starts shell-operator on the project's ``hooks/`` in a namespace of its own, as the
project's ServiceAccount, and drives it only the way a user would: kubectl on ConfigMaps, and
Connect's REST API for what a person might do by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import EVERY_FIVE_SECONDS, HOOK_NAME, Deployment
from tests.e2e.runtime import REPO_ROOT

pytestmark = pytest.mark.e2e

SELF_MANAGED = "self-managed"
EXAMPLE_CONNECTORS = ("demo-file-source", "demo-file-sink")
EXAMPLE_DATA_DIR = Path("/tmp/connect-demo")


def test_shell_operator_accepts_the_hook_config_and_the_start_up_run_succeeds(
    deployment: Deployment,
) -> None:
    operator = deployment.start_operator()

    assert deployment.hook_successes() >= 1
    assert deployment.hook_errors() == 0
    # The start-up run wrote its metrics, which shell-operator applies only after an exit 0.
    assert deployment.hook_metric("connect_operator_declaration_errors") == 0
    assert deployment.hook_metrics("connect_operator_run_duration_seconds")
    log = operator.log_text()
    assert "Fatal" not in log
    assert "forbidden" not in log.lower()


def test_the_example_connectors_run_and_the_ledger_records_them(deployment: Deployment) -> None:
    # data.dir in k8s/examples/variables: the sink's task fails if it cannot create its file.
    EXAMPLE_DATA_DIR.mkdir(parents=True, exist_ok=True)
    deployment.start_operator()
    try:
        deployment.kube.kubectl(
            "apply", "-n", deployment.namespace, "-k", str(REPO_ROOT / "k8s/examples/connectors")
        )

        deployment.wait_running(*EXAMPLE_CONNECTORS)
        deployment.wait_owned(*EXAMPLE_CONNECTORS)
        assert deployment.connector_config("demo-file-source")["connector.owner"] == "platform-team"
        assert "forbidden" not in deployment.shell_operator.log_text().lower()
    finally:
        deployment.cleanup_connect(extra=EXAMPLE_CONNECTORS)


def test_changing_one_value_updates_only_that_connector(deployment: Deployment) -> None:
    first, second = f"{deployment.prefix}first", f"{deployment.prefix}second"
    configmap = f"{deployment.prefix}pair"
    deployment.start_operator()
    deployment.apply_connectors(configmap, {first: {}, second: {}})
    deployment.wait_running(first, second)
    deployment.wait_owned(first, second)
    position = deployment.log_position()

    deployment.apply_connectors(configmap, {first: {"topic": "changed"}, second: {}})

    deployment.wait_for(
        lambda: deployment.connector_config(first)["topic"] == "changed", "the new topic in Connect"
    )
    deployment.wait_running(first)
    deployment.wait_for(
        lambda: ("updated", first) in deployment.actions(position), "the update to be logged"
    )
    # Unchanged connectors are logged at debug level only: any other line names a write.
    assert deployment.actions(position) == [("updated", first)], deployment.explain()
    assert deployment.connector_config(second)["topic"] == f"{second}.lines", deployment.explain()


def test_enabled_false_deletes_the_connector(deployment: Deployment) -> None:
    name, configmap = f"{deployment.prefix}switched", f"{deployment.prefix}switched"
    deployment.start_operator()
    deployment.apply_connectors(configmap, {name: {}})
    deployment.wait_running(name)

    deployment.apply_connectors(configmap, {name: {}}, enabled="false")

    deployment.wait_absent(name)
    assert deployment.kube.configmap(deployment.namespace, configmap) is not None


def test_deleting_the_configmap_prunes_its_connectors(deployment: Deployment) -> None:
    names = (f"{deployment.prefix}one", f"{deployment.prefix}two")
    configmap = f"{deployment.prefix}doomed"
    deployment.start_operator()
    deployment.apply_connectors(configmap, {name: {} for name in names})
    deployment.wait_running(*names)
    deployment.wait_owned(*names)

    deployment.delete_configmap(configmap)

    deployment.wait_absent(*names)
    deployment.wait_for(
        lambda: not any(deployment.ledger_owns(name) for name in names),
        "the ledger to forget the pruned connectors",
    )


def test_a_connector_made_by_hand_is_left_alone(deployment: Deployment) -> None:
    by_hand, managed = f"{deployment.prefix}by-hand", f"{deployment.prefix}managed"
    configmap = f"{deployment.prefix}managed"
    deployment.put_by_hand(by_hand)
    config_by_hand = deployment.connector_config(by_hand)
    deployment.start_operator()
    deployment.apply_connectors(configmap, {managed: {}})
    deployment.wait_running(managed)

    deployment.delete_configmap(configmap)
    deployment.wait_absent(managed)

    assert by_hand in deployment.connectors()
    assert deployment.connector_config(by_hand) == config_by_hand
    assert not deployment.ledger_owns(by_hand)
    assert all(connector != by_hand for _, connector in deployment.actions())


def test_the_hook_metrics_are_served_on_metrics_hooks(deployment: Deployment) -> None:
    names = (f"{deployment.prefix}m1", f"{deployment.prefix}m2")
    # A run reports the states it observed before it acted: the resync after the creating run
    # is the first to see the connectors running.
    deployment.start_operator(RESYNC_SCHEDULE=EVERY_FIVE_SECONDS)
    deployment.apply_connectors(f"{deployment.prefix}metered", {name: {} for name in names})
    deployment.wait_running(*names)

    def running_metrics() -> bool:
        return all(
            deployment.hook_metric(
                "connect_operator_connector_running",
                target=SELF_MANAGED,
                connector=name,
                state="RUNNING",
            )
            == 1
            for name in names
        )

    deployment.wait_for(running_metrics, "connector_running metrics")
    assert deployment.hook_metric("connect_operator_target_up", target=SELF_MANAGED) == 1
    assert deployment.hook_metric("connect_operator_declaration_errors") == 0
    for name in names:
        assert (
            deployment.hook_metric(
                "connect_operator_connector_failed_tasks", target=SELF_MANAGED, connector=name
            )
            == 0
        )
    results = {
        sample.labels["result"]: sample.value
        for sample in deployment.hook_metrics("connect_operator_connectors")
    }
    assert set(results) == {"created", "updated", "unchanged", "deleted", "failed"}
    assert results["failed"] == 0
    duration = deployment.hook_metrics("connect_operator_run_duration_seconds")
    assert len(duration) == 1 and duration[0].value > 0
    # Besides the hooks' metrics, that registry serves only promhttp's own handler counters.
    served = deployment.shell_operator.metrics("/metrics/hooks")
    unlabelled = {sample.name for sample in served if sample.labels.get("hook") != HOOK_NAME}
    assert all(name.startswith("promhttp_") for name in unlabelled), unlabelled
