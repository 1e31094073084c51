"""Tests of the local cluster harness itself: the promises the integration suite relies on.

Both workers are healthy and form one Connect cluster, a non-leader forwards writes to the
leader, and a worker can be stopped (or killed) and started again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.kafka import cluster

pytestmark = pytest.mark.integration

TIMEOUT = 60.0
HTTP_TIMEOUT = 30.0
FILE_SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"


def wait_for(condition: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    """Poll ``condition`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


def connector_status(url: str, name: str) -> dict[str, Any] | None:
    """``GET /connectors/{name}/status``, or None while Connect has no status for it yet."""
    response = requests.get(f"{url}/connectors/{name}/status", timeout=HTTP_TIMEOUT)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    status: dict[str, Any] = response.json()
    return status


def running_task_workers(url: str, name: str, task_count: int) -> list[str] | None:
    """The worker ids of the connector's tasks once all ``task_count`` of them run, else None."""
    status = connector_status(url, name)
    if status is None or len(status["tasks"]) != task_count:
        return None
    if any(task["state"] != "RUNNING" for task in status["tasks"]):
        return None
    return sorted(task["worker_id"] for task in status["tasks"])


def file_sink_config(tmp_path: Path, tasks: int) -> dict[str, str]:
    """A FileStreamSink that needs nothing but the broker, writing under ``tmp_path``."""
    return {
        "connector.class": FILE_SINK,
        "tasks.max": str(tasks),
        "topics": f"harness-{uuid.uuid4().hex[:8]}",
        "file": str(tmp_path / "sink.txt"),
    }


@pytest.fixture
def connector_name(connect_cluster: cluster.ClusterInfo) -> Iterator[str]:
    """A unique connector name; the connector is deleted after the test if it exists."""
    name = f"harness-test-{uuid.uuid4().hex[:8]}"
    yield name
    url = connect_cluster.urls[0]
    cluster.wait_healthy(url)
    requests.delete(f"{url}/connectors/{name}", timeout=HTTP_TIMEOUT)
    wait_for(
        lambda: name not in requests.get(f"{url}/connectors", timeout=HTTP_TIMEOUT).json(),
        f"connector {name} to be deleted",
    )


def test_both_workers_report_healthy(connect_cluster: cluster.ClusterInfo) -> None:
    assert len(connect_cluster.urls) == 2
    for url in connect_cluster.urls:
        response = requests.get(f"{url}/health", timeout=HTTP_TIMEOUT)
        assert response.status_code == 200
        assert response.json()["status"] == "healthy"


def test_both_workers_share_one_kafka_cluster_and_plugins(
    connect_cluster: cluster.ClusterInfo,
) -> None:
    infos = [requests.get(f"{url}/", timeout=HTTP_TIMEOUT).json() for url in connect_cluster.urls]
    assert infos[0]["kafka_cluster_id"] == infos[1]["kafka_cluster_id"]
    assert infos[0]["version"] == cluster.kafka_version()
    plugins = requests.get(f"{connect_cluster.urls[1]}/connector-plugins", timeout=HTTP_TIMEOUT)
    assert FILE_SINK in {plugin["class"] for plugin in plugins.json()}


def test_two_tasks_are_spread_over_both_workers_of_one_group(
    connect_cluster: cluster.ClusterInfo, connector_name: str, tmp_path: Path
) -> None:
    url = connect_cluster.urls[0]
    response = requests.post(
        f"{url}/connectors",
        json={"name": connector_name, "config": file_sink_config(tmp_path, tasks=2)},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 201, response.text

    workers = wait_for(
        lambda: running_task_workers(url, connector_name, task_count=2),
        "two RUNNING tasks",
    )

    assert workers == sorted([cluster.worker_id(0), cluster.worker_id(1)])


def test_config_put_on_the_non_leader_is_forwarded_to_the_leader(
    connect_cluster: cluster.ClusterInfo, connector_name: str, tmp_path: Path
) -> None:
    leader = cluster.leader_url()
    assert leader in connect_cluster.urls
    follower = next(url for url in connect_cluster.urls if url != leader)
    config = file_sink_config(tmp_path, tasks=1)

    created = requests.put(
        f"{follower}/connectors/{connector_name}/config", json=config, timeout=HTTP_TIMEOUT
    )
    updated = requests.put(
        f"{follower}/connectors/{connector_name}/config",
        json={**config, "tasks.max": "2"},
        timeout=HTTP_TIMEOUT,
    )

    assert created.status_code == 201, created.text
    assert updated.status_code == 200, updated.text
    stored = wait_for(
        lambda: (
            requests.get(f"{leader}/connectors/{connector_name}/config", timeout=HTTP_TIMEOUT)
            .json()
            .get("tasks.max")
            == "2"
        ),
        "the leader to see the update",
    )
    assert stored


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_a_stopped_worker_comes_back_into_the_group(
    restore_workers: cluster.ClusterInfo, kill: bool
) -> None:
    survivor, stopped = restore_workers.urls

    cluster.stop_worker(1, kill=kill)

    assert not cluster.is_healthy(stopped, timeout=2)
    assert cluster.is_healthy(survivor)
    cluster.start_worker(1)
    assert cluster.is_healthy(stopped)
    assert cluster.wait_one_group([0, 1], timeout=5) > 0


def test_tasks_of_a_killed_worker_move_to_the_survivor(
    restore_workers: cluster.ClusterInfo, connector_name: str, tmp_path: Path
) -> None:
    url = restore_workers.urls[0]
    config = file_sink_config(tmp_path, tasks=2)
    response = requests.put(
        f"{url}/connectors/{connector_name}/config", json=config, timeout=HTTP_TIMEOUT
    )
    assert response.status_code == 201, response.text
    wait_for(lambda: running_task_workers(url, connector_name, 2), "two RUNNING tasks")

    cluster.stop_worker(1, kill=True)

    # session.timeout.ms (10 s) to notice, then scheduled.rebalance.max.delay.ms (3 s).
    workers = wait_for(
        lambda: running_task_workers(url, connector_name, 2) == [cluster.worker_id(0)] * 2,
        "both tasks RUNNING on the survivor",
    )
    assert workers
