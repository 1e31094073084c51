"""The kustomize manifests: they build, validate strictly, and hold the deployment promises.

Promises: pinned images and no `latest`, no bare Pods, non-root containers without privilege
escalation, resources on every container, one Recreate operator replica with its emptyDirs and
metrics port, the `connect` Service on 80 -> 8083, and overlays that differ like environments.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy import helpers
from tests.deploy.helpers import (
    CONNECT_DEPLOYMENT,
    CONNECT_SERVICE,
    K8S,
    KUBERNETES_VERSION,
    OPERATOR_DEPLOYMENT,
    OVERLAYS,
    build,
    containers,
    named,
    of_kind,
    pod_spec,
    workloads,
)

KUSTOMIZATIONS = [str(path) for path in helpers.kustomization_dirs()]
VALIDATED = [
    path for path in KUSTOMIZATIONS if path.split("/")[0] not in helpers.NOT_STRICTLY_VALIDATED
]
DEPLOYABLE = [f"overlays/{overlay}" for overlay in OVERLAYS] + ["base"]


def _validation_errors(objects: list[dict[str, Any]]) -> list[str]:
    errors = []
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{name}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{name}: {exc.message}")
    return errors


def test_the_expected_kustomizations_exist() -> None:
    expected = {
        "base",
        "overlays/dev",
        "overlays/prd",
        "examples/connectors",
        "examples/variables",
        "examples/confluent-cloud",
        "flux",
    }
    assert expected <= set(KUSTOMIZATIONS)


@pytest.mark.parametrize("kustomization", VALIDATED)
def test_every_kustomization_builds_and_validates_strictly(kustomization: str) -> None:
    objects = build(kustomization)
    assert objects, f"k8s/{kustomization} builds to nothing"
    assert _validation_errors(objects) == []


def test_strict_validation_rejects_an_unknown_field() -> None:
    """The control for the test above: strict mode really refuses what the API would drop."""
    deployment = copy.deepcopy(named(build("base"), "Deployment", CONNECT_DEPLOYMENT))
    pod_spec(deployment)["containers"][0]["resource"] = {"limits": {"cpu": "1"}}
    deployment["spec"]["template"]["spec"] = pod_spec(deployment)
    assert _validation_errors([deployment])


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_no_image_uses_latest_or_no_tag(kustomization: str) -> None:
    for workload in workloads(build(kustomization)):
        for container in containers(workload):
            image = container["image"]
            assert "@sha256:" in image or re.search(r":[\w][\w.-]*$", image.split("/")[-1]), (
                f"{image} has no tag"
            )
            assert not image.endswith(":latest"), f"{image} uses latest"


def test_no_file_under_k8s_or_docker_mentions_a_latest_tag() -> None:
    for path in [*K8S.rglob("*"), *helpers.DOCKER.rglob("*")]:
        if path.is_file():
            assert ":latest" not in path.read_text(errors="replace"), path


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_there_are_no_bare_pods(kustomization: str) -> None:
    assert of_kind(build(kustomization), "Pod") == []


@pytest.mark.parametrize("kustomization", DEPLOYABLE)
def test_every_container_runs_unprivileged(kustomization: str) -> None:
    for workload in workloads(build(kustomization)):
        spec = pod_spec(workload)
        assert spec.get("securityContext", {}).get("runAsNonRoot") is True, workload["metadata"]
        assert not spec.get("hostNetwork") and not spec.get("hostPID")
        for container in containers(workload):
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, container["name"]
            assert context.get("privileged") in (None, False), container["name"]
            assert context.get("capabilities", {}).get("drop") == ["ALL"], container["name"]
            assert "add" not in context.get("capabilities", {}), container["name"]


@pytest.mark.parametrize("kustomization", DEPLOYABLE)
def test_every_container_has_resource_requests_and_limits(kustomization: str) -> None:
    for workload in workloads(build(kustomization)):
        for container in containers(workload):
            resources = container.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), container["name"]
            assert {"cpu", "memory"} <= set(resources.get("limits", {})), container["name"]


@pytest.mark.parametrize("kustomization", DEPLOYABLE)
def test_no_container_sets_an_environment_variable_twice(kustomization: str) -> None:
    for workload in workloads(build(kustomization)):
        for container in containers(workload):
            names = [item["name"] for item in container.get("env", [])]
            assert len(names) == len(set(names)), f"{container['name']}: {names}"


@pytest.mark.parametrize("kustomization", DEPLOYABLE)
def test_the_operator_is_one_recreated_hardened_replica(kustomization: str) -> None:
    deployment = named(build(kustomization), "Deployment", OPERATOR_DEPLOYMENT)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    spec = pod_spec(deployment)
    assert spec["serviceAccountName"] == helpers.OPERATOR_SERVICE_ACCOUNT
    (container,) = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "http-metrics", "containerPort": 9115, "protocol": "TCP"} in container["ports"]

    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    for path in ("/tmp", "/var/run/shell-operator"):
        assert path in mounts, f"{path} is not mounted"
        assert "emptyDir" in volumes[mounts[path]], f"{path} is not an emptyDir"
    env = helpers.container_env(deployment, container["name"])
    assert env["SHELL_OPERATOR_TMP_DIR"].startswith("/tmp/")
    config_dir = env.get("CONNECT_OPERATOR_CONFIG_DIR", "/etc/config/connect-operator")
    assert config_dir in mounts, "the variable files are not mounted where the hook reads them"
    # POD_NAMESPACE comes from the downward API, not from a literal that could go stale.
    (pod_namespace,) = [item for item in container["env"] if item["name"] == "POD_NAMESPACE"]
    assert pod_namespace["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


@pytest.mark.parametrize("kustomization", DEPLOYABLE)
def test_the_connect_service_maps_port_80_to_the_workers_8083(kustomization: str) -> None:
    objects = build(kustomization)
    service = named(objects, "Service", CONNECT_SERVICE)
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    assert port["targetPort"] == 8083
    workers = named(objects, "Deployment", CONNECT_DEPLOYMENT)
    pod_labels = workers["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (container,) = pod_spec(workers)["containers"]
    assert any(p["containerPort"] == 8083 for p in container["ports"])


@pytest.mark.parametrize("kustomization", DEPLOYABLE)
def test_the_workers_have_probes_on_the_rest_port(kustomization: str) -> None:
    workers = named(build(kustomization), "Deployment", CONNECT_DEPLOYMENT)
    (container,) = pod_spec(workers)["containers"]
    named_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    readiness = container["readinessProbe"]["httpGet"]
    assert named_ports.get(readiness["port"], readiness["port"]) == 8083
    assert readiness["path"] == "/health"
    assert "livenessProbe" in container


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_mounted_configmap_or_secret_generated_in_an_overlay_is_found(overlay: str) -> None:
    """Generated names carry a hash suffix: the Deployments must refer to the suffixed name."""
    objects = build(f"overlays/{overlay}")
    generated = {
        (obj["kind"], obj["metadata"]["name"])
        for obj in objects
        if obj["kind"] in ("ConfigMap", "Secret")
        and re.search(r"-[a-z0-9]{10}$", obj["metadata"]["name"])
    }
    referenced = set()
    for workload in workloads(objects):
        for volume in pod_spec(workload).get("volumes", []):
            if "configMap" in volume:
                referenced.add(("ConfigMap", volume["configMap"]["name"]))
            if "secret" in volume:
                referenced.add(("Secret", volume["secret"]["secretName"]))
            for source in volume.get("projected", {}).get("sources", []):
                if "configMap" in source:
                    referenced.add(("ConfigMap", source["configMap"]["name"]))
                if "secret" in source:
                    referenced.add(("Secret", source["secret"]["name"]))
        for container in containers(workload):
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    referenced.add(("Secret", source["secretRef"]["name"]))
    assert generated, "the overlay generates nothing"
    assert generated <= referenced


def _workers(overlay: str) -> dict[str, Any]:
    return named(build(f"overlays/{overlay}"), "Deployment", CONNECT_DEPLOYMENT)


def _image_tags(overlay: str) -> set[str]:
    return {
        container["image"]
        for workload in workloads(build(f"overlays/{overlay}"))
        for container in containers(workload)
    }


def test_the_overlays_differ_as_environments_do() -> None:
    dev, prd = _workers("dev"), _workers("prd")
    assert dev["spec"]["replicas"] < prd["spec"]["replicas"]
    assert _image_tags("dev").isdisjoint(_image_tags("prd"))
    dev_limits = pod_spec(dev)["containers"][0]["resources"]["limits"]
    prd_limits = pod_spec(prd)["containers"][0]["resources"]["limits"]
    assert dev_limits != prd_limits
    namespaces = {}
    for overlay in OVERLAYS:
        deployment = named(build(f"overlays/{overlay}"), "Deployment", OPERATOR_DEPLOYMENT)
        env = helpers.container_env(deployment, helpers.operator_container_name(deployment))
        namespaces[overlay] = env.get("WATCH_NAMESPACES", env["POD_NAMESPACE"])
    assert namespaces["dev"] != namespaces["prd"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_of_an_overlay_has_a_namespace_or_is_cluster_scoped(overlay: str) -> None:
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for obj in build(f"overlays/{overlay}"):
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"].get("namespace"), f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("example", ["examples/connectors", "examples/confluent-cloud"])
def test_example_connector_configmaps_are_labelled_for_the_operator(example: str) -> None:
    connectors = [
        obj
        for obj in of_kind(build(example), "ConfigMap")
        if "environment_id" not in obj["metadata"].get("labels", {})
    ]
    assert connectors
    for configmap in connectors:
        labels = configmap["metadata"]["labels"]
        assert labels["destination"] == "connect"
        assert labels["enabled"] == "true"
        assert configmap["data"]


def test_the_dev_overlay_ships_the_example_connectors_and_prd_does_not() -> None:
    examples = {cm["metadata"]["name"] for cm in of_kind(build("examples/connectors"), "ConfigMap")}
    dev = {cm["metadata"]["name"] for cm in of_kind(build("overlays/dev"), "ConfigMap")}
    prd = {cm["metadata"]["name"] for cm in of_kind(build("overlays/prd"), "ConfigMap")}
    assert examples <= dev
    assert examples.isdisjoint(prd)


def test_the_confluent_cloud_example_targets_its_cluster_configmap() -> None:
    objects = of_kind(build("examples/confluent-cloud"), "ConfigMap")
    clusters = {
        cm["metadata"]["name"]: cm["metadata"]["labels"]
        for cm in objects
        if {"environment_id", "resource_id"} <= set(cm["metadata"].get("labels", {}))
    }
    targets = [cm["metadata"]["labels"].get("destination.cc") for cm in objects]
    targets = [target for target in targets if target]
    assert clusters and targets
    assert set(targets) <= set(clusters)


def test_files_with_credentials_hold_only_placeholders() -> None:
    secret_key = re.compile(r"(password|secret|user\.info|_KEY|_USER)\b", re.IGNORECASE)
    checked = 0
    for path in [*K8S.rglob("*.properties"), *K8S.rglob("*.env")]:
        for line in path.read_text().splitlines():
            if line.strip().startswith(("#", "!")) or not secret_key.search(line):
                continue
            if re.fullmatch(r"[\w.]+=\$\{file:[^}]+\}", line.strip()):
                continue  # a reference that Kafka resolves from a Secret file: no credential
            checked += 1
            assert "PLACEHOLDER" in line, (
                f"{path.relative_to(K8S)}: a credential that is not a placeholder"
            )
    assert checked, "no credential lines found: the check is looking at the wrong files"


def _flux_objects() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((K8S / "flux").glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def test_the_flux_example_is_well_formed_and_points_at_the_overlays() -> None:
    objects = _flux_objects()
    repositories = [o for o in objects if o["kind"] == "GitRepository"]
    kustomizations = [o for o in objects if o["kind"] == "Kustomization"]
    assert len(repositories) == 1 and kustomizations
    (repository,) = repositories
    assert repository["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert repository["spec"]["url"].startswith("https://")
    assert repository["spec"]["ref"], "the GitRepository follows no branch or tag"
    paths = set()
    for kustomization in kustomizations:
        assert kustomization["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
        spec = kustomization["spec"]
        assert spec["sourceRef"] == {
            "kind": "GitRepository",
            "name": repository["metadata"]["name"],
        }
        assert spec["prune"] is True
        assert re.fullmatch(r"\d+[smh]", spec["interval"])
        overlay = Path(spec["path"])
        assert (helpers.REPO / overlay / "kustomization.yaml").is_file(), spec["path"]
        paths.add(overlay.as_posix())
    assert paths == {f"k8s/overlays/{overlay}" for overlay in OVERLAYS}
    # The flux/ kustomization lists exactly these files, so `kustomize build k8s/flux` is whole.
    assert len(build("flux")) == len(objects)
