"""Fixtures of the end-to-end suite: the real shell-operator, API server and Kafka Connect.

- ``kube`` (session): etcd and kube-apiserver on free loopback ports (``tests/e2e/runtime.py``).
  The binaries come from ``make e2e-tools``; if one is missing every test FAILS saying so. The
  suite is never skipped: a missing runtime must not look like a green suite.
- ``connect_cluster`` (session): the local Kafka cluster of ``tests/kafka/cluster.py``, shared
  with the integration suite (same ports, same ``KAFKA_HARNESS_*`` variables).
- ``deployment`` (per test): a fresh namespace holding the project's own RBAC from
  ``k8s/base`` (ServiceAccount, Role, RoleBinding), and a :class:`Deployment` that starts
  shell-operator on the project's ``hooks/`` authenticated as that ServiceAccount (a TokenRequest
  token, not the admin), watching that namespace and reconciling into the first Connect worker.
  Each test has its own ledger and connector-name prefix; afterwards shell-operator is stopped
  by its pid, and the connectors with that prefix are deleted from Connect.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.e2e.runtime import (
    REPO_ROOT,
    Binaries,
    KubeApi,
    Sample,
    ShellOperator,
    running_kube,
    wait_until,
)
from tests.kafka import cluster

OPERATOR_ACCOUNT = "connect-operator"
LEDGER_NAME = "connect-operator-ledger"
HOOK_NAME = "connect-operator"
PROJECT_HOOKS = REPO_ROOT / "hooks"
EXAMPLE_VARIABLES = REPO_ROOT / "k8s" / "examples" / "variables"
SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"
SLOW_SCHEDULE = "*/5 * * * *"
# robfig/cron (shell-operator's crontab parser) takes a sixth, leading field for seconds.
EVERY_FIVE_SECONDS = "*/5 * * * * *"
CONVERGE_TIMEOUT = 60.0
RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding")


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    found = Binaries.locate(os.environ)
    missing = found.missing()
    if missing:
        pytest.fail(
            "the end-to-end runtime is not built: "
            + ", ".join(str(path) for path in missing)
            + "\nrun `make e2e-tools` (about 20 minutes of Go builds on a cold machine)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def kube(binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApi]:
    with running_kube(binaries, tmp_path_factory.mktemp("kube")) as api:
        yield api


@pytest.fixture(scope="session")
def operator_rbac() -> str:
    """The operator's ServiceAccount, Role and RoleBinding exactly as ``k8s/base`` builds them."""
    kustomize = os.environ.get("KUSTOMIZE") or str(REPO_ROOT / ".tools" / "bin" / "kustomize")
    try:
        built = subprocess.run(
            [kustomize, "build", str(REPO_ROOT / "k8s" / "base")],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"kustomize build k8s/base failed ({exc}); run `make tools`", pytrace=False)
    documents = [
        document
        for document in yaml.safe_load_all(built)
        if document
        and document["kind"] in RBAC_KINDS
        and document["metadata"]["name"] == OPERATOR_ACCOUNT
    ]
    assert sorted(document["kind"] for document in documents) == sorted(RBAC_KINDS)
    return yaml.safe_dump_all(documents)


def hook_path_environment() -> str:
    """PATH without any virtualenv: the hook must find its own interpreter, as in the image."""
    entries = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep)
    return os.pathsep.join(
        entry for entry in entries if not (Path(entry).parent / "pyvenv.cfg").exists()
    )


def connector_document(name: str, **config: Any) -> str:
    """A data value: a jq program (plain JSON is one) for a FileStreamSource connector."""
    body = {"connector.class": SOURCE, "tasks.max": "1", "topic": f"{name}.lines"}
    body.update(config)
    body.setdefault("file", f"/tmp/{name}.txt")
    return json.dumps({"name": name, "config": body}, indent=2)


def connector_configmap(
    name: str,
    data: Mapping[str, str],
    enabled: str | None = "true",
    labels: Mapping[str, str] | None = None,
) -> str:
    """A connector ConfigMap manifest (labelled ``destination=connect``)."""
    all_labels = {"destination": "connect", **(labels or {})}
    if enabled is not None:
        all_labels["enabled"] = enabled
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": all_labels},
            "data": dict(data),
        }
    )


class Deployment:
    """One operator namespace: its RBAC, its shell-operator, its ledger, its Connect target."""

    def __init__(
        self,
        kube: KubeApi,
        namespace: str,
        kubeconfig: Path,
        binaries: Binaries,
        workdir: Path,
        connect_url: str,
        prefix: str,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self.binaries = binaries
        self.workdir = workdir
        self.connect_url = connect_url
        self.prefix = prefix
        self.operator: ShellOperator | None = None

    # --- shell-operator -------------------------------------------------------------------

    def hook_environment(self, **overrides: str) -> dict[str, str]:
        """What the Deployment in k8s/base gives the container, pointed at the local cluster."""
        environment = {
            "PATH": hook_path_environment(),
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "POD_NAMESPACE": self.namespace,
            "WATCH_NAMESPACES": self.namespace,
            "CONNECT_URL": self.connect_url,
            "CONNECT_OPERATOR_CONFIG_DIR": str(EXAMPLE_VARIABLES),
            "CONNECTOR_LABEL_SELECTOR": "destination=connect",
            "CONNECT_OPERATOR_LEDGER_NAME": LEDGER_NAME,
            "RESYNC_SCHEDULE": SLOW_SCHEDULE,
            # The example connectors read it (env.CONNECTOR_OWNER). The hook masks the values of
            # what templates read in every log line, so it must not be part of connector names.
            "CONNECTOR_OWNER": "platform-team",
            "CONNECT_OPERATOR_TEMPLATE_ENV": "CONNECTOR_OWNER,MYSQL_*",
            "CONNECT_OPERATOR_REQUEST_TIMEOUT": "10",
            "CONNECT_OPERATOR_RUN_DEADLINE": "30",
            "LOG_LEVEL": "info",
            # shell-operator's client defaults (5 requests/s, bursts of 10) make the discovery
            # of a fresh API server take seconds; the suite starts shell-operator once per test.
            "KUBE_CLIENT_QPS": "50",
            "KUBE_CLIENT_BURST": "100",
        }
        environment.update(overrides)
        return environment

    def start_operator(self, hooks_dir: Path = PROJECT_HOOKS, **overrides: str) -> ShellOperator:
        """Start shell-operator and wait for its first successful hook run."""
        if self.operator is None:
            self.operator = ShellOperator(
                self.binaries.shell_operator,
                hooks_dir,
                self.kubeconfig,
                self.workdir,
                self.hook_environment(**overrides),
            )
        self.operator.start()
        self.wait_hook_successes(1)
        return self.operator

    @property
    def shell_operator(self) -> ShellOperator:
        assert self.operator is not None, "shell-operator was never started"
        return self.operator

    def wait_for(
        self, probe: Callable[[], object], what: str, timeout: float = CONVERGE_TIMEOUT
    ) -> None:
        wait_until(probe, timeout, what, explain=self.explain)

    def restart_operator(self) -> ShellOperator:
        """Start the same shell-operator again (same environment), after a stop or a kill."""
        assert self.operator is not None
        self.operator.start()
        # The counters start again with the process: this waits for its start-up run.
        self.wait_hook_successes(1)
        return self.operator

    def hook_successes(self) -> float:
        """shell-operator's own count of successful runs of our hook, in this process."""
        assert self.operator is not None
        return sum(
            sample.value
            for sample in self.operator.metrics("/metrics")
            if sample.name == "shell_operator_hook_run_success_total"
            and sample.labels.get("hook") == HOOK_NAME
        )

    def hook_errors(self) -> float:
        assert self.operator is not None
        return sum(
            sample.value
            for sample in self.operator.metrics("/metrics")
            if sample.name == "shell_operator_hook_run_errors_total"
            and sample.labels.get("hook") == HOOK_NAME
        )

    def wait_hook_successes(self, count: float, timeout: float = CONVERGE_TIMEOUT) -> None:
        wait_until(
            lambda: self.hook_successes() >= count,
            timeout,
            f"{count:.0f} successful runs of the hook",
            explain=self.explain,
        )

    def hook_metrics(self, name: str) -> list[Sample]:
        """The hook's own samples called ``name`` on /metrics/hooks."""
        assert self.operator is not None
        return [
            sample
            for sample in self.operator.metrics("/metrics/hooks")
            if sample.name == name and sample.labels.get("hook") == HOOK_NAME
        ]

    def hook_metric(self, name: str, **labels: str) -> float | None:
        values = [
            sample.value
            for sample in self.hook_metrics(name)
            if all(sample.labels.get(key) == value for key, value in labels.items())
        ]
        assert len(values) <= 1, f"{name}{labels} matches several series: {values}"
        return values[0] if values else None

    def hook_log(self, since: int = 0) -> list[dict[str, Any]]:
        """The hook's JSON log lines as shell-operator re-emitted them (``hook_*`` fields)."""
        assert self.operator is not None
        return [
            record
            for record in self.operator.log_records()[since:]
            if record.get("proxyJsonLog") or record.get("output") in ("stdout", "stderr")
        ]

    def log_position(self) -> int:
        assert self.operator is not None
        return len(self.operator.log_records())

    def actions(self, since: int = 0) -> list[tuple[str, str]]:
        """(action, connector) of every per-connector log line of the hook since ``since``."""
        return [
            (str(record["hook_action"]), str(record["hook_connector"]))
            for record in self.hook_log(since)
            if record.get("hook_action") and record.get("hook_connector")
        ]

    def explain(self) -> str:
        """What a failed wait reports: the connectors on Connect and shell-operator's log."""
        try:
            state = f"connectors on Connect: {sorted(self.connectors())}"
        except requests.RequestException as exc:
            state = f"Connect does not answer: {exc}"
        tail = self.operator.log_tail() if self.operator else ""
        return f"{state}\n{tail}"

    # --- Kubernetes -------------------------------------------------------------------------

    def apply(self, manifest: str) -> None:
        self.kube.apply(manifest, self.namespace)

    def apply_connectors(
        self,
        configmap: str,
        connectors: Mapping[str, Mapping[str, Any]],
        enabled: str | None = "true",
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Apply one ConfigMap with one data key per connector (``{name: extra config}``)."""
        data = {
            f"{name}.json": connector_document(name, **dict(config))
            for name, config in connectors.items()
        }
        self.apply(connector_configmap(configmap, data, enabled, labels))

    def delete_configmap(self, name: str) -> None:
        self.kube.kubectl("delete", "configmap", name, "-n", self.namespace, "--wait=false")

    def ledger_text(self) -> str:
        """Every data value of the ledger ConfigMap(s), whatever their layout."""
        texts = [
            "\n".join(configmap.get("data", {}).values())
            for configmap in self.kube.configmaps(self.namespace)
            if configmap["metadata"]["name"].startswith(LEDGER_NAME)
        ]
        return "\n".join(texts)

    def ledger_owns(self, connector: str) -> bool:
        return json.dumps(connector) in self.ledger_text()

    # --- Kafka Connect ----------------------------------------------------------------------

    def connectors(self) -> set[str]:
        response = requests.get(f"{self.connect_url}/connectors", timeout=30)
        response.raise_for_status()
        return set(response.json())

    def connector_config(self, name: str) -> dict[str, str]:
        response = requests.get(f"{self.connect_url}/connectors/{name}/config", timeout=30)
        response.raise_for_status()
        return dict(response.json())

    def connector_state(self, name: str) -> str | None:
        response = requests.get(f"{self.connect_url}/connectors/{name}/status", timeout=30)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        status = response.json()
        states = {status["connector"]["state"], *(task["state"] for task in status["tasks"])}
        return "RUNNING" if states == {"RUNNING"} else "/".join(sorted(states))

    def wait_running(self, *names: str, timeout: float = CONVERGE_TIMEOUT) -> None:
        wait_until(
            lambda: all(self.connector_state(name) == "RUNNING" for name in names),
            timeout,
            f"{', '.join(names)} RUNNING with all tasks",
            explain=self.explain,
        )

    def wait_absent(self, *names: str, timeout: float = CONVERGE_TIMEOUT) -> None:
        wait_until(
            lambda: not (set(names) & self.connectors()),
            timeout,
            f"{', '.join(names)} gone from Connect",
            explain=self.explain,
        )

    def wait_owned(self, *names: str, timeout: float = CONVERGE_TIMEOUT) -> None:
        wait_until(
            lambda: all(self.ledger_owns(name) for name in names),
            timeout,
            f"the ledger to own {', '.join(names)}",
            explain=lambda: f"ledger: {self.ledger_text()}\n{self.explain()}",
        )

    def delete_from_connect(self, name: str) -> None:
        response = requests.delete(f"{self.connect_url}/connectors/{name}", timeout=60)
        assert response.status_code in (204, 404), response.text

    def put_by_hand(self, name: str) -> None:
        """Create a connector straight through Connect's REST API, as a person with curl would."""
        config = json.loads(connector_document(name))["config"]
        response = requests.put(
            f"{self.connect_url}/connectors/{name}/config", json=config, timeout=60
        )
        assert response.status_code in (200, 201), response.text

    def cleanup_connect(self, extra: tuple[str, ...] = ()) -> None:
        """Delete what this test left on Connect: its prefix, and ``extra`` names."""
        try:
            names = self.connectors()
        except requests.RequestException:
            return
        for name in sorted(names):
            if name.startswith(self.prefix) or name in extra:
                requests.delete(f"{self.connect_url}/connectors/{name}", timeout=60)


@pytest.fixture
def deployment(
    kube: KubeApi,
    connect_cluster: cluster.ClusterInfo,
    binaries: Binaries,
    operator_rbac: str,
    tmp_path: Path,
) -> Iterator[Deployment]:
    """A namespace with the operator's RBAC and a ServiceAccount kubeconfig; not started yet."""
    suffix = uuid.uuid4().hex[:8]
    namespace = f"e2e-{suffix}"
    kube.create_namespace(namespace)
    kube.apply(operator_rbac, namespace)
    kubeconfig = kube.service_account_kubeconfig(
        namespace, OPERATOR_ACCOUNT, tmp_path / "operator.kubeconfig"
    )
    # The token is the ServiceAccount's, bound to the project's Role, not an admin's.
    assert kube.can_i(kubeconfig, "watch", "configmaps", namespace)
    assert not kube.can_i(kubeconfig, "delete", "configmaps", namespace)
    assert not kube.can_i(kubeconfig, "list", "configmaps", "default")
    deployed = Deployment(
        kube, namespace, kubeconfig, binaries, tmp_path, connect_cluster.urls[0], f"e2e-{suffix}-"
    )
    try:
        yield deployed
    finally:
        if deployed.operator:
            deployed.operator.stop()
        deployed.cleanup_connect()
