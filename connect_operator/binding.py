"""shell-operator's side of the contract: the bindings we declare and the contexts we read.

`binding_configuration(settings)` is what `hooks/connect-operator --config` prints: one group,
`connectors`, holding the connector ConfigMaps (events and snapshots), the Confluent Cloud cluster
ConfigMaps and the ownership ledger (snapshots only), and a schedule for the periodic resync.
Every run of a grouped binding carries the full snapshot, so a Synchronization, an Event and the
resync all reconcile the whole state.

`read_binding_context(text, settings)` turns the binding-context file into a `ClusterView`. It
walks every element of the array, whatever its type, keeps the newest snapshot of each binding,
and falls back to Synchronization objects or Event objects when a context has no snapshots.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connect_operator.errors import BindingContextError, SettingsError
from connect_operator.settings import Settings

GROUP = "connectors"
CONNECTORS_BINDING = "connectors"
CLUSTERS_BINDING = "confluent-cloud-clusters"
LEDGER_BINDING = "ledger"
SCHEDULE_BINDING = "resync"
RETRY_BINDING = "retry"
CLUSTER_LABELS = ("environment_id", "resource_id")
# How many ConfigMaps the ledger spreads its entries over (one holds 1 MiB).
LEDGER_SHARDS = 32

# Only what a reconcile reads: changes elsewhere (resourceVersion, status, annotations, managed
# fields) leave the filter result unchanged, and shell-operator then suppresses the event.
CONFIGMAP_JQ_FILTER = (
    '{namespace: .metadata.namespace, name: .metadata.name, uid: (.metadata.uid // ""),'
    " labels: (.metadata.labels // {}), data: (.data // {})}"
)


@dataclass(frozen=True)
class ConfigMapView:
    """The parts of a ConfigMap that a reconcile reads."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, str] = field(default_factory=dict)
    # The object's uid, which Events on it carry ("" when unknown); it never changes, so the
    # jqFilter's checksum, and whether a run is triggered, does not depend on it.
    uid: str = ""

    @property
    def ref(self) -> str:
        """`namespace/name`, the way logs and the ledger name a ConfigMap."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ClusterView:
    """What one run knows about Kubernetes, read from the binding contexts.

    `connector_configmaps` is None when no context carried the full set (e.g. only onStartup);
    then `scope` lists the ConfigMaps seen in events, and only they may be reconciled.
    """

    connector_configmaps: tuple[ConfigMapView, ...] | None
    cluster_configmaps: tuple[ConfigMapView, ...]
    # The ledger's ConfigMaps (its own name and its shards) found in the snapshot.
    ledgers: tuple[ConfigMapView, ...]
    ledger_known: bool
    # For event-only runs: ConfigMap refs named by events; deleted ones are absent from
    # `connector_configmaps_in_scope`.
    scope: frozenset[str] | None = None
    connector_configmaps_in_scope: tuple[ConfigMapView, ...] = ()
    context_types: tuple[str, ...] = ()
    context_bindings: tuple[str, ...] = ()

    @property
    def only_retry_ticks(self) -> bool:
        """True when every context is a tick of the `retry` schedule."""
        return bool(self.context_bindings) and set(self.context_bindings) == {RETRY_BINDING}

    def inputs_digest(self) -> str:
        """A digest of every connector and cluster ConfigMap: what a reconcile depends on,
        besides the variables files and Connect itself."""
        document = [
            [[cm.namespace, cm.name, dict(cm.labels), dict(cm.data)] for cm in group]
            for group in (self.declared_configmaps(), self.cluster_configmaps)
        ]
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def is_full(self) -> bool:
        """True when the run saw every connector ConfigMap, so it may prune."""
        return self.connector_configmaps is not None

    def declared_configmaps(self) -> tuple[ConfigMapView, ...]:
        """The connector ConfigMaps this run reconciles."""
        if self.connector_configmaps is not None:
            return self.connector_configmaps
        return self.connector_configmaps_in_scope


def label_selector(selector: str) -> dict[str, Any]:
    """Turn a kubectl-style selector (`a=b,c!=d,e in (f,g),!h`) into a labelSelector."""
    match_labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    for requirement in _split_requirements(selector):
        set_match = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", requirement)
        if set_match:
            key, operator, values = set_match.groups()
            expressions.append(
                {
                    "key": key,
                    "operator": "In" if operator == "in" else "NotIn",
                    "values": sorted(v.strip() for v in values.split(",") if v.strip()),
                }
            )
        elif match := re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", requirement):
            key, operator, value = match.groups()
            if operator == "!=":
                expressions.append({"key": key, "operator": "NotIn", "values": [value]})
            else:
                match_labels[key] = value
        elif match := re.fullmatch(r"!\s*([\w./-]+)", requirement):
            expressions.append({"key": match.group(1), "operator": "DoesNotExist"})
        elif re.fullmatch(r"[\w./-]+", requirement):
            expressions.append({"key": requirement, "operator": "Exists"})
        else:
            raise SettingsError(
                f"CONNECTOR_LABEL_SELECTOR has a requirement we cannot read: {requirement!r}"
            )
    result: dict[str, Any] = {}
    if match_labels:
        result["matchLabels"] = match_labels
    if expressions:
        result["matchExpressions"] = expressions
    if not result:
        raise SettingsError("CONNECTOR_LABEL_SELECTOR is empty; it would select every ConfigMap")
    return result


def _split_requirements(selector: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def ledger_configmap_names(settings: Settings) -> tuple[str, ...]:
    """The ledger's own ConfigMap and its shards: `<name>`, `<name>-1`, ... (see ledger.py)."""
    return ledger_shard_names(settings.ledger_name)


def ledger_shard_names(ledger_name: str) -> tuple[str, ...]:
    """`<name>`, `<name>-1`, ... `<name>-31`: where the ledger's entries may live."""
    return (ledger_name, *(f"{ledger_name}-{index}" for index in range(1, LEDGER_SHARDS)))


def binding_configuration(settings: Settings) -> dict[str, Any]:
    """The shell-operator v1 configuration printed on `--config`."""
    watched: dict[str, Any] = {}
    if settings.watch_namespaces is not None:
        watched = {"namespace": {"nameSelector": {"matchNames": list(settings.watch_namespaces)}}}
    snapshot_only = {"executeHookOnEvent": [], "executeHookOnSynchronization": False}
    return {
        "configVersion": "v1",
        "kubernetes": [
            {
                "name": CONNECTORS_BINDING,
                "group": GROUP,
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "executeHookOnEvent": ["Added", "Modified", "Deleted"],
                "labelSelector": label_selector(settings.label_selector),
                "jqFilter": CONFIGMAP_JQ_FILTER,
                **watched,
            },
            {
                "name": CLUSTERS_BINDING,
                "group": GROUP,
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "labelSelector": {
                    "matchExpressions": [
                        {"key": label, "operator": "Exists"} for label in CLUSTER_LABELS
                    ]
                },
                "jqFilter": CONFIGMAP_JQ_FILTER,
                **snapshot_only,
                **watched,
            },
            {
                "name": LEDGER_BINDING,
                "group": GROUP,
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "nameSelector": {"matchNames": list(ledger_configmap_names(settings))},
                "namespace": {"nameSelector": {"matchNames": [settings.own_namespace]}},
                "jqFilter": CONFIGMAP_JQ_FILTER,
                **snapshot_only,
            },
        ],
        "schedule": [
            {"name": SCHEDULE_BINDING, "group": GROUP, "crontab": settings.resync_schedule},
            # Reconciles again soon after a temporary failure (see hook.py); otherwise a tick
            # that finds nothing to retry and nothing changed returns at once.
            {"name": RETRY_BINDING, "group": GROUP, "crontab": settings.retry_schedule},
        ],
    }


def read_binding_context(text: str, settings: Settings) -> ClusterView:
    """Parse the binding-context file into what this run knows; BindingContextError if bad."""
    try:
        contexts = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BindingContextError(f"binding context is not JSON: {exc}") from None
    if isinstance(contexts, dict):
        contexts = [contexts]  # lenient: a single context written by hand
    if not isinstance(contexts, list):
        raise BindingContextError("binding context must be a JSON array of contexts")

    latest: dict[str, list[ConfigMapView]] = {}
    events: dict[str, ConfigMapView | None] = {}
    types: list[str] = []
    bindings: list[str] = []
    for index, context in enumerate(contexts):
        where = f"binding context [{index}]"
        if not isinstance(context, dict) or "binding" not in context:
            raise BindingContextError(f"{where} is not an object with a 'binding'")
        context_type = str(context.get("type", context["binding"]))
        types.append(context_type)
        bindings.append(str(context["binding"]))
        snapshots = context.get("snapshots")
        if snapshots is not None:
            if not isinstance(snapshots, dict):
                raise BindingContextError(f"{where}: 'snapshots' must be an object")
            for binding, items in snapshots.items():
                if binding in (CONNECTORS_BINDING, CLUSTERS_BINDING, LEDGER_BINDING):
                    latest[binding] = _configmaps(items, f"{where}.snapshots.{binding}")
        binding = context["binding"]
        if context_type == "Synchronization" and binding in (
            CONNECTORS_BINDING,
            CLUSTERS_BINDING,
            LEDGER_BINDING,
        ):
            latest[binding] = _configmaps(context.get("objects", []), f"{where}.objects")
        elif context_type == "Event" and binding == CONNECTORS_BINDING:
            configmap = _configmap(context, f"{where}")
            if configmap is not None:
                deleted = context.get("watchEvent") == "Deleted"
                events[configmap.ref] = None if deleted else configmap

    names = ledger_configmap_names(settings)
    ledgers = [
        configmap
        for configmap in latest.get(LEDGER_BINDING, [])
        if configmap.name in names and configmap.namespace == settings.own_namespace
    ]
    full = latest.get(CONNECTORS_BINDING)
    return ClusterView(
        connector_configmaps=tuple(full) if full is not None else None,
        cluster_configmaps=tuple(latest.get(CLUSTERS_BINDING, [])),
        ledgers=tuple(ledgers),
        ledger_known=LEDGER_BINDING in latest,
        scope=None if full is not None else frozenset(events),
        connector_configmaps_in_scope=tuple(cm for cm in events.values() if cm is not None),
        context_types=tuple(types),
        context_bindings=tuple(bindings),
    )


def _configmaps(items: Any, where: str) -> list[ConfigMapView]:
    if not isinstance(items, list):
        raise BindingContextError(f"{where} must be a list")
    found = []
    for index, item in enumerate(items):
        configmap = _configmap(item, f"{where}[{index}]")
        if configmap is None:
            raise BindingContextError(
                f"{where}[{index}] has neither 'object' nor 'filterResult' with a ConfigMap"
            )
        found.append(configmap)
    return sorted(found, key=lambda cm: (cm.namespace, cm.name))


def _configmap(item: Any, where: str) -> ConfigMapView | None:
    """Read a ConfigMap from an item's full `object`, else from our jqFilter's result."""
    if not isinstance(item, dict):
        raise BindingContextError(f"{where} must be an object")
    source = item.get("object")
    if isinstance(source, dict):
        metadata = source.get("metadata") or {}
        fields = {
            "namespace": metadata.get("namespace"),
            "name": metadata.get("name"),
            "labels": metadata.get("labels"),
            "data": source.get("data"),
            "uid": metadata.get("uid"),
        }
    elif isinstance(item.get("filterResult"), dict):
        fields = item["filterResult"]
    else:
        return None
    name = fields.get("name")
    if not isinstance(name, str) or not name:
        raise BindingContextError(f"{where}: ConfigMap has no metadata.name")
    namespace = fields.get("namespace") or "default"
    labels = fields.get("labels") or {}
    data = fields.get("data") or {}
    if not isinstance(labels, dict) or not isinstance(data, dict):
        raise BindingContextError(f"{where}: labels and data must be objects")
    return ConfigMapView(
        namespace=str(namespace),
        name=name,
        labels={str(k): str(v) for k, v in labels.items()},
        data={str(k): str(v) for k, v in data.items()},
        uid=str(fields.get("uid") or ""),
    )
