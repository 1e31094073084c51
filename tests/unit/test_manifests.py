"""Reading manifests for `plan`: streams, files, folders, Lists, and the hook's selection."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from connect_operator.errors import ManifestError
from connect_operator.manifests import (
    ledger_configmaps,
    matches_label_selector,
    parse_stream,
    read_manifests,
    select_snapshot,
)
from connect_operator.settings import Settings

CONNECTOR = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  labels:
    destination: connect
    enabled: "true"
data:
  {name}.json: '{{"name": "{name}", "config": {{"connector.class": "FileStreamSink"}}}}'
"""

OTHERS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: connect
spec: {}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: unlabelled
data:
  x.json: '{}'
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  labels:
    destination: connect
stringData:
  password: hunter2
"""

CLUSTER = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cc-orders
  labels:
    environment_id: env-1
    resource_id: lkc-1
"""


def _settings(**overrides: str) -> Settings:
    return Settings.from_env({"POD_NAMESPACE": "connect", **overrides})


def test_a_multi_document_stream_yields_every_object_with_its_first_line() -> None:
    text = CONNECTOR.format(name="a") + "---\n" + CONNECTOR.format(name="b")
    objects = parse_stream(text, "stream.yaml")
    names = [o.document["metadata"]["name"] for o in objects]
    assert names == ["a", "b"]
    assert [o.origin for o in objects] == ["stream.yaml:1", "stream.yaml:11"]


def test_stdin_is_read_when_the_source_is_a_dash() -> None:
    objects = read_manifests(["-"], io.StringIO(CONNECTOR.format(name="from-stdin")))
    assert objects[0].document["metadata"]["name"] == "from-stdin"
    assert objects[0].origin == "<stdin>:1"


def test_a_folder_is_read_recursively_in_sorted_order_skipping_dot_entries_and_other_files(
    tmp_path: Path,
) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.yml").write_text(CONNECTOR.format(name="two"))
    (tmp_path / "a.yaml").write_text(CONNECTOR.format(name="one"))
    (tmp_path / "three.json").write_text(
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "three"}}'
    )
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.yaml").write_text(CONNECTOR.format(name="hidden"))
    (tmp_path / "notes.txt").write_text("not: [a manifest")
    names = [o.document["metadata"]["name"] for o in read_manifests([str(tmp_path)], io.StringIO())]
    assert names == ["one", "two", "three"]


def test_a_list_is_expanded_into_its_items_with_their_own_lines() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: first\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: second\n"
    )
    objects = parse_stream(text, "list.yaml")
    assert [o.document["metadata"]["name"] for o in objects] == ["first", "second"]
    assert [o.origin for o in objects] == ["list.yaml:4", "list.yaml:8"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n", "bad.yaml:5"),
        ("a: 1\n---\nkind: ConfigMap\n  data: x\n", "bad.yaml:4"),
        ('key: "unterminated\n', "bad.yaml:2"),
    ],
)
def test_text_that_is_not_yaml_is_an_error_naming_the_file_and_line(text: str, where: str) -> None:
    with pytest.raises(ManifestError, match=rf"^{where}:\d+: not valid YAML"):
        parse_stream(text, "bad.yaml")


def test_a_missing_file_is_an_error_naming_it() -> None:
    with pytest.raises(ManifestError, match=r"nowhere\.yaml: no such file or folder"):
        read_manifests(["nowhere.yaml"], io.StringIO())


def test_the_hook_selection_keeps_labelled_configmaps_and_clusters_and_ignores_the_rest() -> None:
    objects = parse_stream(
        CONNECTOR.format(name="a") + "---\n" + OTHERS + "---\n" + CLUSTER, "all.yaml"
    )
    snapshot = select_snapshot(objects, _settings(), "connect")
    assert [cm.ref for cm in snapshot.connectors] == ["connect/a"]
    assert [cm.ref for cm in snapshot.clusters] == ["connect/cc-orders"]
    assert snapshot.ignored_objects == 3  # the Deployment, the unlabelled ConfigMap, the Secret


def test_the_selection_follows_connector_label_selector() -> None:
    objects = parse_stream(CONNECTOR.format(name="a"), "a.yaml")
    settings = _settings(CONNECTOR_LABEL_SELECTOR="team=orders")
    assert select_snapshot(objects, settings, "connect").connectors == ()


def test_configmaps_outside_the_watched_namespaces_are_set_aside_not_planned() -> None:
    text = CONNECTOR.format(name="a").replace("  name: a\n", "  name: a\n  namespace: other\n")
    snapshot = select_snapshot(parse_stream(text, "a.yaml"), _settings(), "connect")
    assert snapshot.connectors == ()
    assert [cm.ref for cm in snapshot.unwatched] == ["other/a"]


def test_an_unquoted_boolean_label_is_an_error_at_its_line_as_kubernetes_refuses_it() -> None:
    text = CONNECTOR.format(name="a").replace('enabled: "true"', "enabled: true")
    with pytest.raises(ManifestError, match=r"^a.yaml:7: ConfigMap connect/a: .*enabled.* boolean"):
        select_snapshot(parse_stream(text, "a.yaml"), _settings(), "connect")


def test_a_configmap_defined_twice_is_an_error_naming_both_places() -> None:
    text = CONNECTOR.format(name="a") + "---\n" + CONNECTOR.format(name="a")
    with pytest.raises(ManifestError, match=r"a.yaml:11: .*twice \(first at a.yaml:1\)"):
        select_snapshot(parse_stream(text, "a.yaml"), _settings(), "connect")


@pytest.mark.parametrize(
    ("labels", "selector", "matches"),
    [
        ({"a": "b"}, {"matchLabels": {"a": "b"}}, True),
        ({"a": "c"}, {"matchLabels": {"a": "b"}}, False),
        ({"a": "x"}, {"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]}, True),
        ({}, {"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]}, False),
        ({}, {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]}, True),
        (
            {"a": "x"},
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]},
            False,
        ),
        ({"a": ""}, {"matchExpressions": [{"key": "a", "operator": "Exists"}]}, True),
        ({}, {"matchExpressions": [{"key": "a", "operator": "Exists"}]}, False),
        ({"a": ""}, {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, False),
    ],
)
def test_label_selectors_follow_kubernetes_semantics(
    labels: dict[str, str], selector: dict[str, object], matches: bool
) -> None:
    assert matches_label_selector(labels, selector) is matches


def test_the_ledger_is_read_from_a_list_of_its_shards_as_kubectl_prints_it() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: connect-operator-ledger\n"
        "    namespace: connect\n  data:\n    status.json: '{}'\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: connect-operator-ledger-7\n"
        "    namespace: connect\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: something-else\n"
    )
    found = ledger_configmaps(parse_stream(text, "ledger.yaml"), "connect-operator-ledger", "x")
    assert [cm.ref for cm in found] == [
        "connect/connect-operator-ledger",
        "connect/connect-operator-ledger-7",
    ]


def test_a_ledger_file_without_the_ledger_is_an_error_saying_how_to_get_it() -> None:
    with pytest.raises(
        ManifestError, match="kubectl get configmap connect-operator-ledger -o yaml"
    ):
        ledger_configmaps(parse_stream(CLUSTER, "l.yaml"), "connect-operator-ledger", "x")
