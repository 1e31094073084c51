"""How a reconcile scales with the number of connectors, against a fake Connect over HTTP.

For N connectors it measures, in-process (the hook's code path without the interpreter start):

- the first run, which creates everything (N PUTs);
- an unchanged run (the periodic resync): one GET, zero writes;
- the same unchanged check done the way the bash operator did it, one
  `GET /connectors/{name}/config` per connector, as the baseline for the ratio.

It prints a table of wall times, requests and the ratio baseline/ours. Run: `make bench`.
The fake answers from memory, so the figures show the client's and the planner's cost and the
request count; against a real Connect each saved request is a network round trip more.
"""

from __future__ import annotations

import argparse
import json
import time

import requests

from connect_operator.binding import ClusterView, ConfigMapView
from connect_operator.connect_client import Deadline
from connect_operator.properties import Variables
from connect_operator.reconcile import reconcile
from connect_operator.settings import Settings
from tests.support.fake_connect import FakeConnect, serve


def _configmaps(count: int) -> tuple[ConfigMapView, ...]:
    per_configmap = 10
    configmaps = []
    for first in range(0, count, per_configmap):
        data = {}
        for index in range(first, min(first + per_configmap, count)):
            data[f"c{index}.json"] = (
                json.dumps(
                    {
                        "name": f"bench-{index:05d}",
                        "config": {
                            "connector.class": "FileStreamSink",
                            "topics": f"topic-{index}",
                            "file": f"/data/bench-{index}.out",
                            "tasks.max": 1 + index % 3,
                        },
                    }
                )[:-2]
                + ', "password": $PASSWORD}}'
            )
        configmaps.append(
            ConfigMapView(
                "bench", f"cm-{first}", {"destination": "connect", "enabled": "true"}, data
            )
        )
    return tuple(configmaps)


def _run(view: ClusterView, settings: Settings, variables: Variables) -> tuple[float, int]:
    session = requests.Session()
    started = time.perf_counter()
    report = reconcile(view, variables, settings, session=session, deadline=Deadline(600))
    elapsed = time.perf_counter() - started
    assert report.exit_code == 0
    return elapsed, sum(target.requests_sent for target in report.targets)


def measure(count: int) -> dict[str, float]:
    """One row of the table for `count` connectors."""
    variables = Variables(values={"PASSWORD": "bench-secret"}, environ={})
    with serve(FakeConnect()) as fake:
        settings = Settings(connect_url=fake.url, max_deletes=None)
        view = ClusterView(_configmaps(count), (), (), ledger_known=True)
        create_seconds, create_requests = _run(view, settings, variables)
        fake.requests.clear()
        unchanged_seconds, unchanged_requests = _run(view, settings, variables)
        assert not fake.writes()
        session = requests.Session()
        started = time.perf_counter()
        for name in fake.connectors:
            session.get(f"{fake.url}/connectors/{name}/config", timeout=30)
        baseline_seconds = time.perf_counter() - started
    return {
        "connectors": count,
        "create_s": create_seconds,
        "create_requests": create_requests,
        "unchanged_s": unchanged_seconds,
        "unchanged_requests": unchanged_requests,
        "per_connector_get_s": baseline_seconds,
        "per_connector_get_requests": count,
    }


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    print(
        f"{'connectors':>10} {'create s':>9} {'reqs':>6} {'resync s':>9} {'reqs':>5}"
        f" {'ms/conn':>8} {'GET-each s':>10} {'reqs':>6} {'ratio':>6}"
    )
    for size in sizes:
        row = measure(size)
        ratio = row["per_connector_get_s"] / row["unchanged_s"]
        print(
            f"{size:>10} {row['create_s']:>9.3f} {row['create_requests']:>6.0f}"
            f" {row['unchanged_s']:>9.3f} {row['unchanged_requests']:>5.0f}"
            f" {1000 * row['unchanged_s'] / size:>8.2f} {row['per_connector_get_s']:>10.3f}"
            f" {row['per_connector_get_requests']:>6.0f} {ratio:>5.1f}x"
        )


if __name__ == "__main__":
    main()
