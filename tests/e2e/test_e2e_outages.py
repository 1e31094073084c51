"""Outages reported per target, as real shell-operator serves them.

shell-operator applies a run's metrics and ledger patch only when the hook exits 0. These tests
hold the operator to what the project promises on top of that: while the self-managed Connect is
down, ``connect_operator_target_up`` is 0 in what shell-operator serves; and a second target that
fails (a Confluent Cloud cluster on a closed loopback port) neither orphans the connectors
created and deleted meanwhile on the healthy one nor hides its ledger and metrics.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import EVERY_FIVE_SECONDS, Deployment
from tests.e2e.runtime import free_port
from tests.kafka import cluster

pytestmark = pytest.mark.e2e

SELF_MANAGED = "self-managed"


@pytest.fixture
def workers_restored(connect_cluster: cluster.ClusterInfo) -> Iterator[None]:
    """Both Connect workers are started again after the test, whatever it stopped."""
    yield
    cluster.start_all_workers()


def test_an_outage_of_connect_is_visible_in_the_metrics_and_converges_after(
    deployment: Deployment, workers_restored: None
) -> None:
    before, during = f"{deployment.prefix}before", f"{deployment.prefix}during"
    deployment.start_operator(RESYNC_SCHEDULE=EVERY_FIVE_SECONDS)
    deployment.apply_connectors(before, {before: {}})
    deployment.wait_running(before)
    deployment.wait_for(
        lambda: deployment.hook_metric("connect_operator_target_up", target=SELF_MANAGED) == 1,
        "connect_operator_target_up 1",
    )

    cluster.stop_all_workers()
    deployment.apply_connectors(during, {during: {}})

    deployment.wait_for(
        lambda: deployment.hook_metric("connect_operator_target_up", target=SELF_MANAGED) == 0,
        "connect_operator_target_up 0 on /metrics/hooks while Connect is down",
    )
    assert not deployment.ledger_owns(during)

    cluster.start_all_workers()

    deployment.wait_running(before, during, timeout=120)
    deployment.wait_owned(before, during)
    deployment.wait_for(
        lambda: deployment.hook_metric("connect_operator_target_up", target=SELF_MANAGED) == 1,
        "connect_operator_target_up 1 once Connect is back",
    )


def test_a_failing_second_target_orphans_nothing_and_hides_nothing_of_the_healthy_one(
    deployment: Deployment,
) -> None:
    canary = "canary-cloud-secret-5b1f0c"
    deployment.start_operator(
        CONFLUENT_CLOUD_API_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        CONNECT_REST_KEY="canary-cloud-key",
        CONNECT_REST_SECRET=canary,
    )
    cloud_cluster = f"{deployment.prefix}cc-cluster"
    deployment.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        f"  name: {cloud_cluster}\n"
        "  labels: {environment_id: env-e2e, resource_id: lkc-e2e}\n"
        "data: {description: a Confluent Cloud cluster on a closed port}\n"
    )
    deployment.apply_connectors(
        f"{deployment.prefix}cloud",
        {f"{deployment.prefix}in-the-cloud": {}},
        labels={"destination.cc": cloud_cluster},
    )
    kept, created_then_deleted = f"{deployment.prefix}kept", f"{deployment.prefix}transient"

    deployment.apply_connectors(f"{deployment.prefix}kept", {kept: {}})
    deployment.apply_connectors(f"{deployment.prefix}transient", {created_then_deleted: {}})
    deployment.wait_running(kept, created_then_deleted)
    deployment.wait_owned(kept, created_then_deleted)
    deployment.delete_configmap(f"{deployment.prefix}transient")

    deployment.wait_absent(created_then_deleted)
    deployment.wait_for(
        lambda: not deployment.ledger_owns(created_then_deleted),
        "the ledger to forget the pruned connector",
    )
    assert deployment.ledger_owns(kept)
    assert deployment.connector_state(kept) == "RUNNING"
    assert deployment.hook_metric("connect_operator_target_up", target=SELF_MANAGED) == 1
    assert (
        deployment.hook_metric(
            "connect_operator_target_up", target="confluent-cloud/env-e2e/lkc-e2e"
        )
        == 0
    )
    assert canary not in deployment.shell_operator.log_text()
