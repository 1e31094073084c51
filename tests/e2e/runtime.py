"""The real runtime of the end-to-end suite: etcd, kube-apiserver, kubectl and shell-operator.

The binaries are built by ``make e2e-tools`` from the Go module proxy, through the wrapper
modules in ``tests/e2e/go/``, into ``.tools/<component>-<version>/`` (the Makefile holds the
versions and exports the paths as ``ETCD``, ``KUBE_APISERVER``, ``KUBECTL`` and
``SHELL_OPERATOR``). Everything listens on free loopback ports, so several suites can run on one
machine at once.

- :func:`start_kube` starts etcd and kube-apiserver (token auth for an admin, RBAC, a
  ServiceAccount token issuer) and returns a :class:`KubeApi` to drive it with kubectl.
- :class:`ShellOperator` runs ``shell-operator start`` on a hooks directory, authenticated by the
  kubeconfig it is given, and reads its JSON log and its two metrics endpoints.
- Every process runs in its own session and is stopped through its pid's process group
  (:class:`ManagedProcess`), SIGTERM first and SIGKILL after a grace period.

There is no controller-manager: no default ServiceAccount per namespace, no namespace deletion and
no garbage collection, none of which the operator needs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
import urllib3

REPO_ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = REPO_ROOT / "Makefile"
ADMIN_TOKEN_USER = "e2e-admin"
STOP_GRACE_SECONDS = 15.0
KUBE_READY_TIMEOUT = 60.0
OPERATOR_READY_TIMEOUT = 60.0
T = TypeVar("T")


def makefile_variable(name: str) -> str:
    """The value of a ``NAME := value`` line of the repository's Makefile."""
    match = re.search(rf"^{name}\s*:=\s*(\S+)\s*$", MAKEFILE.read_text(), re.MULTILINE)
    if match is None:
        raise LookupError(f"{MAKEFILE} defines no {name}")
    return match.group(1)


@dataclass(frozen=True)
class Binaries:
    """Where ``make e2e-tools`` puts each binary."""

    etcd: Path
    kube_apiserver: Path
    kubectl: Path
    shell_operator: Path

    @classmethod
    def locate(cls, environ: Mapping[str, str]) -> Binaries:
        """The Makefile's exported paths, else ``.tools/<component>-<version>/`` by its versions."""

        def tool(variable: str, component: str, version_variable: str, binary: str) -> Path:
            if environ.get(variable):
                return Path(environ[variable])
            version = makefile_variable(version_variable)
            return REPO_ROOT / ".tools" / f"{component}-{version}" / binary

        return cls(
            etcd=tool("ETCD", "etcd", "ETCD_VERSION", "etcd"),
            kube_apiserver=tool(
                "KUBE_APISERVER", "kubernetes", "KUBERNETES_VERSION", "kube-apiserver"
            ),
            kubectl=tool("KUBECTL", "kubernetes", "KUBERNETES_VERSION", "kubectl"),
            shell_operator=tool(
                "SHELL_OPERATOR", "shell-operator", "SHELL_OPERATOR_VERSION", "shell-operator"
            ),
        )

    def missing(self) -> list[Path]:
        return [
            path
            for path in (self.etcd, self.kube_apiserver, self.kubectl, self.shell_operator)
            if not os.access(path, os.X_OK)
        ]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(
    probe: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.25,
    explain: Callable[[], str] | None = None,
) -> T:
    """Poll ``probe`` until it returns something true; fail after ``timeout``.

    The failure says ``what`` was awaited, the probe's last exception if any, and ``explain()``
    (a log tail, the state seen last).
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
        except AssertionError:
            raise  # a probe's verdict (the process exited): waiting longer cannot help
        except Exception as exc:  # a probe may fail while the thing starts
            last_error = exc
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"; last error: {last_error!r}" if last_error else ""
            context = f"\n{explain()}" if explain else ""
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}{detail}{context}"
            )
        time.sleep(interval)


class ManagedProcess:
    """A background process in its own session, with its output in a log file.

    Stopping signals the process group whose id is the process's pid, so children (a running
    hook) go too; nothing is ever looked up by name.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                list(command),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self._popen.pid

    def alive(self) -> bool:
        return self._popen.poll() is None

    def stop(self, kill: bool = False, grace: float = STOP_GRACE_SECONDS) -> float:
        """SIGTERM (or SIGKILL) the process group; SIGKILL it after ``grace``. Returns seconds."""
        started = time.monotonic()
        self._signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self._popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self._popen.wait(timeout=grace)
        # Children that outlived the leader (a hook mid-run) share its process group.
        self._signal(signal.SIGKILL)
        return time.monotonic() - started

    def _signal(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path} ---\n{tail}"


def kubeconfig_text(server: str, user: str, token: str) -> str:
    """A kubeconfig (JSON is valid YAML) for one token user on the local API server."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "e2e", "cluster": {"server": server, "insecure-skip-tls-verify": True}}
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": user}}],
            "current-context": "e2e",
        },
        indent=2,
    )


def write_private(path: Path, text: str) -> Path:
    """Write a file only its owner can read (kubeconfigs carry tokens)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


@dataclass(frozen=True)
class KubeApi:
    """A running kube-apiserver and the kubectl to drive it, as the admin by default."""

    server: str
    kubectl_binary: Path
    admin_kubeconfig: Path
    workdir: Path

    def kubectl(
        self,
        *args: str,
        stdin: str | None = None,
        kubeconfig: Path | None = None,
        check: bool = True,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; on failure (with ``check``) raise with its stderr."""
        completed = subprocess.run(
            [
                str(self.kubectl_binary),
                "--kubeconfig",
                str(kubeconfig or self.admin_kubeconfig),
                *args,
            ],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and completed.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {completed.returncode}: {completed.stderr}"
            )
        return completed

    def apply(self, manifest: str, namespace: str) -> None:
        self.kubectl("apply", "-n", namespace, "-f", "-", stdin=manifest)

    def configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ConfigMap as JSON, or None when it does not exist."""
        completed = self.kubectl(
            "get", "configmap", name, "-n", namespace, "-o", "json", check=False
        )
        if completed.returncode != 0:
            if "NotFound" in completed.stderr:
                return None
            raise AssertionError(f"kubectl get configmap {namespace}/{name}: {completed.stderr}")
        return dict(json.loads(completed.stdout))

    def configmaps(self, namespace: str) -> list[dict[str, Any]]:
        completed = self.kubectl("get", "configmaps", "-n", namespace, "-o", "json")
        return list(json.loads(completed.stdout)["items"])

    def create_namespace(self, name: str) -> None:
        self.kubectl("create", "namespace", name)

    def service_account_kubeconfig(self, namespace: str, account: str, path: Path) -> Path:
        """A kubeconfig authenticated by a TokenRequest token of the ServiceAccount."""
        token = self.kubectl(
            "create", "token", account, "-n", namespace, "--duration", "2h"
        ).stdout.strip()
        return write_private(path, kubeconfig_text(self.server, f"{namespace}-{account}", token))

    def can_i(self, kubeconfig: Path, verb: str, resource: str, namespace: str) -> bool:
        completed = self.kubectl(
            "auth", "can-i", verb, resource, "-n", namespace, kubeconfig=kubeconfig, check=False
        )
        return completed.stdout.strip() == "yes"


def start_etcd(binary: Path, workdir: Path) -> tuple[ManagedProcess, str]:
    """etcd with its own data dir, no fsync, on free loopback ports. Returns it and its URL."""
    client_url = f"http://127.0.0.1:{free_port()}"
    peer_url = f"http://127.0.0.1:{free_port()}"
    process = ManagedProcess(
        "etcd",
        [
            str(binary),
            "--name=e2e",
            f"--data-dir={workdir / 'etcd-data'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=e2e={peer_url}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        workdir / "etcd.log",
    )

    def healthy() -> bool:
        if not process.alive():
            raise AssertionError(f"etcd exited\n{process.log_tail()}")
        health = requests.get(f"{client_url}/health", timeout=2).json()
        return bool(health.get("health") == "true")

    wait_until(healthy, KUBE_READY_TIMEOUT, "etcd /health", explain=process.log_tail)
    return process, client_url


def start_kube_apiserver(
    binary: Path, workdir: Path, etcd_url: str
) -> tuple[ManagedProcess, str, str]:
    """kube-apiserver with RBAC, an admin token and a ServiceAccount token issuer.

    Returns it, its URL and the admin token.
    """
    port = free_port()
    admin_token = os.urandom(16).hex()
    token_file = write_private(
        workdir / "tokens.csv",
        f"{admin_token},{ADMIN_TOKEN_USER},{ADMIN_TOKEN_USER},system:masters\n",
    )
    signing_key = workdir / "service-account.key"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(signing_key), "2048"],
        check=True,
        capture_output=True,
    )
    cert_dir = workdir / "apiserver-certs"
    cert_dir.mkdir(exist_ok=True)
    process = ManagedProcess(
        "kube-apiserver",
        [
            str(binary),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            # The machine may have no default route to guess an address from.
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={cert_dir}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=Node,RBAC",
            f"--token-auth-file={token_file}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={signing_key}",
            f"--service-account-signing-key-file={signing_key}",
            # No controller-manager makes the per-namespace default ServiceAccount.
            "--disable-admission-plugins=ServiceAccount",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ],
        workdir / "kube-apiserver.log",
    )
    server = f"https://127.0.0.1:{port}"

    def ready() -> bool:
        # It serves a self-signed certificate it makes itself in --cert-dir.
        if not process.alive():
            raise AssertionError(f"kube-apiserver exited\n{process.log_tail()}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            response = requests.get(
                f"{server}/readyz",
                headers={"Authorization": f"Bearer {admin_token}"},
                verify=False,
                timeout=2,
            )
        return response.status_code == 200

    wait_until(ready, KUBE_READY_TIMEOUT, "kube-apiserver /readyz", explain=process.log_tail)
    return process, server, admin_token


@contextlib.contextmanager
def running_kube(binaries: Binaries, workdir: Path) -> Iterator[KubeApi]:
    """etcd and kube-apiserver for the duration of the block; both stopped by pid afterwards."""
    processes: list[ManagedProcess] = []
    try:
        etcd, etcd_url = start_etcd(binaries.etcd, workdir)
        processes.append(etcd)
        apiserver, server, admin_token = start_kube_apiserver(
            binaries.kube_apiserver, workdir, etcd_url
        )
        processes.append(apiserver)
        admin_kubeconfig = write_private(
            workdir / "admin.kubeconfig", kubeconfig_text(server, ADMIN_TOKEN_USER, admin_token)
        )
        yield KubeApi(server, binaries.kubectl, admin_kubeconfig, workdir)
    finally:
        for process in reversed(processes):
            process.stop()


@dataclass(frozen=True)
class Sample:
    """One line of the Prometheus text format."""

    name: str
    labels: Mapping[str, str]
    value: float


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus_text(text: str) -> list[Sample]:
    """Samples of a Prometheus text exposition; comments and blank lines are skipped."""
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if line.startswith("#") or match is None:
            continue
        name, labels, value = match.groups()
        parsed = {
            key: raw.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
            for key, raw in _LABEL.findall(labels or "")
        }
        samples.append(Sample(name, parsed, float(value)))
    return samples


class ShellOperator:
    """``shell-operator start`` on a hooks directory, against the local API server.

    ``environment`` is the whole environment of shell-operator and so of the hook: nothing is
    inherited from the test process except what the caller passes in.
    """

    def __init__(
        self,
        binary: Path,
        hooks_dir: Path,
        kubeconfig: Path,
        workdir: Path,
        environment: Mapping[str, str],
    ) -> None:
        self.binary = binary
        self.hooks_dir = hooks_dir
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.environment = dict(environment)
        self.port = 0
        self.process: ManagedProcess | None = None
        self.starts = 0

    def start(self) -> None:
        """Start it and return once its HTTP server answers (its hooks may still be running)."""
        if self.process is not None and self.process.alive():
            raise RuntimeError("shell-operator is already running")
        self.starts += 1
        self.port = free_port()
        tmp_dir = self.workdir / f"shell-operator-tmp-{self.starts}"
        tmp_dir.mkdir()
        # A unix socket path must stay under 108 bytes: pytest's tmp paths can be longer.
        socket_dir = Path(tempfile.mkdtemp(prefix="so-"))
        env = {
            **self.environment,
            "KUBE_CONFIG": str(self.kubeconfig),
            "SHELL_OPERATOR_HOOKS_DIR": str(self.hooks_dir),
            "SHELL_OPERATOR_TMP_DIR": str(tmp_dir),
            "SHELL_OPERATOR_LISTEN_ADDRESS": "127.0.0.1",
            "SHELL_OPERATOR_LISTEN_PORT": str(self.port),
            "DEBUG_UNIX_SOCKET": str(socket_dir / "debug.socket"),
            "LOG_TYPE": "json",
        }
        self.process = ManagedProcess(
            "shell-operator",
            [str(self.binary), "start"],
            self.workdir / "shell-operator.log",
            env=env,
            cwd=self.workdir,
        )
        process = self.process

        def serving() -> bool:
            if not process.alive():
                raise AssertionError(f"shell-operator exited\n{process.log_tail()}")
            return requests.get(self.url("/metrics"), timeout=2).status_code == 200

        wait_until(
            serving, OPERATOR_READY_TIMEOUT, "shell-operator /metrics", explain=self.log_tail
        )

    def stop(self, kill: bool = False) -> float:
        """Stop it (SIGTERM, or SIGKILL with ``kill``) if it runs; seconds it took."""
        if self.process is None or not self.process.alive():
            return 0.0
        return self.process.stop(kill=kill)

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def metrics(self, path: str = "/metrics/hooks") -> list[Sample]:
        response = requests.get(self.url(path), timeout=5)
        response.raise_for_status()
        return parse_prometheus_text(response.text)

    def log_text(self) -> str:
        return self.process.log_text() if self.process else ""

    def log_tail(self, lines: int = 60) -> str:
        return self.process.log_tail(lines) if self.process else "(shell-operator never started)"

    def log_records(self) -> list[dict[str, Any]]:
        """Every JSON line of its log (shell-operator's own and the hook's, re-emitted)."""
        records = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    records.append(json.loads(line))
        return records
