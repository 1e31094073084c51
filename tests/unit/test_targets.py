"""Targets: which cluster ConfigMaps are trusted, and ids that must be one path segment."""

from __future__ import annotations

import pytest

from connect_operator.binding import ConfigMapView
from connect_operator.errors import TargetError
from connect_operator.settings import Settings
from connect_operator.targets import target_for, target_from_id

SETTINGS = Settings(
    own_namespace="ops",
    watch_namespaces=None,
    confluent_cloud_key="key",
    confluent_cloud_secret="secret",
)


def cluster(namespace: str, environment: str = "env-1", resource: str = "lkc-1") -> ConfigMapView:
    labels = {"environment_id": environment, "resource_id": resource}
    return ConfigMapView(namespace, "orders-cluster", labels, {})


def connector_configmap(namespace: str) -> ConfigMapView:
    return ConfigMapView(namespace, "cm", {"destination.cc": "orders-cluster"}, {})


def test_a_cluster_configmap_in_the_operators_namespace_is_trusted() -> None:
    target = target_for(connector_configmap("team"), [cluster("ops")], SETTINGS)
    assert target.id == "confluent-cloud/env-1/lkc-1"


def test_a_cluster_configmap_in_another_watched_namespace_is_ignored() -> None:
    planted = cluster("team", environment="env-attacker", resource="lkc-attacker")
    with pytest.raises(TargetError, match="CONNECT_OPERATOR_CLUSTER_NAMESPACES"):
        target_for(connector_configmap("team"), [planted], SETTINGS)
    # ...and cannot make the trusted one ambiguous either.
    target = target_for(connector_configmap("other"), [planted, cluster("ops")], SETTINGS)
    assert target.id == "confluent-cloud/env-1/lkc-1"


def test_a_listed_namespace_is_trusted() -> None:
    settings = Settings(**{**SETTINGS.__dict__, "cluster_namespaces": ("team",)})
    target = target_for(connector_configmap("team"), [cluster("team", "env-t", "lkc-t")], settings)
    assert target.id == "confluent-cloud/env-t/lkc-t"


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b"])
def test_ids_that_are_not_one_path_segment_are_refused(bad: str) -> None:
    with pytest.raises(TargetError):
        target_for(connector_configmap("ops"), [cluster("ops", environment=bad)], SETTINGS)
    with pytest.raises(TargetError):
        target_from_id(SETTINGS, f"confluent-cloud/env-1/{bad}")
