"""A small stand-in for shell-operator, to drive `hooks/` exactly the way it does.

It follows /work/shared/reference/shell-operator-contract.md:

- discovery: executable files under the hooks dir, skipping dot-files, `lib/`, *.yaml/json/md/txt;
- `--config`: argv `--config`, cwd = hooks dir, stdout parsed as YAML/JSON and validated here
  against the v1 rules (`validate_hook_config`);
- a run: no argv, cwd = the hook's directory, stdin /dev/null, the six *_PATH files pre-created
  empty in a temp dir, JSON-array binding contexts built from a store of objects, with each
  binding's selectors and jqFilter applied;
- outputs are applied **only after exit 0**, as the real one does (measured, see
  real-kubernetes-e2e.md): the patch file to the store (Create*, Delete*, MergePatch, JQPatch) and
  the metrics file to `served_metrics` (a group's earlier series are expired by each batch, and
  ungrouped metrics get the hook's name as their group); on any other exit both are discarded;
- no read-your-writes, on request: `run(stale_ledger=True)` hands the hook the ledger as it was
  before the previous run's patch was applied, as real shell-operator sometimes does.

`ShellOperator(in_process=True)` is the same contract without a process: like the `testrun` of
deckhouse's lib-python, the hook's whole run (`connect_operator.hook`) is called as a function
with the same environment and the same files (binding context in; patch, metrics and log lines
out), its stdout and stderr captured, and a `FakeClock` for its deadline and retry waits, so no
run really sleeps. The unit suite uses it; a few smoke tests start the real executable.

It is a test double for speed and for the demo, not a reimplementation: the real shell-operator
is the truth.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jq
import yaml

from tests.support.fake_clock import FakeClock

OUTPUT_FILES = {
    "BINDING_CONTEXT_PATH": "binding-context.json",
    "METRICS_PATH": "metrics.json",
    "CONVERSION_RESPONSE_PATH": "conversion.json",
    "VALIDATING_RESPONSE_PATH": "validating.json",
    "ADMISSION_RESPONSE_PATH": "validating.json",
    "KUBERNETES_PATCH_PATH": "kubernetes-patch.json",
}

_ROOT_KEYS = {
    "configVersion",
    "onStartup",
    "settings",
    "schedule",
    "kubernetes",
    "kubernetesValidating",
    "kubernetesMutating",
    "kubernetesCustomResourceConversion",
}
_KUBERNETES_KEYS = {
    "name",
    "kind",
    "apiVersion",
    "queue",
    "group",
    "allowFailure",
    "executeHookOnEvent",
    "watchEvent",
    "executeHookOnSynchronization",
    "keepFullObjectsInMemory",
    "waitForSynchronization",
    "resynchronizationPeriod",
    "jqFilter",
    "includeSnapshotsFrom",
    "nameSelector",
    "labelSelector",
    "fieldSelector",
    "namespace",
}
_SCHEDULE_KEYS = {"name", "crontab", "allowFailure", "queue", "group", "includeSnapshotsFrom"}
_EVENTS = {"Added", "Modified", "Deleted"}
_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")
# libyaml's parser when PyYAML has it: the pure-Python one takes tens of ms per --config.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=256)
def compiled_jq(program: str) -> Any:
    """A jq program compiled once per test session: compiling takes milliseconds (jq compiles
    its builtin library with every program), and every run selects with the same filters."""
    return jq.compile(program)


def parse_yaml(text: str) -> Any:
    """One YAML (or JSON) document, read as `yaml.safe_load` reads it (JSON, a subset of YAML
    that the hook prints, is read by the json module: the same value, much sooner)."""
    try:
        return json.loads(text)
    except ValueError:
        return yaml.load(text, Loader=_YAML_LOADER)  # both loaders are safe loaders


def validate_hook_config(config: Any) -> None:
    """Assert that a `--config` document is one shell-operator v1 would accept."""
    assert isinstance(config, dict), "config must be an object"
    assert config.get("configVersion") == "v1", "configVersion must be v1"
    assert len(config) >= 2, "config needs configVersion plus at least one binding"
    unknown = set(config) - _ROOT_KEYS
    assert not unknown, f"unknown root keys {unknown}"
    names: list[str] = []
    for binding in config.get("kubernetes", []):
        _validate_kubernetes_binding(binding)
        names.append(binding.get("name", "kubernetes"))
    assert len(names) == len(set(names)), f"kubernetes binding names repeat: {names}"
    if "kubernetes" in config:
        assert config["kubernetes"], "kubernetes must have at least one binding"
    for schedule in config.get("schedule", []):
        unknown = set(schedule) - _SCHEDULE_KEYS
        assert not unknown, f"unknown schedule keys {unknown}"
        crontab = schedule.get("crontab")
        assert isinstance(crontab, str), "schedule.crontab is required"
        if not crontab.startswith("@"):
            fields = crontab.split()
            assert len(fields) in (5, 6), f"crontab {crontab!r} needs 5 or 6 fields"
            assert all(_CRON_FIELD.match(f) for f in fields), f"bad crontab {crontab!r}"
        for name in schedule.get("includeSnapshotsFrom", []):
            assert names.count(name) == 1, f"includeSnapshotsFrom names unknown binding {name}"
    if "settings" in config:
        assert set(config["settings"]) == {"executionMinInterval", "executionBurst"}


def _validate_kubernetes_binding(binding: Any) -> None:
    assert isinstance(binding, dict), "kubernetes binding must be an object"
    unknown = set(binding) - _KUBERNETES_KEYS
    assert not unknown, f"unknown kubernetes binding keys {unknown}"
    assert isinstance(binding.get("kind"), str) and binding["kind"], "kind is required"
    events = binding.get("executeHookOnEvent", [])
    assert isinstance(events, list) and set(events) <= _EVENTS, f"bad executeHookOnEvent {events}"
    if "jqFilter" in binding:
        compiled_jq(binding["jqFilter"])  # a syntax error is a config error
    selector = binding.get("labelSelector")
    if selector is not None:
        _validate_label_selector(selector)
    name_selector = binding.get("nameSelector")
    if name_selector is not None:
        assert set(name_selector) == {"matchNames"}, "nameSelector needs exactly matchNames"
    namespace = binding.get("namespace")
    if namespace is not None:
        assert 1 <= len(namespace) <= 2 and set(namespace) <= {"nameSelector", "labelSelector"}
        if "nameSelector" in namespace:
            assert set(namespace["nameSelector"]) == {"matchNames"}
        if "labelSelector" in namespace:
            _validate_label_selector(namespace["labelSelector"])
    for flag in ("executeHookOnSynchronization", "keepFullObjectsInMemory", "allowFailure"):
        if flag in binding:
            assert isinstance(binding[flag], bool), f"{flag} must be a boolean"


def _validate_label_selector(selector: Any) -> None:
    assert isinstance(selector, dict) and 1 <= len(selector) <= 2
    assert set(selector) <= {"matchLabels", "matchExpressions"}
    for key, value in selector.get("matchLabels", {}).items():
        assert isinstance(key, str) and isinstance(value, str)
    for expression in selector.get("matchExpressions", []):
        assert set(expression) <= {"key", "operator", "values"}
        assert expression["operator"] in _OPERATORS
        if expression["operator"] in ("In", "NotIn"):
            assert expression.get("values"), "In/NotIn need values"


def discover_hooks(hooks_dir: Path) -> list[Path]:
    """Executable hook files, in shell-operator's order and with its skip rules."""
    found = []
    for root, dirs, files in os.walk(hooks_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "lib"]
        for name in files:
            if name.startswith(".") or name.endswith((".yaml", ".json", ".md", ".txt")):
                continue
            path = Path(root) / name
            if path.stat().st_mode & 0o111:
                found.append(path.resolve())
    return sorted(found, key=str)


def hook_config(hook: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """Run `hook --config` as shell-operator does and return the validated config."""
    done = subprocess.run(
        [str(hook), "--config"],
        cwd=hook.parent,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"--config failed ({done.returncode}): {done.stderr}"
    config = parse_yaml(done.stdout)
    validate_hook_config(config)
    return dict(config)


def hook_config_in_process(env: Mapping[str, str]) -> dict[str, Any]:
    """`hook --config` called in this process (`connect_operator.hook.main`), validated."""
    from connect_operator import hook

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = hook.main(["--config"], dict(env))
    assert code == 0, f"--config failed ({code}): {err.getvalue()}"
    config = parse_yaml(out.getvalue())
    validate_hook_config(config)
    return dict(config)


def _labels_match(labels: Mapping[str, str], selector: Mapping[str, Any]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


@dataclass
class ObjectStore:
    """The Kubernetes objects a test pretends exist, keyed by (kind, namespace, name)."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    def put(self, obj: Mapping[str, Any], namespace: str = "default") -> None:
        """Create or replace an object; its namespace defaults to `default`."""
        stored: dict[str, Any] = copy.deepcopy(dict(obj))
        metadata = stored.setdefault("metadata", {})
        metadata.setdefault("namespace", namespace)
        key = (stored["kind"], metadata["namespace"], metadata["name"])
        previous = self.objects.get(key)
        version = int(previous["metadata"].get("resourceVersion", "0")) + 1 if previous else 1
        metadata["resourceVersion"] = str(version)
        # The API server gives every object a uid on create and keeps it on update.
        uid = previous["metadata"].get("uid") if previous else None
        metadata.setdefault("uid", uid or str(uuid.uuid4()))
        self.objects[key] = stored

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One object, or None."""
        return self.objects.get((kind, namespace, name))

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Remove an object if present."""
        self.objects.pop((kind, namespace, name), None)

    def load_manifests(self, paths: Iterable[Path], namespace: str = "default") -> None:
        """Put every YAML document from the files (kustomization.yaml files are skipped)."""
        for path in paths:
            if path.name == "kustomization.yaml":
                continue
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if isinstance(document, dict) and "kind" in document:
                    self.put(document, namespace)

    def select(self, binding: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Snapshot items for a binding: selectors, jqFilter and shell-operator's sort."""
        kind = binding["kind"]
        namespaces = binding.get("namespace", {}).get("nameSelector", {}).get("matchNames")
        names = binding.get("nameSelector", {}).get("matchNames")
        selector = binding.get("labelSelector", {})
        program = compiled_jq(binding["jqFilter"]) if binding.get("jqFilter") else None
        items = []
        for (obj_kind, namespace, name), obj in sorted(self.objects.items()):
            if obj_kind.lower() != kind.lower():
                continue
            if namespaces is not None and namespace not in namespaces:
                continue
            if names is not None and name not in names:
                continue
            if not _labels_match(obj.get("metadata", {}).get("labels") or {}, selector):
                continue
            item: dict[str, Any] = {}
            if binding.get("keepFullObjectsInMemory", True):
                item["object"] = copy.deepcopy(obj)
            if program is not None:
                outputs = program.input_value(obj).all()
                item["filterResult"] = (
                    None if not outputs else outputs[0] if len(outputs) == 1 else outputs
                )
            items.append(item)
        return items

    def apply_patch_text(self, text: str) -> list[str]:
        """Apply a KUBERNETES_PATCH_PATH file; return the operations applied."""
        applied = []
        for operation in _documents(text):
            applied.append(self._apply(operation))
        return applied

    def _apply(self, op: Mapping[str, Any]) -> str:
        kind_of_op = op["operation"]
        if kind_of_op in ("Create", "CreateOrUpdate", "CreateIfNotExists"):
            obj = op["object"]
            if isinstance(obj, str):
                obj = yaml.safe_load(obj)
            metadata = obj["metadata"]
            existing = self.get(obj["kind"], metadata.get("namespace", "default"), metadata["name"])
            if existing is not None and kind_of_op == "Create":
                raise AssertionError(f"Create of existing {metadata['name']}")
            if existing is None or kind_of_op == "CreateOrUpdate":
                self.put(obj)
            return f"{kind_of_op} {obj['kind']}/{metadata['name']}"
        if kind_of_op.startswith("Delete"):
            self.delete(op["kind"], op.get("namespace") or "default", op["name"])
            return f"{kind_of_op} {op['kind']}/{op['name']}"
        if kind_of_op in ("MergePatch", "JQPatch"):
            target = self.get(op["kind"], op.get("namespace") or "default", op["name"])
            if target is None:
                assert op.get("ignoreMissingObject"), f"{kind_of_op} of missing {op['name']}"
                return f"{kind_of_op} skipped"
            if kind_of_op == "MergePatch":
                patched = _merge_patch(target, op["mergePatch"])
            else:
                patched = compiled_jq(op["jqFilter"]).input_value(target).first()
            self.put(patched)
            return f"{kind_of_op} {op['kind']}/{op['name']}"
        raise AssertionError(f"unsupported patch operation {kind_of_op}")

    def save(self, path: Path) -> None:
        """Persist the store as JSON (used by `make demo` between runs)."""
        path.write_text(json.dumps(list(self.objects.values()), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ObjectStore:
        """Read a store saved with `save`."""
        store = cls()
        for obj in json.loads(path.read_text(encoding="utf-8")):
            store.objects[(obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])] = (
                obj
            )
        return store


def _documents(text: str) -> list[dict[str, Any]]:
    if not text.strip():
        return []
    decoder = json.JSONDecoder()
    documents: list[dict[str, Any]] = []
    position = 0
    try:
        while position < len(text):
            while position < len(text) and text[position].isspace():
                position += 1
            if position >= len(text):
                break
            document, position = decoder.raw_decode(text, position)
            documents.append(document)
        return documents
    except json.JSONDecodeError:
        return [d for d in yaml.safe_load_all(text) if d]


def _merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def group_contexts(
    config: Mapping[str, Any],
    store: ObjectStore,
    trigger: str = "Group",
    stale: Mapping[str, ObjectStore] | None = None,
) -> list[dict[str, Any]]:
    """The binding context of a grouped run, as shell-operator builds it: every kubernetes
    binding of the group's snapshot. `trigger` may be "Group" (an event or a Synchronization of
    a grouped binding) or "Schedule". `stale` gives some bindings an older store to read."""
    bindings = config.get("kubernetes", [])
    group = next(b["group"] for b in bindings if b.get("group"))
    stale = stale or {}
    snapshots = {
        b["name"]: stale.get(b["name"], store).select(b)
        for b in bindings
        if b.get("group") == group
    }
    if trigger == "Schedule":
        schedule = next(s for s in config.get("schedule", []) if s.get("group") == group)
        return [{"binding": schedule["name"], "type": "Schedule", "snapshots": snapshots}]
    first = next(b for b in bindings if b.get("group") == group)
    return [{"binding": first["name"], "type": "Group", "groupName": group, "snapshots": snapshots}]


@dataclass
class HookRun:
    """What one hook run did."""

    returncode: int
    stdout: str
    stderr: str
    patch: str
    metrics: str
    seconds: float
    files_left: list[str]

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines the hook printed on stdout."""
        lines = []
        for line in self.stdout.splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines


# A run's files live in memory when the machine has a tmpfs for it: on a busy disk, creating
# and removing them costs milliseconds per run, and the unit suite makes hundreds of runs.
_RUN_FILES_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


@contextlib.contextmanager
def _hook_files(
    contexts: list[dict[str, Any]], env: Mapping[str, str]
) -> Iterator[tuple[Path, dict[str, str]]]:
    """The six *_PATH files, pre-created empty in a temp dir, and the environment naming them."""
    with tempfile.TemporaryDirectory(prefix="shell-operator-", dir=_RUN_FILES_DIR) as tmp:
        tmp_path = Path(tmp)
        run_env = dict(env)
        for variable, filename in OUTPUT_FILES.items():
            path = tmp_path / filename
            path.touch(mode=0o644)
            run_env[variable] = str(path)
        (tmp_path / OUTPUT_FILES["BINDING_CONTEXT_PATH"]).write_text(json.dumps(contexts))
        yield tmp_path, run_env


def _files_left(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in OUTPUT_FILES.values())


def run_hook_in_process(
    contexts: list[dict[str, Any]], env: Mapping[str, str], clock: FakeClock
) -> HookRun:
    """One hook run as `run_hook` does it, but as a function call in this process.

    `connect_operator.hook.run` gets the environment with the *_PATH files, writes its log
    lines to a captured stdout, and measures its deadline and waits its retries on `clock`.
    `seconds` is the run's time on that clock (real time is not measured: figures come from
    bench/)."""
    from connect_operator import hook

    with _hook_files(contexts, env) as (tmp_path, run_env):
        before = set(os.listdir(HOOK.parent))
        out, err = io.StringIO(), io.StringIO()
        started = clock.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = hook.run(run_env, clock=clock.monotonic, sleep=clock.sleep)
        seconds = clock.monotonic() - started
        patch = (tmp_path / OUTPUT_FILES["KUBERNETES_PATCH_PATH"]).read_text()
        metrics = (tmp_path / OUTPUT_FILES["METRICS_PATH"]).read_text()
        left = sorted(set(os.listdir(HOOK.parent)) - before) + _files_left(tmp_path)
    return HookRun(code, out.getvalue(), err.getvalue(), patch, metrics, seconds, left)


def run_hook(
    hook: Path,
    contexts: list[dict[str, Any]],
    env: Mapping[str, str],
    store: ObjectStore | None = None,
    timeout: float = 300,
    argv0: Path | None = None,
) -> HookRun:
    """Run a hook once like shell-operator; on exit 0, apply its patch file to the store.

    `argv0` runs the hook through another path (a symlink to it, say), as a hooks directory
    laid out with links would."""
    with _hook_files(contexts, env) as (tmp_path, run_env):
        before = set(os.listdir(hook.parent))
        started = time.monotonic()
        done = subprocess.run(
            [str(argv0 or hook)],
            cwd=(argv0 or hook).parent,
            env=run_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        patch = (tmp_path / OUTPUT_FILES["KUBERNETES_PATCH_PATH"]).read_text()
        metrics = (tmp_path / OUTPUT_FILES["METRICS_PATH"]).read_text()
        left = sorted(set(os.listdir(hook.parent)) - before) + _files_left(tmp_path)
    if done.returncode == 0 and store is not None:
        store.apply_patch_text(patch)
    return HookRun(done.returncode, done.stdout, done.stderr, patch, metrics, seconds, left)


REPO_ROOT = Path(__file__).resolve().parents[2]
HOOK = REPO_ROOT / "hooks" / "connect-operator"


@dataclass
class ShellOperator:
    """One hook, one store, one environment: `run()` is one shell-operator task.

    With `in_process`, the hook (`connect_operator.hook`) is called as a function and waits on
    `clock` (see `run_hook_in_process`); otherwise `hook` is started as a process."""

    env: dict[str, str]
    store: ObjectStore = field(default_factory=ObjectStore)
    hook: Path = HOOK
    in_process: bool = False
    clock: FakeClock = field(default_factory=FakeClock)
    runs: list[HookRun] = field(default_factory=list)
    # What shell-operator serves on /metrics/hooks: (name, sorted labels) -> value.
    served_metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(
        default_factory=dict
    )
    # The group each served series was written in, so that a batch expires its group's series.
    served_groups: dict[tuple[str, tuple[tuple[str, str], ...]], str] = field(default_factory=dict)
    # The store as it was before the last applied patch, for stale-ledger runs.
    _before_last_patch: ObjectStore | None = None
    # `--config` per environment: shell-operator asks once at start-up, not before every run.
    _configs: dict[tuple[Path, bool, frozenset[tuple[str, str]]], dict[str, Any]] = field(
        default_factory=dict
    )

    def config(self) -> dict[str, Any]:
        """The hook's validated `--config` (shell-operator calls it without the *_PATH vars).

        It is asked once per environment (a changed setting means a restarted pod, which asks
        again), as shell-operator asks once when it starts."""
        key = (self.hook, self.in_process, frozenset(self.env.items()))
        if key not in self._configs:
            self._configs[key] = (
                hook_config_in_process(self.env)
                if self.in_process
                else hook_config(self.hook, self.env)
            )
        return copy.deepcopy(self._configs[key])

    def run(
        self, trigger: str = "Group", timeout: float = 300, stale_ledger: bool = False
    ) -> HookRun:
        """Build the grouped binding context from the store, run the hook, apply its outputs.

        With `stale_ledger`, the `ledger` snapshot is the one from before the previous run's
        patch (no read-your-writes)."""
        stale = {}
        if stale_ledger and self._before_last_patch is not None:
            stale["ledger"] = self._before_last_patch
        contexts = group_contexts(self.config(), self.store, trigger, stale)
        return self.run_with(contexts, timeout=timeout)

    def run_with(
        self, contexts: list[dict[str, Any]], timeout: float = 300, argv0: Path | None = None
    ) -> HookRun:
        """Run the hook with hand-made binding contexts; apply its outputs only on exit 0.

        `argv0` (a path to start the executable through) always starts a process."""
        before = copy.deepcopy(self.store)
        if self.in_process and argv0 is None:
            result = run_hook_in_process(contexts, self.env, self.clock)
        else:
            result = run_hook(self.hook, contexts, self.env, None, timeout=timeout, argv0=argv0)
        if result.returncode == 0:
            if result.patch.strip():
                self._before_last_patch = before
            self.store.apply_patch_text(result.patch)
            self._serve_metrics(result.metrics)
        self.runs.append(result)
        return result

    def _serve_metrics(self, text: str) -> None:
        operations = [json.loads(line) for line in text.splitlines() if line.strip()]
        hook_name = self.hook.name
        groups = {op.get("group", hook_name) for op in operations}
        for key in [k for k in self.served_metrics if self.served_groups.get(k) in groups]:
            del self.served_metrics[key]
        for op in operations:
            key = (op["name"], tuple(sorted((op.get("labels") or {}).items())))
            value = float(op.get("value", op.get("set", op.get("add", 0))))
            if op.get("action") == "add" or "add" in op:
                value += self.served_metrics.get(key, 0.0)
            self.served_metrics[key] = value
            self.served_groups[key] = op.get("group", hook_name)

    def metric(self, name: str, **labels: str) -> float | None:
        """A value shell-operator would serve now, or None."""
        return self.served_metrics.get((name, tuple(sorted(labels.items()))))

    def put_configmap(
        self,
        name: str,
        data: Mapping[str, str],
        labels: Mapping[str, str] | None = None,
        namespace: str = "default",
    ) -> None:
        """Create or replace a ConfigMap; labels default to an enabled connector ConfigMap."""
        self.store.put(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": dict(labels or {"destination": "connect", "enabled": "true"}),
                },
                "data": dict(data),
            }
        )

    def delete_configmap(self, name: str, namespace: str = "default") -> None:
        """Delete a ConfigMap from the store."""
        self.store.delete("ConfigMap", namespace, name)

    def ledger(self, name: str = "connect-operator-ledger", namespace: str = "default") -> Any:
        """The ledger's entries as `{"entries": [...]}`, read from every ledger ConfigMap
        (`name`, `name-1`, ...), in either format; None when there is no ledger ConfigMap."""
        return read_ledger_objects(self.store, name, namespace)


_SHORT_FIELDS = {
    "t": "target",
    "n": "connector",
    "m": "configmap",
    "k": "key",
    "h": "hash",
    "c": "connector_class",
    "i": "inputs",
}


def read_ledger_objects(store: ObjectStore, name: str, namespace: str) -> Any:
    """Decode the ledger as documented in the README (an independent reader for tests)."""
    pattern = re.compile(rf"^{re.escape(name)}(-[0-9]+)?$")
    objects = [
        obj
        for (kind, obj_namespace, obj_name), obj in sorted(store.objects.items())
        if kind == "ConfigMap" and obj_namespace == namespace and pattern.match(obj_name)
    ]
    if not objects:
        return None
    entries: dict[tuple[str, str], dict[str, str]] = {}
    for obj in objects:
        for key, value in (obj.get("data") or {}).items():
            if key == "ledger.json":
                for item in json.loads(value)["entries"]:
                    entries.setdefault((item["target"], item["connector"]), item)
            elif key.startswith("c."):
                item = {_SHORT_FIELDS[k]: v for k, v in json.loads(value).items()}
                entries[(item["target"], item["connector"])] = item
    return {"entries": [entries[key] for key in sorted(entries, key=lambda k: (k[0], k[1]))]}
