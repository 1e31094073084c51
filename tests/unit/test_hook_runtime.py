"""Rule 7 of issue 9: the hook runs from anywhere, says why it crashed, and honours its level."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from connect_operator import hook as hook_module
from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import HOOK, ShellOperator, discover_hooks, hook_config
from tests.unit.conftest import connector_json

SYSTEM_PATH = "/usr/bin:/bin"  # a python3 without our package, as in a bare image


@pytest.mark.skipif(shutil.which("python3", path=SYSTEM_PATH) is None, reason="no system python3")
def test_a_symlinked_hook_in_another_hooks_directory_configures_and_runs(
    tmp_path: Path, operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    hooks_dir = tmp_path / "hooks"
    hooks_dir.mkdir()
    link = hooks_dir / "connect-operator"
    link.symlink_to(HOOK)
    # shell-operator lists the link (it does not follow it) and calls it from the hooks dir.
    assert discover_hooks(hooks_dir) == [HOOK.resolve()]
    operator.env["PATH"] = SYSTEM_PATH
    config = hook_config(link, operator.env)
    assert config["configVersion"] == "v1"
    operator.put_configmap("c", {"c.json": connector_json("c")})
    from tests.support.shell_operator import group_contexts

    run = operator.run_with(group_contexts(config, operator.store), argv0=link)
    assert run.returncode == 0, run.stderr
    assert "c" in fake_connect.connectors


def test_a_crash_logs_a_redacted_traceback_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, base_env: dict[str, str], tmp_path: Path
) -> None:
    context = tmp_path / "context.json"
    context.write_text(
        json.dumps(
            [
                {
                    "binding": "connectors",
                    "type": "Group",
                    "snapshots": {"connectors": [], "ledger": []},
                }
            ]
        )
    )

    def explode(*_: object, **__: object) -> None:
        secret = "CANARY-ENV-DB-PASSWORD"  # a value the redactor knows (from the environment)
        raise RuntimeError(f"boom near {secret}")

    monkeypatch.setattr(hook_module, "reconcile", explode)
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)
    code = hook_module.run(
        {**base_env, "CONNECT_URL": "http://127.0.0.1:9", "BINDING_CONTEXT_PATH": str(context)}
    )
    assert code == 1
    (line,) = [json.loads(text) for text in stdout.getvalue().splitlines() if "boom" in text]
    assert "Traceback (most recent call last)" in line["traceback"]
    assert "in explode" in line["traceback"] and "RuntimeError: boom near" in line["traceback"]
    assert "CANARY-ENV-DB-PASSWORD" not in stdout.getvalue()


def test_the_log_level_setting_shows_debug_lines(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("c", {"c.json": connector_json("c")})
    assert operator.run().returncode == 0
    quiet = operator.run()
    assert not any(line["level"] == "debug" for line in quiet.log_lines())
    operator.env["CONNECT_OPERATOR_LOG_LEVEL"] = "debug"
    loud = operator.run()
    assert any(
        line["level"] == "debug" and line["msg"] == "connector c has been unchanged"
        for line in loud.log_lines()
    )


def test_a_run_collects_its_long_lived_garbage_rarely_yet_does_and_gives_the_collector_back(
    operator: ShellOperator, fake_connect: FakeConnect, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import weakref

    operator.put_configmap("c", {f"c{i}.json": connector_json(f"c{i}") for i in range(20)})
    full_collections: list[int] = []
    young_collections: list[int] = []
    reconciling: list[bool] = []
    freed_while_reconciling: list[bool] = []
    from connect_operator.reconcile import reconcile as real

    class Cycle:
        def __init__(self) -> None:
            self.itself = self

    def flagged(*args: Any, **kwargs: Any) -> Any:
        reconciling.append(True)
        try:
            # Cyclic garbage that outlived the young collections, as an HTTP exchange's does.
            cycle = Cycle()
            weakref.finalize(cycle, lambda: freed_while_reconciling.append(bool(reconciling)))
            gc.collect(1)
            del cycle
            return real(*args, **kwargs)
        finally:
            reconciling.pop()

    monkeypatch.setattr("connect_operator.hook.reconcile", flagged)

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and reconciling:
            (full_collections if info["generation"] == 2 else young_collections).append(1)

    saved = gc.get_threshold()
    # Full collections as often as the collector allows: the heap so far is frozen (out of the
    # collector's sight), so whatever the run keeps counts as growth of the old generation.
    gc.freeze()
    gc.collect()
    gc.set_threshold(50, 1, 1)
    gc.callbacks.append(count)
    try:
        run = operator.run()
    finally:
        gc.callbacks.remove(count)
        after = gc.get_threshold()
        gc.set_threshold(*saved)
        gc.unfreeze()
    assert run.returncode == 0, run.stderr
    assert len(fake_connect.connectors) == 20
    assert freed_while_reconciling == [True]  # old cyclic garbage is freed within the run
    assert young_collections
    # ... but rarely: (50, 1, 1) allows a full collection after every middle-generation one
    # (about every other young collection); the run lets ten middle ones pass first.
    assert 0 < len(full_collections) <= len(young_collections) / 20 + 1
    assert after == (50, 1, 1)
