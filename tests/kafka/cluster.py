"""A real local Kafka cluster for the integration tests: one KRaft broker and two Connect workers.

The broker (combined broker+controller) and two distributed Kafka Connect workers run from the
jars that Maven resolves from Maven Central (``tests/kafka/pom.xml``: Kafka 4.1.2, log4j2 with
the SLF4J 1.x binding) on the machine's Java 17. There is no Kafka tarball and no Docker.

Command line (the Makefile's ``jars``, ``connect-up``, ``connect-down``, ``connect-status``)::

    python -m tests.kafka.cluster jars     # resolve the jars into .kafka/lib (skipped when done)
    python -m tests.kafka.cluster up       # start everything in the background, or reuse it
    python -m tests.kafka.cluster status   # exit 0 when all three processes are up and healthy
    python -m tests.kafka.cluster down     # stop everything it started; idempotent

``up`` prints ``KEY=value`` lines on stdout (``CONNECT_URL``, ``CONNECT_URL_2``,
``KAFKA_BOOTSTRAP_SERVERS``, ``STARTUP_SECONDS``) and progress on stderr. On failure it stops
what it started and exits 1 with the tail of the log that explains it.

Readiness is waited on, never slept for:

- broker: its log line ``Kafka Server started`` (logged after the broker is unfenced);
- workers: ``GET /health`` answers 200 ``healthy`` on both (the herder has joined the group),
  then both logs show the same latest ``Joined group at generation N`` with the same leader,
  which proves that the two workers form one Connect cluster.

State lives in ``.kafka/`` at the repository root, or in ``$KAFKA_HARNESS_HOME``:

- ``lib/``: the jars and a ``.stamp`` with the Kafka version and the pom's hash;
- ``config/``: the broker's and each worker's generated ``.properties``;
- ``data/``: the broker's log dir, wiped and formatted with a fresh cluster id at each cold start;
- ``logs/``: ``broker.log``, ``worker-1.log``, ``worker-2.log``: all JVM output goes there, never
  to the terminal; a restarted worker's previous log is kept as ``worker-N.log.1``;
- ``run/``: pid files. Every JVM runs in its own session (process group) and carries
  ``-Dkafka.harness.home=<home>`` on its command line, so ``down`` also finds strays whose pid
  file was lost.

Ports, all on 127.0.0.1: broker 19092, controller 19093, worker REST 8083 and 8084. Override
with ``KAFKA_HARNESS_BROKER_PORT``, ``KAFKA_HARNESS_CONTROLLER_PORT`` and
``KAFKA_HARNESS_WORKER_PORTS`` (``8083,8084``). ``JAVA_HOME`` picks the JVM, else ``java`` on
``PATH``. A worker's id in ``/status`` is ``127.0.0.1:<rest port>``.

Importable API, for pytest fixtures and fault tests (worker indexes are 0 and 1)::

    info = ensure_up()                 # ClusterInfo(urls=(...), bootstrap_servers=..., ...)
    stop_worker(1, kill=True)          # SIGKILL its process group; returns when it is gone
    start_worker(1)                    # returns when healthy and in the group again
    stop_all_workers(); start_all_workers()
    down()

Public functions take a lock file, so two processes never start or stop the cluster at once.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

HARNESS_DIR = Path(__file__).resolve().parent
REPO_ROOT = HARNESS_DIR.parent.parent
POM = HARNESS_DIR / "pom.xml"
LOG4J2_CONFIG = HARNESS_DIR / "log4j2.properties"
SERVER_TEMPLATE = HARNESS_DIR / "server.properties"
WORKER_TEMPLATE = HARNESS_DIR / "worker.properties"

BROKER = "broker"
WORKER_COUNT = 2

BROKER_READY_LINE = "Kafka Server started"
BROKER_START_TIMEOUT = 90.0
WORKER_START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
# /health itself waits up to 10 s on the herder, so a request needs longer than that.
HEALTH_REQUEST_TIMEOUT = 15.0
POLL_INTERVAL = 0.2
LOG_TAIL_LINES = 40

COMMON_JVM_OPTIONS = (
    # Serial GC and C1 only: cheaper start-up for three JVMs on two cores.
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
BROKER_HEAP = ("-Xms128m", "-Xmx512m")
WORKER_HEAP = ("-Xms64m", "-Xmx384m")

_JOINED_GROUP = re.compile(r"Joined group at generation (\d+) .*?leaderUrl='([^']*)'")

# Children started by this Python process, so that they are reaped (no zombies) once stopped.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class HarnessSettings:
    """Where the harness keeps its state and which loopback ports it uses."""

    home: Path
    broker_port: int = 19092
    controller_port: int = 19093
    worker_ports: tuple[int, ...] = (8083, 8084)
    java: str = "java"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HarnessSettings:
        """Build the settings from environment variables (see the module docstring)."""
        home = Path(environ.get("KAFKA_HARNESS_HOME") or REPO_ROOT / ".kafka").resolve()
        worker_ports = tuple(
            int(port) for port in environ.get("KAFKA_HARNESS_WORKER_PORTS", "8083,8084").split(",")
        )
        if len(worker_ports) != WORKER_COUNT:
            raise ValueError(f"KAFKA_HARNESS_WORKER_PORTS needs {WORKER_COUNT} ports")
        java_home = environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else "java"
        return cls(
            home=home,
            broker_port=int(environ.get("KAFKA_HARNESS_BROKER_PORT", "19092")),
            controller_port=int(environ.get("KAFKA_HARNESS_CONTROLLER_PORT", "19093")),
            worker_ports=worker_ports,
            java=java,
        )

    @property
    def lib_dir(self) -> Path:
        """The directory of jars that every JVM uses as its classpath."""
        return self.home / "lib"

    @property
    def bootstrap_servers(self) -> str:
        """The broker's address for Kafka clients."""
        return f"127.0.0.1:{self.broker_port}"

    def worker_url(self, index: int) -> str:
        """The REST URL of worker ``index`` (0 or 1)."""
        return f"http://127.0.0.1:{self.worker_ports[_check_index(index)]}"

    def log_path(self, name: str) -> Path:
        """The file that holds all output of the process ``name``."""
        return self.home / "logs" / f"{name}.log"

    def pid_path(self, name: str) -> Path:
        """The pid file of the process ``name``."""
        return self.home / "run" / f"{name}.pid"

    def config_path(self, name: str) -> Path:
        """The generated ``.properties`` file of the process ``name``."""
        return self.home / "config" / f"{name}.properties"

    @property
    def marker(self) -> str:
        """The JVM option that tags every process of this harness home."""
        return f"-Dkafka.harness.home={self.home}"


@dataclass(frozen=True)
class ClusterInfo:
    """How to reach a running local cluster."""

    urls: tuple[str, ...]
    """The Connect workers' REST URLs, worker 0 first."""
    bootstrap_servers: str
    home: Path
    startup_seconds: float
    """How long this call took to bring the cluster up; 0.0 when it was reused."""
    reused: bool


@dataclass(frozen=True)
class ProcessStatus:
    """Whether one process of the cluster runs, and for a worker whether it is healthy."""

    name: str
    pid: int | None
    address: str
    healthy: bool

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.pid is not None


def worker_name(index: int) -> str:
    """The process name of worker ``index``: ``worker-1`` for 0, ``worker-2`` for 1."""
    return f"worker-{_check_index(index) + 1}"


def worker_url(index: int) -> str:
    """The REST URL of worker ``index`` (0 or 1) under the current environment."""
    return _settings().worker_url(index)


def worker_id(index: int) -> str:
    """The ``worker_id`` that Connect reports for worker ``index``, e.g. ``127.0.0.1:8083``."""
    return _settings().worker_url(index).removeprefix("http://")


def log_tail(name: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of the log of ``broker``, ``worker-1`` or ``worker-2``."""
    return _log_tail(_settings().log_path(name), lines)


# --- jars -------------------------------------------------------------------------------------


def kafka_version() -> str:
    """The Kafka version pinned in ``tests/kafka/pom.xml``."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if match is None:
        raise RuntimeError(f"{POM} has no <kafka.version> property")
    return match.group(1).strip()


def ensure_jars() -> Path:
    """Resolve the pom's runtime jars into ``<home>/lib`` unless the stamp says they are there.

    Maven's local repository (``~/.m2``) is the cache across runs. The copy goes to a temporary
    directory first, so an interrupted run never leaves a half-filled ``lib`` that looks done.
    """
    settings = _settings()
    with _locked(settings):
        return _ensure_jars(settings)


def _jar_stamp() -> str:
    pom_hash = hashlib.sha256(POM.read_bytes()).hexdigest()
    return f"kafka.version={kafka_version()}\npom.sha256={pom_hash}\n"


def _ensure_jars(settings: HarnessSettings) -> Path:
    lib = settings.lib_dir
    stamp = lib / ".stamp"
    expected = _jar_stamp()
    if stamp.is_file() and stamp.read_text() == expected:
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("mvn is not installed; run tests/kafka/install-java-maven.sh")
    staging = settings.home / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise RuntimeError(
            f"mvn dependency:copy-dependencies failed ({result.returncode}):\n"
            + "\n".join(output[-LOG_TAIL_LINES:])
        )
    (staging / ".stamp").write_text(expected)
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    jar_count = len(list(lib.glob("*.jar")))
    _progress(
        f"resolved {jar_count} jars of Kafka {kafka_version()} into {lib} "
        f"in {time.monotonic() - started:.1f} s"
    )
    return lib


# --- starting and stopping --------------------------------------------------------------------


def ensure_up() -> ClusterInfo:
    """Return the running cluster, starting whatever part of it is not running.

    A cluster whose three processes run, whose workers are healthy and in one group is reused.
    A running broker is kept and missing workers are started next to it. Without a broker,
    everything is stopped and started afresh, with a new cluster id and empty data.

    Raises:
        RuntimeError: a process did not become ready in time, with the tail of its log. What
            this call started is stopped again.
    """
    settings = _settings()
    with _locked(settings):
        return _ensure_up(settings)


def down() -> None:
    """Stop every process of the cluster (workers first), remove the pid files; idempotent.

    SIGTERM goes to each process group, then SIGKILL after a timeout. Raises RuntimeError if a
    process of this harness home is still alive afterwards.
    """
    settings = _settings()
    with _locked(settings):
        _down(settings)


def stop_worker(index: int, kill: bool = False) -> None:
    """Stop worker ``index`` and return once its process is gone.

    ``kill=False`` is a graceful SIGTERM: the worker leaves the group at once. ``kill=True`` is
    SIGKILL, a crash: the group notices after ``session.timeout.ms`` (10 s), and its connectors
    and tasks move after ``scheduled.rebalance.max.delay.ms`` (3 s) more. This does not wait
    for the other worker to rebalance.
    """
    settings = _settings()
    with _locked(settings):
        _stop_process(settings, worker_name(index), kill=kill)


def start_worker(index: int) -> None:
    """Start worker ``index`` and return once it is healthy and in one group with the other.

    A worker that is already running is only waited on. Raises RuntimeError with the tail of
    its log if it does not become ready, or if the broker is not running.
    """
    settings = _settings()
    with _locked(settings):
        _start_workers(settings, [index])


def stop_all_workers(kill: bool = False) -> None:
    """Stop both workers (see :func:`stop_worker`); the broker keeps running."""
    settings = _settings()
    with _locked(settings):
        for index in range(WORKER_COUNT):
            _stop_process(settings, worker_name(index), kill=kill)


def start_all_workers() -> None:
    """Start both workers together and return once both are healthy and in one group."""
    settings = _settings()
    with _locked(settings):
        _start_workers(settings, list(range(WORKER_COUNT)))


def status() -> list[ProcessStatus]:
    """The broker's and each worker's state; a worker is healthy when ``/health`` says so."""
    settings = _settings()
    broker_pid = _running_pid(settings, BROKER)
    broker_ready = (
        broker_pid is not None
        and BROKER_READY_LINE in _read_log(settings.log_path(BROKER))
        and _port_is_open(settings.broker_port)
    )
    statuses = [ProcessStatus(BROKER, broker_pid, settings.bootstrap_servers, broker_ready)]
    for index in range(WORKER_COUNT):
        name = worker_name(index)
        pid = _running_pid(settings, name)
        url = settings.worker_url(index)
        statuses.append(ProcessStatus(name, pid, url, pid is not None and is_healthy(url)))
    return statuses


def is_healthy(url: str, timeout: float = HEALTH_REQUEST_TIMEOUT) -> bool:
    """True when ``GET {url}/health`` answers 200 with status ``healthy`` (Connect 3.9+)."""
    try:
        response = requests.get(f"{url}/health", timeout=timeout)
        return response.status_code == 200 and response.json().get("status") == "healthy"
    except (requests.RequestException, ValueError):
        return False


def wait_healthy(url: str, timeout: float = WORKER_START_TIMEOUT) -> None:
    """Poll ``GET {url}/health`` until the worker is healthy; RuntimeError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not is_healthy(url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not become healthy within {timeout:.0f} s")
        time.sleep(POLL_INTERVAL)


def wait_one_group(indexes: Sequence[int], timeout: float = WORKER_START_TIMEOUT) -> int:
    """Wait until the workers ``indexes`` last joined the same group generation under one leader.

    Returns that generation. Reads the ``Joined group at generation N`` lines of their logs.
    """
    settings = _settings()
    return _wait_one_group(settings, indexes, time.monotonic() + timeout)


def leader_url() -> str | None:
    """The REST URL of the group's leader, from the latest join in the workers' logs.

    Non-leaders forward leader-only requests (connector create, update, delete) to this URL.
    None when no running worker has joined yet.
    """
    settings = _settings()
    joins = [
        join
        for index in range(WORKER_COUNT)
        if _running_pid(settings, worker_name(index)) is not None
        and (join := _latest_join(settings.log_path(worker_name(index)))) is not None
    ]
    if not joins:
        return None
    return max(joins)[1].rstrip("/")


def _ensure_up(settings: HarnessSettings) -> ClusterInfo:
    started = time.monotonic()
    if _running_pid(settings, BROKER) is None:
        _down(settings)
        _check_ports_free(settings)
        _ensure_jars(settings)
        try:
            _start_broker(settings)
            _start_workers(settings, list(range(WORKER_COUNT)))
        except BaseException:
            _down(settings)
            raise
        reused = False
    else:
        missing = [i for i in range(WORKER_COUNT) if _running_pid(settings, worker_name(i)) is None]
        _start_workers(settings, list(range(WORKER_COUNT)))
        reused = not missing
    elapsed = 0.0 if reused else time.monotonic() - started
    return ClusterInfo(
        urls=tuple(settings.worker_url(index) for index in range(WORKER_COUNT)),
        bootstrap_servers=settings.bootstrap_servers,
        home=settings.home,
        startup_seconds=elapsed,
        reused=reused,
    )


def _start_broker(settings: HarnessSettings) -> None:
    data_dir = settings.home / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    config = _render(
        SERVER_TEMPLATE,
        settings.config_path(BROKER),
        DATA_DIR=str(data_dir),
        BROKER_PORT=str(settings.broker_port),
        CONTROLLER_PORT=str(settings.controller_port),
    )
    log = settings.log_path(BROKER)
    _rotate_log(log, keep_previous=False)
    started = time.monotonic()
    format_command = [
        *_java_command(settings, BROKER, ("-Xmx256m",)),
        "kafka.tools.StorageTool",
        "format",
        "--cluster-id",
        new_cluster_id(),
        "--config",
        str(config),
    ]
    with log.open("ab") as out:
        result = subprocess.run(
            format_command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=settings.home,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"formatting the broker's storage failed:\n{_log_tail(log)}")
    pid = _spawn(
        settings,
        BROKER,
        [*_java_command(settings, BROKER, BROKER_HEAP), "kafka.Kafka", str(config)],
    )
    deadline = time.monotonic() + BROKER_START_TIMEOUT
    while BROKER_READY_LINE not in _read_log(log):
        _fail_if_dead_or_late(settings, BROKER, pid, deadline)
        time.sleep(POLL_INTERVAL)
    _progress(f"broker ready at {settings.bootstrap_servers} in {time.monotonic() - started:.1f} s")


def _start_workers(settings: HarnessSettings, indexes: Sequence[int]) -> None:
    """Start the workers ``indexes`` that are not running, then wait for every running one."""
    if _running_pid(settings, BROKER) is None:
        raise RuntimeError("the broker is not running; call ensure_up() first")
    started = time.monotonic()
    for index in indexes:
        name = worker_name(index)
        if _running_pid(settings, name) is None:
            _check_ports_free(settings, ports=[settings.worker_ports[index]])
            config = _render(
                WORKER_TEMPLATE,
                settings.config_path(name),
                BROKER_PORT=str(settings.broker_port),
                REST_PORT=str(settings.worker_ports[index]),
            )
            _rotate_log(settings.log_path(name), keep_previous=True)
            command = [
                *_java_command(settings, name, WORKER_HEAP),
                "org.apache.kafka.connect.cli.ConnectDistributed",
                str(config),
            ]
            _spawn(settings, name, command)
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    running = [i for i in range(WORKER_COUNT) if _running_pid(settings, worker_name(i))]
    for index in running:
        while not is_healthy(settings.worker_url(index)):
            pid = _running_pid(settings, worker_name(index))
            _fail_if_dead_or_late(settings, worker_name(index), pid, deadline)
            time.sleep(POLL_INTERVAL)
    generation = _wait_one_group(settings, running, deadline)
    urls = ", ".join(settings.worker_url(i) for i in running)
    _progress(
        f"workers {urls} healthy in one group (generation {generation}) "
        f"after {time.monotonic() - started:.1f} s"
    )


def _wait_one_group(settings: HarnessSettings, indexes: Sequence[int], deadline: float) -> int:
    while True:
        joined = {_latest_join(settings.log_path(worker_name(index))) for index in indexes}
        only = next(iter(joined)) if len(joined) == 1 else None
        if only is not None:
            return only[0]
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {worker_name(i)}.log\n{_log_tail(settings.log_path(worker_name(i)))}"
                for i in indexes
            )
            raise RuntimeError(
                f"workers did not settle in one group: {sorted(map(str, joined))}\n{tails}"
            )
        time.sleep(POLL_INTERVAL)


def _down(settings: HarnessSettings) -> None:
    for name in [*(worker_name(i) for i in reversed(range(WORKER_COUNT))), BROKER]:
        _stop_process(settings, name, kill=False)
    # Strays: processes of this home whose pid file was lost.
    for pid in _harness_pids(settings):
        _signal_group(pid, signal.SIGKILL)
        _wait_gone(pid, STOP_TIMEOUT)
    left = _harness_pids(settings)
    if left:
        raise RuntimeError(f"processes of {settings.home} still alive after SIGKILL: {left}")


def _stop_process(settings: HarnessSettings, name: str, kill: bool) -> None:
    pid_file = settings.pid_path(name)
    pid = _running_pid(settings, name)
    if pid is not None:
        started = time.monotonic()
        if kill:
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid, STOP_TIMEOUT)
        else:
            _signal_group(pid, signal.SIGTERM)
            if not _wait_gone(pid, STOP_TIMEOUT):
                _progress(f"{name} ignored SIGTERM for {STOP_TIMEOUT:.0f} s; sending SIGKILL")
                _signal_group(pid, signal.SIGKILL)
                _wait_gone(pid, STOP_TIMEOUT)
        _progress(f"stopped {name} (pid {pid}) in {time.monotonic() - started:.1f} s")
    pid_file.unlink(missing_ok=True)


# --- processes --------------------------------------------------------------------------------


def new_cluster_id() -> str:
    """A random KRaft cluster id in the form of ``kafka-storage random-uuid``."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # Kafka's Uuid.randomUuid() never returns one that starts with "-".
        if not cluster_id.startswith("-"):
            return cluster_id


def _java_command(settings: HarnessSettings, name: str, heap: Sequence[str]) -> list[str]:
    return [
        settings.java,
        *heap,
        *COMMON_JVM_OPTIONS,
        f"-XX:ErrorFile={settings.home / 'logs' / f'{name}-hs_err_%p.log'}",
        f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
        settings.marker,
        f"-Dkafka.harness.process={name}",
        "-cp",
        f"{settings.lib_dir}/*",
    ]


def _spawn(settings: HarnessSettings, name: str, command: Sequence[str]) -> int:
    if shutil.which(settings.java) is None:
        raise RuntimeError(f"{settings.java} not found; run tests/kafka/install-java-maven.sh")
    settings.pid_path(name).parent.mkdir(parents=True, exist_ok=True)
    with settings.log_path(name).open("ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=settings.home,
            start_new_session=True,
        )
    _children[process.pid] = process
    settings.pid_path(name).write_text(f"{process.pid}\n")
    return process.pid


def _running_pid(settings: HarnessSettings, name: str) -> int | None:
    """The pid in ``name``'s pid file if that process is alive and really is ours."""
    try:
        pid = int(settings.pid_path(name).read_text().strip())
    except (OSError, ValueError):
        return None
    child = _children.get(pid)
    if child is not None:
        # Ours for sure; right after the fork its command line may not be java's yet.
        return pid if child.poll() is None else None
    command_line = _command_line(pid)
    if (
        _is_alive(pid)
        and settings.marker in command_line
        and f"-Dkafka.harness.process={name}" in command_line
    ):
        return pid
    return None


def _command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def _is_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _harness_pids(settings: HarnessSettings) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            pid = int(entry.name)
            if settings.marker in _command_line(pid) and _is_alive(pid):
                pids.append(pid)
    return sorted(pids)


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    _children.pop(pid, None)
    return True


def _fail_if_dead_or_late(
    settings: HarnessSettings, name: str, pid: int | None, deadline: float
) -> None:
    log = settings.log_path(name)
    if pid is None or not _is_alive(pid):
        raise RuntimeError(f"{name} exited during start-up; {log}:\n{_log_tail(log)}")
    if time.monotonic() > deadline:
        raise RuntimeError(f"{name} was not ready in time; {log}:\n{_log_tail(log)}")


def _check_ports_free(settings: HarnessSettings, ports: Sequence[int] | None = None) -> None:
    wanted = ports or [settings.broker_port, settings.controller_port, *settings.worker_ports]
    busy = [port for port in wanted if _port_is_open(port)]
    if busy:
        raise RuntimeError(
            f"127.0.0.1 ports {busy} are in use by processes this harness did not start; "
            "stop them or choose other ports (see tests/kafka/cluster.py)"
        )


def _port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


# --- files ------------------------------------------------------------------------------------


def _settings() -> HarnessSettings:
    return HarnessSettings.from_env(os.environ)


def _check_index(index: int) -> int:
    if index not in range(WORKER_COUNT):
        raise ValueError(f"worker index must be 0 or 1, not {index}")
    return index


@contextlib.contextmanager
def _locked(settings: HarnessSettings) -> Iterator[None]:
    settings.home.mkdir(parents=True, exist_ok=True)
    with (settings.home / "harness.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _render(template: Path, target: Path, **values: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(string.Template(template.read_text()).substitute(values))
    return target


def _rotate_log(log: Path, keep_previous: bool) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    previous = log.with_name(log.name + ".1")
    if keep_previous and log.exists() and log.stat().st_size:
        log.replace(previous)
    else:
        previous.unlink(missing_ok=True)
    log.write_bytes(b"")


def _read_log(log: Path) -> str:
    try:
        return log.read_text(errors="replace")
    except OSError:
        return ""


def _latest_join(log: Path) -> tuple[int, str] | None:
    joins = _JOINED_GROUP.findall(_read_log(log))
    if not joins:
        return None
    generation, leader_url = joins[-1]
    return int(generation), leader_url


def _log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({log} does not exist)"


def _progress(message: str) -> None:
    print(f"kafka harness: {message}", file=sys.stderr, flush=True)


# --- command line -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jars``, ``up``, ``down`` or ``status`` command; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.kafka.cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["jars", "up", "down", "status"])
    command = parser.parse_args(argv).command
    try:
        if command == "jars":
            print(ensure_jars())
        elif command == "up":
            info = ensure_up()
            print(f"CONNECT_URL={info.urls[0]}")
            for number, url in enumerate(info.urls[1:], start=2):
                print(f"CONNECT_URL_{number}={url}")
            print(f"KAFKA_BOOTSTRAP_SERVERS={info.bootstrap_servers}")
            print(f"STARTUP_SECONDS={info.startup_seconds:.1f}")
            if info.reused:
                _progress(f"reused the cluster already up; logs in {info.home / 'logs'}")
            else:
                _progress(f"started in {info.startup_seconds:.1f} s; logs in {info.home / 'logs'}")
        elif command == "down":
            down()
        else:
            statuses = status()
            for process in statuses:
                state = f"running pid {process.pid}" if process.running else "stopped"
                health = " healthy" if process.healthy else ""
                print(f"{process.name:<9} {state:<18} {process.address}{health}")
            return 0 if all(process.healthy for process in statuses) else 3
    except RuntimeError as error:
        print(f"kafka harness: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
