"""The operator's RBAC is exactly what its hook declares it needs, overlay by overlay.

The hook's `--config` is run the way shell-operator runs it, with the environment of the
operator Deployment in each overlay, and validated. From its kubernetes bindings (kind,
namespaces, names), the ledger write (KUBERNETES_PATCH_PATH `CreateIfNotExists`, which is a
create, and `MergePatch` of each ledger ConfigMap the `ledger` binding names) and the Events on
connector ConfigMaps (a `Create` of an Event in each namespace the `connectors` binding
watches) the needed grants
are derived and compared, both ways, with what the overlay's Roles and ClusterRoles give the
operator's ServiceAccount.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.deploy import helpers
from tests.deploy.helpers import HOOK, OPERATOR_DEPLOYMENT, OPERATOR_SERVICE_ACCOUNT, OVERLAYS
from tests.support.shell_operator import hook_config, validate_hook_config

ALL_NAMESPACES = "*"
READ_VERBS = ("get", "list", "watch")


class Grant(NamedTuple):
    """One permission: a verb in a namespace, on one name or (None) on all, of a resource."""

    namespace: str
    verb: str
    name: str | None
    resource: str = "configmaps"


def _covered(grant: Grant, grants: set[Grant]) -> bool:
    return any(
        other.verb == grant.verb
        and other.resource == grant.resource
        and other.namespace in (grant.namespace, ALL_NAMESPACES)
        and other.name in (grant.name, None)
        for other in grants
    )


def rbac_differences(needed: set[Grant], granted: set[Grant]) -> tuple[set[Grant], set[Grant]]:
    """(missing, extra): needed grants nothing covers, granted ones no need covers."""
    missing = {grant for grant in needed if not _covered(grant, granted)}
    extra = {grant for grant in granted if not _covered(grant, needed)}
    return missing, extra


def hook_environment(deployment: dict[str, Any]) -> dict[str, str]:
    """The hook's environment in the cluster, plus a PATH on which python3 has our package."""
    env = helpers.container_env(deployment, helpers.operator_container_name(deployment))
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**env, "PATH": path}


def operator_config(overlay: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    objects = helpers.build(f"overlays/{overlay}")
    deployment = helpers.named(objects, "Deployment", OPERATOR_DEPLOYMENT)
    return hook_config(HOOK, hook_environment(deployment)), deployment, objects


def needed_grants(config: dict[str, Any], own_namespace: str) -> tuple[set[Grant], list[str]]:
    """What the declared bindings and the ledger write need; also the ledger's ConfigMaps."""
    needed: set[Grant] = set()
    ledger_names: list[str] = []
    for binding in config["kubernetes"]:
        assert binding["kind"].lower() in ("configmap", "configmaps"), (
            f"binding {binding.get('name')} watches {binding['kind']}: extend this test first"
        )
        assert binding.get("apiVersion", "v1") == "v1"
        namespaces = binding.get("namespace", {}).get("nameSelector", {}).get("matchNames")
        names = binding.get("nameSelector", {}).get("matchNames") or [None]
        for namespace in namespaces or [ALL_NAMESPACES]:
            for name in names:
                needed |= {Grant(namespace, verb, name) for verb in READ_VERBS}
        if binding.get("name") == "ledger":
            ledger_names = list(binding["nameSelector"]["matchNames"])
            assert namespaces == [own_namespace], "the ledger lives in the operator's namespace"
    assert ledger_names, "the hook declares no `ledger` binding"
    # CreateIfNotExists: a Create (AlreadyExists is ignored); MergePatch: a Patch of that object.
    needed.add(Grant(own_namespace, "create", None))
    needed |= {Grant(own_namespace, "patch", name) for name in ledger_names}
    # Events (events.py): a Create of a core v1 Event beside each connector ConfigMap.
    connectors = next(b for b in config["kubernetes"] if b.get("name") == "connectors")
    watched = connectors.get("namespace", {}).get("nameSelector", {}).get("matchNames")
    needed |= {Grant(ns, "create", None, "events") for ns in watched or [ALL_NAMESPACES]}
    return needed, ledger_names


def _binds_operator(binding: dict[str, Any], own_namespace: str) -> bool:
    return any(
        subject.get("kind") == "ServiceAccount"
        and subject.get("name") == OPERATOR_SERVICE_ACCOUNT
        and subject.get("namespace", binding["metadata"].get("namespace")) == own_namespace
        for subject in binding.get("subjects", [])
    )


def granted_rules(
    objects: list[dict[str, Any]], own_namespace: str
) -> list[tuple[str, dict[str, Any]]]:
    """(namespace or *, rule) for every rule bound to the operator's ServiceAccount."""
    roles = {
        (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]): obj
        for obj in objects
        if obj["kind"] in ("Role", "ClusterRole")
    }
    rules = []
    used = set()
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not _binds_operator(binding, own_namespace):
            continue
        namespace = binding["metadata"].get("namespace", ALL_NAMESPACES)
        if binding["kind"] == "ClusterRoleBinding":
            namespace = ALL_NAMESPACES
        ref = binding["roleRef"]
        key = (ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])
        assert key in roles, (
            f"{binding['kind']} {binding['metadata']['name']} refers to {key}, absent"
        )
        used.add(key)
        rules += [(namespace, rule) for rule in roles[key]["rules"]]
    unused = set(roles) - used
    assert not unused, f"Roles bound to nobody we know: {unused}"
    return rules


def grants_of(rules: Iterable[tuple[str, dict[str, Any]]]) -> set[Grant]:
    granted: set[Grant] = set()
    for namespace, rule in rules:
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            assert "*" not in rule.get(field, []), f"wildcard in {field}: {rule}"
        assert "nonResourceURLs" not in rule, f"non-resource URLs granted: {rule}"
        assert rule["apiGroups"] == [""], f"extra API groups: {rule}"
        assert rule["resources"] in (["configmaps"], ["events"]), f"extra resources: {rule}"
        for verb in rule["verbs"]:
            for name in rule.get("resourceNames") or [None]:
                granted.add(Grant(namespace, verb, name, rule["resources"][0]))
    return granted


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_hook_config_with_the_overlays_environment_is_valid(overlay: str) -> None:
    config, deployment, _ = operator_config(overlay)
    validate_hook_config(config)  # hook_config validated it too; this keeps the intent visible
    env = hook_environment(deployment)
    expected = sorted(
        part.strip() for part in env.get("WATCH_NAMESPACES", env["POD_NAMESPACE"]).split(",")
    )
    bindings = {binding["name"]: binding for binding in config["kubernetes"]}
    assert {"connectors", "confluent-cloud-clusters", "ledger"} <= set(bindings)
    watched = sorted(bindings["connectors"]["namespace"]["nameSelector"]["matchNames"])
    assert watched == expected
    assert config["schedule"], "no periodic resync"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_operator_rbac_grants_what_the_hook_needs_and_nothing_more(overlay: str) -> None:
    config, deployment, objects = operator_config(overlay)
    own_namespace = deployment["metadata"]["namespace"]
    needed, _ = needed_grants(config, own_namespace)
    granted = grants_of(granted_rules(objects, own_namespace))
    missing, extra = rbac_differences(needed, granted)
    assert missing == set(), f"the hook needs these and has not got them: {sorted(missing)}"
    assert extra == set(), f"granted but not needed: {sorted(extra)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ledger_is_written_through_resource_named_patches_only(overlay: str) -> None:
    config, deployment, objects = operator_config(overlay)
    own_namespace = deployment["metadata"]["namespace"]
    _, ledger_names = needed_grants(config, own_namespace)
    rules = [
        rule
        for namespace, rule in granted_rules(objects, own_namespace)
        if namespace == own_namespace
    ]
    assert any(
        rule.get("resourceNames") == ledger_names and rule["verbs"] == ["patch"] for rule in rules
    ), "no rule limits patch to the ledger's ConfigMaps by resourceNames"
    for rule in rules:
        if {"update", "patch", "delete"} & set(rule["verbs"]):
            assert rule.get("resourceNames") == ledger_names, f"a write on any ConfigMap: {rule}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_cluster_role_appears_only_when_every_namespace_is_watched(overlay: str) -> None:
    config, _, objects = operator_config(overlay)
    watches_all = any("namespace" not in binding for binding in config["kubernetes"])
    cluster_kinds = {obj["kind"] for obj in objects} & {"ClusterRole", "ClusterRoleBinding"}
    assert bool(cluster_kinds) == watches_all


def test_the_rbac_comparison_catches_an_extra_verb_a_wildcard_and_a_missing_namespace() -> None:
    """The control: the checks above can fail."""
    needed = {Grant("ns", "list", None), Grant("ns", "update", "ledger")}
    assert rbac_differences(needed, needed | {Grant("ns", "delete", None)}) == (
        set(),
        {Grant("ns", "delete", None)},
    )
    assert rbac_differences(needed, {Grant("ns", "list", None), Grant("ns", "update", None)})[1]
    assert rbac_differences(needed | {Grant("other", "list", None)}, needed)[0]
    with pytest.raises(AssertionError, match="wildcard"):
        grants_of([("ns", {"apiGroups": [""], "resources": ["*"], "verbs": ["get"]})])
    with pytest.raises(AssertionError, match="extra resources"):
        grants_of([("ns", {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})])
