"""Fixtures of the integration suite: the real local Kafka cluster of ``tests/kafka/cluster.py``.

``connect_cluster`` (session scope, defined in ``tests/conftest.py`` for the e2e suite too)
returns a :class:`~tests.kafka.cluster.ClusterInfo` for a KRaft broker and two distributed
Connect workers (``info.urls``: 8083 and 8084 by default).

- It reuses a cluster that is already up (``make connect-up``), so a local edit-test loop costs
  nothing; otherwise it starts one, which takes about 6 s with the jars in place.
- If the cluster cannot start, every test that uses it FAILS with the tail of the log that
  explains why. It is never skipped: a missing Kafka must not look like a green suite.
- It never stops the cluster, whether it started it or found it running: the next session
  reuses it. ``make connect-down`` stops it, and ``.ci/run`` calls that at the end. Logs stay in
  ``.kafka/logs/`` (broker.log, worker-1.log, worker-2.log).
- Tests that stop or kill a worker must start it again before they finish (``restore_workers``
  does that), so later tests find both workers in one group.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kafka import cluster


@pytest.fixture
def restore_workers(connect_cluster: cluster.ClusterInfo) -> Iterator[cluster.ClusterInfo]:
    """The cluster, with both workers started again after the test, whatever it stopped."""
    yield connect_cluster
    cluster.start_all_workers()
