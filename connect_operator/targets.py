"""Where a connector goes: the self-managed Connect cluster or a Confluent Cloud cluster.

A ConfigMap without the `destination.cc` label goes to `CONNECT_URL`. With
`destination.cc=<name>`, it goes to Confluent Cloud's managed-connector API for the cluster that
ConfigMap `<name>` describes with its `environment_id` and `resource_id` labels. Target ids are
stable strings (`self-managed`, `confluent-cloud/<env>/<cluster>`) because the ledger stores them:
changing `CONNECT_URL` must not orphan what we own.

A cluster ConfigMap points the operator's Confluent Cloud credentials at a cluster, so it is
trusted only from the operator's own namespace and the namespaces listed in
`CONNECT_OPERATOR_CLUSTER_NAMESPACES`; one in any other watched namespace is ignored. Ids and
connector names go into URL paths, so each must be exactly one path segment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from connect_operator.binding import CLUSTER_LABELS, ConfigMapView
from connect_operator.errors import TargetError
from connect_operator.settings import Settings

DESTINATION_CC_LABEL = "destination.cc"
SELF_MANAGED = "self-managed"
_CC_PREFIX = "confluent-cloud/"
_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_path_segment(what: str, value: str) -> None:
    """TargetError unless the value can be exactly one URL path segment.

    Empty, `.` and `..` would address another resource (`DELETE /connectors/..` is `DELETE /`),
    and `/`, `\\` or control characters split or corrupt the path.
    """
    if value in ("", ".", "..") or "/" in value or "\\" in value or _CONTROL.search(value):
        raise TargetError(f"{what} {value!r} cannot be one URL path segment")


class TargetKind(str, Enum):
    """Which REST dialect a target speaks; the two differ in ways that matter.

    - `SELF_MANAGED`: Apache Kafka Connect. The list is expanded with repeated keys
      (`?expand=info&expand=status`); PUT answers 201 on create; DELETE answers 204.
    - `CONFLUENT_CLOUD`: the `connect/v1` API. The list is expanded with one comma-joined value
      (`?expand=info,status,id`); the PUT body must carry `name`; PUT answers 200 on create too;
      DELETE answers 200 with `{"error": null}`; values are masked and keys added by the server;
      any call may answer 429 with `Retry-After`; 401/403 mean the Cloud API key is wrong.
    """

    SELF_MANAGED = "self-managed"
    CONFLUENT_CLOUD = "confluent-cloud"


@dataclass(frozen=True)
class Target:
    """A Kafka Connect REST endpoint and how to talk to it."""

    id: str
    base_url: str
    auth: tuple[str, str] | None = None
    kind: TargetKind = TargetKind.SELF_MANAGED

    @property
    def server_rewrites_config(self) -> bool:
        """Confluent Cloud adds keys and masks secrets: compare those through the ledger hash."""
        return self.kind is TargetKind.CONFLUENT_CLOUD

    def __repr__(self) -> str:  # never show the credentials
        return f"Target(id={self.id!r}, base_url={self.base_url!r})"


def self_managed_target(settings: Settings) -> Target:
    """The Connect cluster at CONNECT_URL."""
    return Target(id=SELF_MANAGED, base_url=settings.connect_url)


def confluent_cloud_target(settings: Settings, environment_id: str, cluster_id: str) -> Target:
    """A Confluent Cloud cluster's managed-connector API; TargetError without credentials."""
    for label, value in (("environment_id", environment_id), ("resource_id", cluster_id)):
        check_path_segment(f"Confluent Cloud {label}", value)
        if not _ID.match(value):
            raise TargetError(f"Confluent Cloud {label} {value!r} is not a valid id")
    if not settings.confluent_cloud_key or not settings.confluent_cloud_secret:
        raise TargetError(
            "Confluent Cloud target needs CONNECT_REST_KEY and CONNECT_REST_SECRET to be set"
        )
    return Target(
        id=f"{_CC_PREFIX}{environment_id}/{cluster_id}",
        base_url=(
            f"{settings.confluent_cloud_api_url}/connect/v1/environments/{environment_id}"
            f"/clusters/{cluster_id}"
        ),
        auth=(settings.confluent_cloud_key, settings.confluent_cloud_secret),
        kind=TargetKind.CONFLUENT_CLOUD,
    )


def trusted_cluster_namespaces(settings: Settings) -> frozenset[str]:
    """Namespaces whose cluster ConfigMaps are believed: our own and the listed ones."""
    return frozenset({settings.own_namespace, *settings.cluster_namespaces})


def target_from_id(settings: Settings, target_id: str) -> Target:
    """Rebuild a target from a ledger id, so owned connectors can be pruned after the last
    ConfigMap that pointed at their cluster is gone."""
    if target_id == SELF_MANAGED:
        return self_managed_target(settings)
    if target_id.startswith(_CC_PREFIX):
        parts = target_id[len(_CC_PREFIX) :].split("/")
        if len(parts) == 2:
            return confluent_cloud_target(settings, parts[0], parts[1])
    raise TargetError(f"ledger names an unknown target {target_id!r}")


def target_for(
    configmap: ConfigMapView, clusters: Sequence[ConfigMapView], settings: Settings
) -> Target:
    """The target a connector ConfigMap declares, resolved against the cluster ConfigMaps."""
    cluster_name = configmap.labels.get(DESTINATION_CC_LABEL)
    if not cluster_name:
        return self_managed_target(settings)
    trusted = trusted_cluster_namespaces(settings)
    named = [c for c in clusters if c.name == cluster_name and c.namespace in trusted]
    same_namespace = [c for c in named if c.namespace == configmap.namespace]
    candidates = same_namespace or named
    if not candidates:
        raise TargetError(
            f"label {DESTINATION_CC_LABEL}={cluster_name} names no ConfigMap labelled "
            f"{' and '.join(CLUSTER_LABELS)} in a namespace trusted with cluster definitions "
            f"({', '.join(sorted(trusted))}; see CONNECT_OPERATOR_CLUSTER_NAMESPACES)"
        )
    if len(candidates) > 1:
        refs = ", ".join(c.ref for c in candidates)
        raise TargetError(
            f"label {DESTINATION_CC_LABEL}={cluster_name} is ambiguous: {refs}; "
            "put the cluster ConfigMap in the connector's namespace"
        )
    cluster = candidates[0]
    return confluent_cloud_target(
        settings, cluster.labels["environment_id"], cluster.labels["resource_id"]
    )
