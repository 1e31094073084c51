"""The whole hook process against a fake Connect: the figures the render cache is judged by.

For N connectors (10 per ConfigMap, each reading a secret variable, a plain variable and an
environment value), it runs `hooks/connect-operator` as shell-operator would (a binding-context
file, the patch and metrics files, the ledger applied between runs) and reports, per run, the
wall time of the whole process (interpreter start, imports, render, one GET, plan, outputs) and
its CPU time and peak RSS (the renderer child included, from `wait4`). Wall times are medians
and bests of `--repeats` runs; on a shared machine the CPU time is the steadier figure:

- create: the first run, every connector rendered and created;
- unchanged: the periodic resync, nothing changed: nothing rendered, one GET, no write;
- one changed: one ConfigMap key edited: that program rendered, one PUT;
- var changed: a variable that every program reads changed: all rendered, N PUTs.

Run: `make bench` (or `python -m bench.hook_scale --sizes 1000,10000`). Figures come from here,
never from tests. The fake Connect runs in a thread of this process, on the same CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.fake_connect import FakeConnect, serve
from tests.support.shell_operator import (
    HOOK,
    OUTPUT_FILES,
    ObjectStore,
    group_contexts,
    hook_config,
)

PER_CONFIGMAP = 10


def _program(index: int, marker: str = "") -> str:
    return (
        json.dumps(
            {
                "name": f"bench-{index:05d}",
                "config": {
                    "connector.class": "FileStreamSink",
                    "topics": f"topic-{index}{marker}",
                    "file": f"/data/bench-{index}.out",
                    "tasks.max": 1 + index % 3,
                },
            }
        )[:-2]
        + ', "password": $DB_PASSWORD, "prefix": $TOPIC_PREFIX, "owner": env.CONNECTOR_OWNER}}'
    )


def _put_connectors(store: ObjectStore, count: int) -> None:
    for first in range(0, count, PER_CONFIGMAP):
        data = {
            f"c{index}.json": _program(index)
            for index in range(first, min(first + PER_CONFIGMAP, count))
        }
        store.put(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": f"cm-{first:05d}",
                    "labels": {"destination": "connect", "enabled": "true"},
                },
                "data": data,
            }
        )


def _run(env: dict[str, str], store: ObjectStore, config: dict[str, Any]) -> dict[str, float]:
    contexts = group_contexts(config, store)
    with tempfile.TemporaryDirectory(prefix="bench-hook-") as tmp:
        run_env = dict(env)
        for variable, filename in OUTPUT_FILES.items():
            (Path(tmp) / filename).touch()
            run_env[variable] = str(Path(tmp) / filename)
        (Path(tmp) / OUTPUT_FILES["BINDING_CONTEXT_PATH"]).write_text(json.dumps(contexts))
        started = time.perf_counter()
        process = subprocess.Popen(
            [*os.environ.get("BENCH_HOOK_PREFIX", "").split(), str(HOOK)],
            cwd=HOOK.parent,
            env=run_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        assert process.returncode == 0, f"hook exited {process.returncode}"
        store.apply_patch_text((Path(tmp) / OUTPUT_FILES["KUBERNETES_PATCH_PATH"]).read_text())
    return {
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
    }


def measure(count: int, repeats: int) -> dict[str, dict[str, float]]:
    """One row per kind of run, for `count` connectors (medians of `repeats` runs)."""
    rows: dict[str, dict[str, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-vars-") as variables,
        serve(FakeConnect()) as fake,
    ):
        Path(variables, "bench.properties").write_text(
            "db.password=bench-secret-value\ntopic.prefix=bench\n"
        )
        env = {
            # The venv's python first, as in the image: `env python3` finds it directly.
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": variables,
            "CONNECT_URL": fake.url,
            "CONNECT_OPERATOR_CONFIG_DIR": variables,
            "CONNECT_OPERATOR_MAX_DELETES": "-1",
            "CONNECT_OPERATOR_RUN_DEADLINE": "300",
            "CONNECTOR_OWNER": "bench-team",
        }
        store = ObjectStore()
        _put_connectors(store, count)
        config = hook_config(HOOK, env)

        def timed(kind: str, prepare: Any = None) -> None:
            results = []
            for _ in range(repeats if kind != "create" else 1):
                if prepare is not None:
                    prepare()
                fake.requests.clear()
                results.append(_run(env, store, config))
            rows[kind] = {
                "seconds": statistics.median(r["seconds"] for r in results),
                "best": min(r["seconds"] for r in results),
                "cpu": statistics.median(r["cpu"] for r in results),
                "rss_mb": max(r["rss_mb"] for r in results),
                "requests": len(fake.requests),
                "writes": len(fake.writes()),
            }

        timed("create")
        timed("unchanged")
        edits = iter(range(1_000_000))

        def change_one() -> None:
            data = store.get("ConfigMap", "default", "cm-00000")
            assert data is not None
            data["data"]["c0.json"] = _program(0, f"-edit{next(edits)}")

        timed("one changed", change_one)
        values = iter(range(1_000_000))

        def change_variable() -> None:
            Path(variables, "bench.properties").write_text(
                f"db.password=bench-secret-{next(values)}\ntopic.prefix=bench\n"
            )

        timed("variable changed", change_variable)
    return rows


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    print(
        f"{'connectors':>10}  {'run':<17} {'wall s':>7} {'best s':>7} {'CPU s':>6}"
        f" {'peak RSS':>9} {'reqs':>6} {'writes':>6}"
    )
    for size in (int(size) for size in arguments.sizes.split(",")):
        for kind, row in measure(size, arguments.repeats).items():
            print(
                f"{size:>10}  {kind:<17} {row['seconds']:>7.3f} {row['best']:>7.3f}"
                f" {row['cpu']:>6.3f} {row['rss_mb']:>6.1f} MB"
                f" {row['requests']:>6.0f} {row['writes']:>6.0f}"
            )


if __name__ == "__main__":
    main()
