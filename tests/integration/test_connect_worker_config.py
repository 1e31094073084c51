"""The workers' ``worker.properties`` (k8s/base) on a real Kafka Connect: config providers resolve.

A third worker JVM is started from the repository's own ``k8s/base/connect/worker.properties``,
with only what a laptop differs in rewritten (the Secret mount folder, the REST port, the group
and topic names, plugin discovery): ``bootstrap.servers`` and the SASL settings come from a
Kafka client file through ``${file:...}``, and ``rest.advertised.host.name`` from ``${env:POD_IP}``.
It must join the local broker, advertise the address from its environment, and never log the
JAAS password it was given. It is stopped by its pid afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.kafka import cluster

pytestmark = pytest.mark.integration

WORKER_PROPERTIES = cluster.REPO_ROOT / "k8s" / "base" / "connect" / "worker.properties"
SECRETS_MOUNT = "/etc/config/connect/"
CANARY = "CANARY-jaas-password-7d3e"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM its process group (SIGKILL after 30 s); nothing if it already exited."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signum)
        try:
            worker.wait(timeout=30)
            return
        except subprocess.TimeoutExpired:
            continue


def local_worker_properties(secrets: Path, port: int, group: str) -> str:
    """k8s/base's worker.properties with the paths and names of this machine."""
    text = WORKER_PROPERTIES.read_text()
    assert SECRETS_MOUNT in text
    text = text.replace(SECRETS_MOUNT, f"{secrets}/")
    replacements = {
        "listeners": f"http://127.0.0.1:{port}",
        "rest.advertised.port": str(port),
        "group.id": group,
        "config.storage.topic": f"{group}-configs",
        "offset.storage.topic": f"{group}-offsets",
        "status.storage.topic": f"{group}-status",
        # The image's plugin.path does not exist here; the jars are on the class path.
        "plugin.path": None,
    }
    for key, value in replacements.items():
        pattern = re.compile(rf"^{re.escape(key)}=.*$", re.MULTILINE)
        assert pattern.search(text), f"worker.properties has no {key}"
        text = pattern.sub("" if value is None else f"{key}={value}", text)
    return text + "plugin.discovery=service_load\n"


def test_the_workers_configuration_resolves_its_secret_files_and_environment(
    connect_cluster: cluster.ClusterInfo, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "kafka.properties").write_text(
        f"bootstrap.servers={connect_cluster.bootstrap_servers}\n"
        "security.protocol=PLAINTEXT\n"
        "sasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="key" password="{CANARY}";\n'
    )
    port = free_port()
    group = f"worker-config-{port}"
    config = tmp_path / "worker.properties"
    config.write_text(local_worker_properties(secrets, port, group))
    log = tmp_path / "worker.log"
    java = os.environ.get("JAVA_HOME", "")
    command = [
        str(Path(java) / "bin" / "java") if java else "java",
        "-Xmx384m",
        *cluster.COMMON_JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={cluster.LOG4J2_CONFIG}",
        "-cp",
        f"{cluster.ensure_jars()}/*",
        "org.apache.kafka.connect.cli.ConnectDistributed",
        str(config),
    ]
    with log.open("wb") as output:
        worker = subprocess.Popen(
            command,
            env={**os.environ, "POD_IP": "127.0.0.7"},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while not cluster.is_healthy(f"http://127.0.0.1:{port}"):
            assert worker.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)

        root = requests.get(f"http://127.0.0.1:{port}/", timeout=10).json()
        assert root["kafka_cluster_id"]  # it reached the broker named by ${file:...}
        # The group's leader URL is the advertised address: ${env:POD_IP}.
        assert f"leaderUrl='http://127.0.0.7:{port}/'" in log.read_text()
    finally:
        stop(worker)
    assert CANARY not in log.read_text()
