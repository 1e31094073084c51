"""Fixtures for the unit tests: a fake Connect on loopback and a shell-operator stand-in."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_confluent_cloud import FakeConfluentCloud, serve_cloud
from tests.support.fake_connect import FakeConnect, SharedServer, shared_server
from tests.support.shell_operator import REPO_ROOT, ShellOperator

DATA = REPO_ROOT / "tests" / "data"
# Every secret in tests/data and in the environment below; none may ever leak.
CANARIES = (
    "CANARY-KEY-7f3a",
    "CANARY-SECRET-9b2c",
    "CANARY-SR-USER",
    "CANARY-SR-PASS",
    "CANARY-ENV-DB-PASSWORD",
    "CANARY-CC-SECRET",
)
# The Confluent Cloud API key the `cloud` fake accepts (its secret is a canary too).
CLOUD_KEY = "CLOUDKEY"
CLOUD_SECRET = "CANARY-CLOUD-SECRET-5a7b"


def connector_json(name: str, **config: object) -> str:
    """A connector ConfigMap value: a jq program with literal values only."""
    import json

    body = {"connector.class": "FileStreamSink", "topics": "t", **config}
    return json.dumps({"name": name, "config": body})


@pytest.fixture(autouse=True)
def _programs_read_afresh() -> None:
    """Each test reads its programs afresh: `program_inputs` caches by program text, so a
    cache warmed by an earlier test (or, under mutmut, by the clean run whose process every
    mutant is forked from) would skip the code the test is about."""
    from connect_operator.templating import program_inputs

    program_inputs.cache_clear()


@pytest.fixture(scope="session")
def connect_server() -> Iterator[SharedServer]:
    """One loopback server for the session's fake Connects (see `fake_connect`)."""
    with shared_server() as server:
        yield server


@pytest.fixture
def fake_connect(connect_server: SharedServer) -> Iterator[FakeConnect]:
    """A fresh stateful fake Connect, served on the session's loopback port."""
    with connect_server.serving(FakeConnect()) as fake:
        yield fake


@pytest.fixture
def cloud() -> Iterator[FakeConfluentCloud]:
    """A fake of Confluent Cloud's connect/v1 API on loopback, accepting CLOUD_KEY/CLOUD_SECRET."""
    with serve_cloud(FakeConfluentCloud(api_key=(CLOUD_KEY, CLOUD_SECRET))) as fake:
        yield fake


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening, and held for the
    whole test, so no other server (another xdist worker's, say) can take it meanwhile."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """The environment shell-operator would give the hook, minus the URLs."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "CONNECT_OPERATOR_CONFIG_DIR": str(DATA / "variables"),
        "CONNECT_OPERATOR_RUN_DEADLINE": "20",
        "DB_PASSWORD": "CANARY-ENV-DB-PASSWORD",
    }


@pytest.fixture
def operator(fake_connect: FakeConnect, base_env: dict[str, str]) -> ShellOperator:
    """A shell-operator stand-in whose hook talks to the fake Connect."""
    return ShellOperator(env={**base_env, "CONNECT_URL": fake_connect.url}, in_process=True)
