"""The Connect workers' configuration: Kafka's config providers instead of a properties parser.

Each overlay's ConfigMap ``connect-worker`` holds ``worker.properties``, which
``docker/connect/start.sh`` hands to ``connect-distributed`` untouched. Credentials in it are
``${file:<path>:<key>}`` references that Kafka's FileConfigProvider resolves inside the JVM from
the Secret files the Deployment mounts; ``${env:NAME}`` ones come from the container's env.
These tests check that every reference can resolve (the provider is declared, the path is a
mounted Secret file, the key exists where the repository ships the file), that no credential is
written as a literal, and that the start script only checks the file and execs the worker.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from connect_operator.properties import parse_properties
from tests.deploy.helpers import (
    CONNECT_DEPLOYMENT,
    DOCKER,
    OVERLAYS,
    build,
    container_env,
    named,
    pod_spec,
)

START = DOCKER / "connect" / "start.sh"
REFERENCE = re.compile(r"\$\{(\w+):([^}]*)\}")
PROVIDER_CLASSES = {
    "file": "org.apache.kafka.common.config.provider.FileConfigProvider",
    "env": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
}
CREDENTIAL_KEY = re.compile(r"(sasl\.jaas\.config|password|user\.info|secret)", re.IGNORECASE)
SECRETS_MOUNT = "/etc/config/connect"


def worker_properties(objects: list[dict[str, Any]]) -> dict[str, str]:
    """worker.properties of the overlay's connect-worker ConfigMap, parsed as Java does."""
    (configmap,) = [
        obj
        for obj in objects
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith("connect-worker-")
    ]
    return parse_properties(configmap["data"]["worker.properties"])


def connect_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = pod_spec(named(objects, "Deployment", CONNECT_DEPLOYMENT))["containers"]
    return dict(container)


def mounted_secret_files(objects: list[dict[str, Any]]) -> dict[str, str]:
    """{path of a mounted Secret file: Secret name} for the Connect container.

    A projected or plain Secret volume without ``items`` shows each of the Secret's keys as a
    file; the file names are the keys the repository documents for each Secret.
    """
    deployment = named(objects, "Deployment", CONNECT_DEPLOYMENT)
    volumes = {volume["name"]: volume for volume in pod_spec(deployment).get("volumes", [])}
    documented = {
        "kafka-client": "kafka.properties",
        "schema-registry-client": "schema-registry.properties",
    }
    files = {}
    for mount in connect_container(objects).get("volumeMounts", []):
        volume = volumes[mount["name"]]
        sources = volume.get("projected", {}).get("sources", [])
        if "secret" in volume:
            sources = [{"secret": {"name": volume["secret"]["secretName"]}}]
        for source in sources:
            if "secret" not in source:
                continue
            name = re.sub(r"-[a-z0-9]{10}$", "", source["secret"]["name"])
            files[f"{mount['mountPath']}/{documented[name]}"] = source["secret"]["name"]
    return files


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_reference_uses_a_declared_config_provider(overlay: str) -> None:
    properties = worker_properties(build(f"overlays/{overlay}"))
    declared = properties["config.providers"].split(",")
    for name in declared:
        assert properties[f"config.providers.{name}.class"] == PROVIDER_CLASSES[name]
    used = {match.group(1) for value in properties.values() for match in REFERENCE.finditer(value)}
    assert used == {"file", "env"}
    assert used <= set(declared)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_credential_is_written_as_a_literal(overlay: str) -> None:
    properties = worker_properties(build(f"overlays/{overlay}"))
    credentials = {key: value for key, value in properties.items() if CREDENTIAL_KEY.search(key)}
    assert any(key.endswith("sasl.jaas.config") for key in credentials)
    for key, value in credentials.items():
        assert re.fullmatch(r"\$\{file:[^}]+\}", value), f"{key} is not a ${{file:...}} reference"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_file_reference_names_a_mounted_secret_file(overlay: str) -> None:
    objects = build(f"overlays/{overlay}")
    secret_files = mounted_secret_files(objects)
    for key, value in worker_properties(objects).items():
        for provider, argument in REFERENCE.findall(value):
            if provider != "file":
                continue
            path, _, _ = argument.rpartition(":")
            assert path in secret_files, f"{key}: {path} is not a mounted Secret file"
            assert path.startswith(f"{SECRETS_MOUNT}/")


def test_every_key_dev_references_is_defined_in_the_secret_dev_generates() -> None:
    objects = build("overlays/dev")
    secrets = {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == "Secret"}
    secret_files = mounted_secret_files(objects)
    checked = 0
    for key, value in worker_properties(objects).items():
        for provider, argument in REFERENCE.findall(value):
            if provider != "file":
                continue
            path, _, wanted = argument.rpartition(":")
            secret = secrets.get(secret_files[path])
            assert secret is not None, f"{key}: dev generates no Secret {secret_files[path]}"
            text = base64.b64decode(secret["data"][Path(path).name]).decode()
            assert wanted in parse_properties(text), f"{key}: {path} defines no {wanted}"
            checked += 1
    assert checked >= 16


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_env_reference_is_set_in_the_workers_environment(overlay: str) -> None:
    objects = build(f"overlays/{overlay}")
    deployment = named(objects, "Deployment", CONNECT_DEPLOYMENT)
    environment = container_env(deployment, connect_container(objects)["name"])
    for key, value in worker_properties(objects).items():
        for provider, argument in REFERENCE.findall(value):
            if provider == "env":
                assert argument in environment, f"{key}: ${{env:{argument}}} is not set"


def test_prd_uses_avro_with_schema_registry_and_dev_plain_json() -> None:
    dev = worker_properties(build("overlays/dev"))
    prd = worker_properties(build("overlays/prd"))
    assert dev["value.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert prd["value.converter"] == "io.confluent.connect.avro.AvroConverter"
    assert prd["value.converter.schema.registry.url"].startswith(
        "${file:/etc/config/connect/schema-registry.properties:"
    )
    assert {key for key in dev if not key.startswith(("key.converter", "value.converter"))} == {
        key for key in prd if not key.startswith(("key.converter", "value.converter"))
    }


def default_worker_config() -> str:
    match = re.search(r'WORKER_CONFIG="\$\{WORKER_CONFIG:-([^}]+)\}"', START.read_text())
    assert match, "start.sh has no WORKER_CONFIG default"
    return match.group(1)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_worker_configuration_is_mounted_where_start_sh_reads_it(overlay: str) -> None:
    objects = build(f"overlays/{overlay}")
    deployment = named(objects, "Deployment", CONNECT_DEPLOYMENT)
    volumes = {volume["name"]: volume for volume in pod_spec(deployment)["volumes"]}
    default = Path(default_worker_config())
    (mount,) = [
        mount
        for mount in connect_container(objects)["volumeMounts"]
        if mount["mountPath"] == str(default.parent)
    ]
    assert volumes[mount["name"]]["configMap"]["name"].startswith("connect-worker-")


def run_start(
    tmp_path: Path, worker_config: Path, trace: bool = False
) -> subprocess.CompletedProcess[str]:
    """start.sh with a stand-in connect-distributed on PATH that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stand_in = bin_dir / "connect-distributed"
    stand_in.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/arguments\n')
    stand_in.chmod(0o755)
    return subprocess.run(
        ["bash", *(["-x"] if trace else []), str(START)],
        env={
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "WORKER_CONFIG": str(worker_config),
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_start_sh_execs_connect_distributed_with_the_mounted_file_untouched(tmp_path: Path) -> None:
    config = tmp_path / "worker.properties"
    config.write_text(
        "sasl.jaas.config=${file:/etc/config/connect/kafka.properties:sasl.jaas.config}\n"
    )
    before = config.read_text()

    done = run_start(tmp_path, config, trace=True)

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "arguments").read_text().splitlines() == [str(config)]
    assert config.read_text() == before


def test_start_sh_fails_clearly_without_the_worker_configuration(tmp_path: Path) -> None:
    done = run_start(tmp_path, tmp_path / "absent.properties")

    assert done.returncode == 2
    assert "absent.properties is missing" in done.stderr
    assert "connect-worker ConfigMap" in done.stderr
    assert not (tmp_path / "arguments").exists()


def test_start_sh_prints_nothing_of_the_configuration_even_under_bash_x(tmp_path: Path) -> None:
    canary = "CANARY-worker-value-d0-not-print"
    config = tmp_path / "worker.properties"
    config.write_text(f"sasl.jaas.config={canary}\n")

    done = run_start(tmp_path, config, trace=True)

    assert done.returncode == 0, done.stderr
    assert canary not in done.stdout + done.stderr
