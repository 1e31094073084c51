"""`make demo`: the operator's real hook applies the example connectors to the local cluster.

What it does, as shell-operator would at start-up:

1. reuses (or starts) the local KRaft broker and two Connect workers (`tests/kafka/cluster.py`);
2. loads the example connector ConfigMaps from `k8s/examples/connectors/` (the one copy that
   the kustomize manifests use too) into a small store of Kubernetes objects kept in `.demo/`,
   together with the ownership ledger the hook wrote last time (also saved as `.demo/ledger.yaml`,
   a `kubectl get -o yaml` List, which `make plan` passes to `--ledger`);
3. runs `hooks/connect-operator` with a grouped binding context and the six *_PATH files, with
   `k8s/examples/variables/` as CONNECT_OPERATOR_CONFIG_DIR, and applies its ledger patch;
4. prints the hook's summary and a table of the connectors with their state and tasks;
5. says how to change a ConfigMap and re-run, and how to stop the cluster.

Run it again after editing or deleting an example file: the store follows the examples folder,
so the hook sees the change (an update, a deletion) exactly as it would in a cluster.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

from tests.kafka import cluster
from tests.support.shell_operator import REPO_ROOT, ObjectStore, ShellOperator

EXAMPLES = REPO_ROOT / "k8s" / "examples" / "connectors"
VARIABLES = REPO_ROOT / "k8s" / "examples" / "variables"
DEMO_DATA_DIR = Path("/tmp/connect-demo")  # data.dir in k8s/examples/variables/demo.properties
STORE_FILE = "store.json"
LEDGER_FILE = "ledger.yaml"


def _sync_examples(store: ObjectStore) -> None:
    """Make the store's connector ConfigMaps exactly the example files; keep everything else."""
    for key, obj in list(store.objects.items()):
        labels = obj.get("metadata", {}).get("labels") or {}
        if labels.get("destination") == "connect":
            del store.objects[key]
    store.load_manifests(sorted(EXAMPLES.glob("*.yaml")))


def _save_ledger(store: ObjectStore, path: Path) -> None:
    """The ledger's ConfigMaps as `kubectl get cm -o yaml` prints them, for `make plan --ledger`."""
    items = [
        obj
        for (kind, _, name), obj in sorted(store.objects.items())
        if kind == "ConfigMap" and name.startswith("connect-operator-ledger")
    ]
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))


def _wait_until_running(url: str, names: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = requests.get(f"{url}/connectors", params={"expand": "status"}, timeout=30).json()
        states = [
            (listing.get(name, {}).get("status") or {}).get("connector", {}).get("state")
            for name in names
        ]
        tasks_ready = all(
            (listing.get(name, {}).get("status") or {}).get("tasks") for name in names
        )
        if all(state == "RUNNING" for state in states) and tasks_ready:
            return
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    """Run the demo once; exit with the hook's exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".demo")
    args = parser.parse_args(argv)

    info = cluster.ensure_up()
    url = info.urls[0]
    args.state_dir.mkdir(parents=True, exist_ok=True)
    DEMO_DATA_DIR.mkdir(parents=True, exist_ok=True)
    input_file = DEMO_DATA_DIR / "input.txt"
    if not input_file.exists():
        input_file.write_text("hello from connect-operator\nsecond line\n")

    store_path = args.state_dir / STORE_FILE
    store = ObjectStore.load(store_path) if store_path.exists() else ObjectStore()
    _sync_examples(store)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "CONNECT_URL": url,
        "CONNECT_OPERATOR_CONFIG_DIR": str(VARIABLES),
        "CONNECTOR_OWNER": os.environ.get("CONNECTOR_OWNER", "connect-operator-demo"),
    }
    operator = ShellOperator(env=env, store=store)
    print(f"== Applying {EXAMPLES.relative_to(REPO_ROOT)}/ with hooks/connect-operator -> {url}")
    run = operator.run()
    for line in run.log_lines():
        fields = [f"{k}={line[k]}" for k in ("configmap", "key") if k in line]
        print(f"   {line['level']:5} {line['msg']}" + (f"  [{' '.join(fields)}]" if fields else ""))
    if run.returncode != 0:
        print(run.stderr, file=sys.stderr)
        print(f"!! the hook exited {run.returncode}", file=sys.stderr)
        return run.returncode
    store.save(store_path)
    _save_ledger(store, args.state_dir / LEDGER_FILE)

    names = [entry["connector"] for entry in (operator.ledger() or {"entries": []})["entries"]]
    _wait_until_running(url, names)
    print(f"\n== Connectors on {url}")
    status = subprocess.run(
        [sys.executable, "-m", "connect_operator", "status"],
        env={**os.environ, "CONNECT_URL": url},
        check=False,
        capture_output=True,
        text=True,
    )
    print(status.stdout.rstrip() or status.stderr.rstrip())
    output = DEMO_DATA_DIR / "output.txt"
    time.sleep(2)
    if output.exists():
        copied = len(output.read_text().splitlines())
        print(f"\n{input_file} -> topic demo.lines -> {output}: {copied} lines")

    example = (EXAMPLES / "filestream-demo.yaml").relative_to(REPO_ROOT)
    print(
        "\n== Next\n"
        f'   Edit {example} (say, change "tasks.max" or add a key) and run `make demo` again:\n'
        "   only what changed is updated; delete the file and re-run to see them pruned.\n"
        "   Try `.venv/bin/connect-operator --help`; the ledger and ConfigMaps are in .demo/.\n"
        "   Worker URLs: " + ", ".join(info.urls) + "\n"
        "   Stop the cluster with `make connect-down`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
