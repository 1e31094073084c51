"""Kubernetes manifests on disk: read YAML streams, files and folders, and pick what the hook reads.

`connect-operator plan` sees the same ConfigMaps the hook would see in its snapshot, but from
files (a `kustomize build` on stdin, a file, a folder) instead of the API server:

- `read_manifests(sources, stdin)` reads every object of every YAML document, in order, with
  the file and line it came from. `-` is stdin; a folder is read recursively (`*.yaml`, `*.yml`,
  `*.json`, skipping dot entries), in sorted order. A `List` (as `kubectl get -o yaml` prints
  several objects) is expanded into its items. Text that is not YAML is a `ManifestError`
  naming the file and line.
- `select_snapshot(objects, settings, ...)` applies the hook's own bindings
  (`binding_configuration`): the connector ConfigMaps (`CONNECTOR_LABEL_SELECTOR`, in the
  watched namespaces) and the Confluent Cloud cluster ConfigMaps, then keeps what the hook's
  jqFilter keeps (namespace, name, labels, data). Every other object is ignored. A ConfigMap the
  API server would refuse (a label or data value that is not a string, such as an unquoted
  `enabled: true`) is a `ManifestError` with its file and line, since it could never be applied.
- `ledger_configmaps(objects, ledger_name)` picks the ledger's ConfigMaps (its own name and
  shards) from `kubectl get cm ... -o yaml` output.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from connect_operator.binding import (
    CLUSTERS_BINDING,
    CONNECTORS_BINDING,
    ConfigMapView,
    binding_configuration,
    ledger_shard_names,
)
from connect_operator.errors import ManifestError
from connect_operator.settings import Settings

log = logging.getLogger(__name__)

STDIN = "-"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_LIST_KINDS = ("List", "ConfigMapList")


@dataclass(frozen=True)
class ManifestObject:
    """One Kubernetes object as written, and where: `origin` is `file:line`."""

    document: Mapping[str, Any]
    origin: str
    # Lines of `metadata.labels.<x>` and `data.<x>` values, for errors that point at them.
    lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """`kind`, or "" when the document has none."""
        kind = self.document.get("kind")
        return kind if isinstance(kind, str) else ""

    @property
    def is_configmap(self) -> bool:
        """True for a core `v1` ConfigMap."""
        return self.kind == "ConfigMap" and self.document.get("apiVersion") == "v1"

    def where(self, path: str) -> str:
        """`file:line` of a field (`data.k`, `metadata.labels.k`), else of the object."""
        line = self.lines.get(path)
        if line is None:
            return self.origin
        return f"{self.origin.rsplit(':', 1)[0]}:{line}"


@dataclass(frozen=True)
class Snapshot:
    """What the hook's bindings would select from the manifests."""

    connectors: tuple[ConfigMapView, ...]
    clusters: tuple[ConfigMapView, ...]
    # ConfigMaps that match the connector selector but sit in a namespace the hook does not
    # watch: reported, because silently planning nothing for them would mislead.
    unwatched: tuple[ConfigMapView, ...] = ()
    ignored_objects: int = 0


def read_manifests(sources: Sequence[str], stdin: TextIO) -> list[ManifestObject]:
    """Every object in the sources, in order; ManifestError for what cannot be read."""
    objects: list[ManifestObject] = []
    for source in sources:
        if source == STDIN:
            objects += parse_stream(stdin.read(), "<stdin>")
            continue
        path = Path(source)
        if path.is_dir():
            files = _manifest_files(path)
            if not files:
                raise ManifestError(f"{source}: folder holds no *.yaml, *.yml or *.json file")
        elif path.is_file():
            files = [path]
        else:
            raise ManifestError(f"{source}: no such file or folder")
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ManifestError(f"{file}: cannot be read: {exc}") from None
            objects += parse_stream(text, str(file))
    return objects


def _manifest_files(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix in MANIFEST_SUFFIXES:
            found.append(path)
    return found


def parse_stream(text: str, name: str) -> list[ManifestObject]:
    """The objects of a multi-document YAML stream; `List`s are expanded into their items."""
    objects: list[ManifestObject] = []
    for line, node, document in _documents(text, name):
        if document is None:
            continue
        origin = f"{name}:{line}"
        if not isinstance(document, dict):
            log.warning("%s: not a Kubernetes object (a %s); ignored", origin, _type(document))
            continue
        if document.get("kind") in _LIST_KINDS and "items" in document:
            items = document.get("items") or []
            item_nodes = _value_node(node, "items")
            if not isinstance(items, list):
                raise ManifestError(f"{origin}: {document['kind']}.items must be a list")
            for index, item in enumerate(items):
                item_node = (
                    item_nodes.value[index] if isinstance(item_nodes, yaml.SequenceNode) else None
                )
                item_line = item_node.start_mark.line + 1 if item_node is not None else line
                if isinstance(item, dict):
                    objects.append(
                        ManifestObject(item, f"{name}:{item_line}", _field_lines(item_node))
                    )
            continue
        objects.append(ManifestObject(document, origin, _field_lines(node)))
    return objects


def _documents(text: str, name: str) -> Iterator[tuple[int, yaml.Node | None, Any]]:
    """(first line, node, value) of each document; ManifestError with the line on bad YAML."""
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else 1
            yield line, node, loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ManifestError(f"{where}: not valid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"{name}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def _value_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found: yaml.Node = value_node
            return found
    return None


def _field_lines(node: yaml.Node | None) -> dict[str, int]:
    """Lines of the label and data values, so an error can point at the one that is wrong."""
    lines: dict[str, int] = {}
    for path, parent in (
        ("data", _value_node(node, "data")),
        ("metadata.labels", _value_node(_value_node(node, "metadata"), "labels")),
    ):
        if isinstance(parent, yaml.MappingNode):
            for key_node, value_node in parent.value:
                if isinstance(key_node, yaml.ScalarNode):
                    lines[f"{path}.{key_node.value}"] = value_node.start_mark.line + 1
    return lines


def _type(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return "string" if isinstance(value, str) else type(value).__name__


def configmap_view(obj: ManifestObject, default_namespace: str) -> ConfigMapView:
    """What the hook's jqFilter keeps of a ConfigMap: namespace, name, labels and data."""
    metadata = obj.document.get("metadata")
    if not isinstance(metadata, dict):
        raise ManifestError(f"{obj.origin}: ConfigMap has no metadata")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{obj.origin}: ConfigMap has no metadata.name")
    namespace = metadata.get("namespace") or default_namespace
    if not isinstance(namespace, str):
        raise ManifestError(f"{obj.origin}: ConfigMap {name}: metadata.namespace must be text")
    ref = f"{namespace}/{name}"
    labels = _strings(obj, metadata.get("labels"), "metadata.labels", ref)
    data = _strings(obj, obj.document.get("data"), "data", ref)
    return ConfigMapView(namespace=namespace, name=name, labels=labels, data=data)


def _strings(obj: ManifestObject, value: Any, path: str, ref: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ManifestError(f"{obj.origin}: ConfigMap {ref}: {path} must be a mapping")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ManifestError(
                f"{obj.where(f'{path}.{key}')}: ConfigMap {ref}: {path}.{key} must be a string"
                f" (it is {_describe(item)}); quote it, as Kubernetes accepts only strings here"
            )
        result[key] = item
    return result


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if value is None:
        return "empty"
    return f"a {_type(value)}"


def matches_label_selector(labels: Mapping[str, str], selector: Mapping[str, Any]) -> bool:
    """Kubernetes labelSelector semantics: every matchLabels pair and every expression."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key = expression["key"]
        operator = expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _watched(binding: Mapping[str, Any], namespace: str) -> bool:
    names = ((binding.get("namespace") or {}).get("nameSelector") or {}).get("matchNames")
    return names is None or namespace in names


def select_snapshot(
    objects: Sequence[ManifestObject], settings: Settings, default_namespace: str
) -> Snapshot:
    """The connector and cluster ConfigMaps, selected by the hook's own bindings.

    ManifestError when one ConfigMap is defined twice (kustomize refuses that too), or when a
    selected ConfigMap could not be applied to Kubernetes.
    """
    bindings = {b["name"]: b for b in binding_configuration(settings)["kubernetes"]}
    connector_binding = bindings[CONNECTORS_BINDING]
    cluster_binding = bindings[CLUSTERS_BINDING]
    connectors: list[ConfigMapView] = []
    clusters: list[ConfigMapView] = []
    unwatched: list[ConfigMapView] = []
    seen: dict[str, str] = {}
    ignored = 0
    for obj in objects:
        if not obj.is_configmap:
            ignored += 1
            continue
        view = configmap_view(obj, default_namespace)
        if view.ref in seen:
            raise ManifestError(
                f"{obj.origin}: ConfigMap {view.ref} is defined twice (first at {seen[view.ref]})"
            )
        seen[view.ref] = obj.origin
        selected = False
        if matches_label_selector(view.labels, connector_binding["labelSelector"]):
            selected = True
            if _watched(connector_binding, view.namespace):
                connectors.append(view)
            else:
                unwatched.append(view)
        if matches_label_selector(view.labels, cluster_binding["labelSelector"]) and _watched(
            cluster_binding, view.namespace
        ):
            selected = True
            clusters.append(view)
        if not selected:
            ignored += 1
    return Snapshot(
        connectors=tuple(sorted(connectors, key=lambda cm: (cm.namespace, cm.name))),
        clusters=tuple(sorted(clusters, key=lambda cm: (cm.namespace, cm.name))),
        unwatched=tuple(unwatched),
        ignored_objects=ignored,
    )


def ledger_configmaps(
    objects: Sequence[ManifestObject], ledger_name: str, default_namespace: str
) -> tuple[ConfigMapView, ...]:
    """The ledger's ConfigMaps (`<name>`, `<name>-1`, ...); ManifestError when there is none."""
    names = ledger_shard_names(ledger_name)
    found = tuple(
        configmap_view(obj, default_namespace)
        for obj in objects
        if obj.is_configmap and (obj.document.get("metadata") or {}).get("name") in names
    )
    if not found:
        raise ManifestError(
            f"holds no ConfigMap named {ledger_name} or {ledger_name}-1 ... -{len(names) - 1}"
            " (CONNECT_OPERATOR_LEDGER_NAME); print it with"
            f" `kubectl get configmap {ledger_name} -o yaml`"
        )
    return found
