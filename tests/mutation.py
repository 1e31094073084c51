"""`make mutation`: mutmut over the modules that carry the README's promises, one module at a time.

Each module is mutated in its own copy of the checkout (`.mutation/<module>/`) and every mutant
runs only the fast, in-process unit tests listed for that module here (mutmut narrows that
further to the tests that reach the mutated function, and stops at the first that fails). The
copy keeps mutmut's results, so `cd .mutation/plan && ../../.venv/bin/mutmut show <mutant>`
shows a survivor.

    python -m tests.mutation                       # every module
    python -m tests.mutation plan ledger           # some
    python -m tests.mutation --changed-since main  # those a branch changed (CI)

It prints, per module, the mutants killed out of all mutants (a mutant no test reaches counts
as surviving), and the survivors' names; it exits 1 when a module scores below --fail-under.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import difflib
import fnmatch
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
WORK = REPO_ROOT / ".mutation"
MUTMUT = Path(sys.executable).with_name("mutmut")
COPIED = ("connect_operator", "tests", "hooks", "k8s", "README.md", "pyproject.toml")
# module -> the fast unit tests that exercise it. Only tests that run the hook in process can
# kill a mutant: a hook started as a process imports the unmutated package (so test_hook_safety's
# `[real_executable]` smoke case is deselected, see DESELECT).
MODULES: dict[str, tuple[str, ...]] = {
    "plan": (
        "tests/unit/test_plan.py",
        "tests/unit/test_promises_plan.py",
        "tests/unit/test_normalize.py",
        "tests/unit/test_promises_comparison.py",
    ),
    "normalize": (
        "tests/unit/test_normalize.py",
        "tests/unit/test_promises_comparison.py",
        "tests/unit/test_plan.py",
    ),
    "ledger": (
        "tests/unit/test_ledger.py",
        "tests/unit/test_promises_comparison.py",
        "tests/unit/test_promises_ledger.py",
    ),
    "properties": (
        "tests/unit/test_properties.py",
        "tests/unit/test_jaas.py",
        "tests/unit/test_promises_variables.py",
        "tests/unit/test_desired.py",
    ),
    "templating": (
        "tests/unit/test_templating.py",
        "tests/unit/test_rendering.py",
        "tests/unit/test_promises_variables.py",
        "tests/unit/test_desired.py",
    ),
    "connect_client": (
        "tests/unit/test_connect_client.py",
        "tests/unit/test_confluent_cloud_client.py",
        "tests/unit/test_connect_transport.py",
        "tests/unit/test_promises_retry.py",
    ),
    "reconcile": (
        "tests/unit/test_promises_ledger.py",
        "tests/unit/test_promises_reconcile.py",
        "tests/unit/test_hook.py",
        "tests/unit/test_hook_safety.py",
        "tests/unit/test_cli.py",
    ),
}
# Modules mutated only in part: of the Connect client, its retry policy (the back-off, the
# deadline and what is retried); the endpoints' parsing is checked by its own tests.
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "connect_client": (
        "*.xǁDeadlineǁ*",
        "*.xǁRetryPolicyǁ*",
        "*.xǁConnectClientǁ_request__mutmut_*",
        "*.xǁConnectClientǁ_pause__mutmut_*",
        "*.x__retryable__mutmut_*",
        "*.x__is_worker_starting__mutmut_*",
        "*.x__retry_after__mutmut_*",
    ),
}
# CPU-bound sandbox bounds (each burns a second of CPU per runaway program): they test the
# sandbox, not these modules, and would only slow every mutant down; so would tests marked slow,
# and the real-executable smoke cases (a process imports the unmutated package).
DESELECT = "not runaway and not real_executable"
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
STATUS_BY_EXIT_CODE = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests"}
STATUS_BY_EXIT_CODE |= {34: "skipped", 36: "timeout", 37: "caught by type check"}
STATUS_BY_EXIT_CODE |= {24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}


@dataclass(frozen=True)
class Score:
    """One module's result."""

    module: str
    killed: int
    total: int
    survivors: tuple[str, ...]
    seconds: float

    @property
    def percent(self) -> float:
        """Killed mutants, in percent of all."""
        return 100.0 * self.killed / self.total if self.total else 100.0


def mutmut_config(module: str, tests: tuple[str, ...]) -> str:
    """setup.cfg for one module's run: the project's, with its own [mutmut] section."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO_ROOT / "setup.cfg")
    if parser.has_section("mutmut"):
        parser.remove_section("mutmut")
    parser.add_section("mutmut")
    lines = {
        "source_paths": ["connect_operator"],
        "also_copy": ["README.md", "hooks", "k8s"],
        "only_mutate": [f"connect_operator/{module}.py"],
        "pytest_add_cli_args_test_selection": [*tests, "-k", DESELECT, "-m", "not slow"],
        "pytest_add_cli_args": ["-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
    }
    for key, values in lines.items():
        parser.set("mutmut", key, "\n" + "\n".join(values))
    text = io.StringIO()
    parser.write(text)
    return text.getvalue()


def prepare(module: str) -> Path:
    """A fresh copy of the checkout for one module's run."""
    work = WORK / module
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, work / name)
    tests = tuple(t for t in MODULES[module] if (REPO_ROOT / t).exists())
    (work / "setup.cfg").write_text(mutmut_config(module, tests), encoding="utf-8")
    return work


def score(module: str, work: Path, seconds: float) -> Score:
    """Read mutmut's results for the module from its meta file."""
    meta = work / "mutants" / "connect_operator" / f"{module}.py.meta"
    codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    patterns = FUNCTIONS.get(module, ("*",))
    statuses = {
        name: "not checked" if code is None else STATUS_BY_EXIT_CODE.get(code, "suspicious")
        for name, code in codes.items()
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    }
    counted = {name: status for name, status in statuses.items() if status != "skipped"}
    survivors = tuple(sorted(name for name, status in counted.items() if status not in KILLED))
    killed = len(counted) - len(survivors)
    return Score(module, killed, len(counted), survivors, seconds)


@functools.cache
def mutated_functions(module: str) -> dict[str, str]:
    """Every function of mutmut's mutated copy of the module (originals and mutants), by name."""
    source = (WORK / module / "mutants" / "connect_operator" / f"{module}.py").read_text()
    lines = source.splitlines()
    return {
        node.name: "\n".join(lines[node.lineno - 1 : node.end_lineno])
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def survivor_diff(module: str, mutant: str) -> list[str]:
    """The lines a surviving mutant changed, read from mutmut's mutated copy of the module."""
    functions = mutated_functions(module)
    name = mutant.rsplit(".", 1)[-1]
    original = functions.get(name.split("__mutmut_")[0] + "__mutmut_orig", "")
    diff = difflib.unified_diff(
        original.splitlines()[1:], functions.get(name, "").splitlines()[1:], lineterm="", n=0
    )
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def run_module(module: str, max_children: int) -> Score:
    """Mutate one module and run its tests against every mutant."""
    work = prepare(module)
    started = time.monotonic()
    # The project's interpreter first on PATH, whatever shell started the run: a test that
    # starts the real hook executable (`#!/usr/bin/env python3`) must find the virtualenv's
    # Python, or it fails to import mutmut's trampoline from the mutated copy and mutmut stops.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    with (work / "mutmut.log").open("w", encoding="utf-8") as log:
        done = subprocess.run(
            [str(MUTMUT), "run", "--max-children", str(max_children), *FUNCTIONS.get(module, ())],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"mutmut failed on {module}; see {work / 'mutmut.log'}")
    return score(module, work, time.monotonic() - started)


def changed_modules(ref: str) -> list[str]:
    """The modules of MODULES that differ from `ref`."""
    out = subprocess.run(
        ["git", "diff", "--name-only", f"{ref}...HEAD", "--", "connect_operator"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {Path(line).stem for line in out.splitlines()}
    return [module for module in MODULES if module in names]


def main(argv: list[str] | None = None) -> int:
    """Run the modules asked for and print their scores."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"any of {', '.join(MODULES)}")
    parser.add_argument("--changed-since", metavar="REF")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--fail-under", type=float, default=0.0)
    parser.add_argument(
        "--report", action="store_true", help="read the last run's results, mutate nothing"
    )
    args = parser.parse_args(argv)
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown modules {sorted(unknown)}; choose from {', '.join(MODULES)}")
    modules = args.modules or (
        changed_modules(args.changed_since) if args.changed_since else list(MODULES)
    )
    if not modules:
        print("no promise-carrying module changed")
        return 0
    WORK.mkdir(exist_ok=True)
    scores = []
    for module in modules:
        result = (
            score(module, WORK / module, 0.0)
            if args.report
            else run_module(module, args.max_children)
        )
        scores.append(result)
        print(
            f"{module:15} {result.killed:4d}/{result.total:<4d} killed {result.percent:5.1f}%"
            f"  ({result.seconds:.0f} s)",
            flush=True,
        )
        for name in result.survivors:
            print(f"    survived: {name}")
            for line in survivor_diff(module, name):
                print(f"        {line.strip()[:1]} {line[1:].strip()}")
    below = [s.module for s in scores if s.percent < args.fail_under]
    if below:
        print(f"below {args.fail_under}%: {', '.join(below)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
