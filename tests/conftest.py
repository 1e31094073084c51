"""Fixtures shared by the suites that use the real local Kafka cluster (integration and e2e).

``connect_cluster`` is described in ``tests/integration/conftest.py``; a suite that does not ask
for it (the unit tests) never starts the cluster.
"""

from __future__ import annotations

import pytest

from tests.kafka import cluster


@pytest.fixture(scope="session")
def connect_cluster() -> cluster.ClusterInfo:
    """The running local cluster; started for this session if it was not up already."""
    try:
        return cluster.ensure_up()
    except RuntimeError as error:
        pytest.fail(f"the local Kafka cluster did not start:\n{error}", pytrace=False)
