"""The shell-operator hook: the only place that reads BINDING_CONTEXT_PATH and chooses exit codes.

- `--config`: print the binding configuration (JSON, nothing else on stdout).
- otherwise: read the binding context, reconcile, write the ledger patch and the metrics to the
  files shell-operator handed us, log JSON lines on stdout, and exit:

  ==== ====================================================================================
  0    the run finished: whatever failed (a key, a connector, a whole target, even the run
       deadline) is in the logs, the metrics and the ledger's retry status
  1    the hook crashed (a bug); the traceback is logged, redacted
  2    bad input for the whole run: a malformed binding context, a bad setting, a bad ledger
  ==== ====================================================================================

Why a run with failures exits 0: shell-operator applies the patch file and the metrics only
when the hook exits 0. A non-zero exit would throw away the ledger entries of the connectors
this run created (ownership lost) and the `target_up=0` that shows the outage. Temporary
failures are retried by the `retry` schedule instead (see reconcile.py).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from connect_operator.binding import ClusterView, binding_configuration, read_binding_context
from connect_operator.connect_client import Deadline
from connect_operator.errors import BindingContextError, PermanentError, TemporaryError
from connect_operator.logs import configure_logging, set_level, set_redactor
from connect_operator.plan import Result
from connect_operator.properties import load_variables
from connect_operator.reconcile import RunReport, reconcile, secrets_redactor
from connect_operator.redaction import Redactor
from connect_operator.report import metric_operations, patch_operations, write_json_lines
from connect_operator.settings import Settings
from connect_operator.template_env import template_environ

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_RETRY = 1
EXIT_BAD_INPUT = 2


def print_config(environ: Mapping[str, str]) -> int:
    """`--config`: the binding configuration on stdout, or the reason on stderr and exit 2."""
    try:
        settings = Settings.from_env(environ)
        config = binding_configuration(settings)
    except PermanentError as exc:
        print(f"connect-operator: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(json.dumps(config, indent=2))
    return EXIT_OK


def read_binding_context_file(environ: Mapping[str, str], settings: Settings) -> ClusterView:
    """Read and parse $BINDING_CONTEXT_PATH."""
    path = environ.get("BINDING_CONTEXT_PATH")
    if not path:
        raise BindingContextError("BINDING_CONTEXT_PATH is not set; is this run by shell-operator?")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BindingContextError(f"cannot read binding context {path}: {exc.strerror}") from None
    return read_binding_context(text, settings)


def run(
    environ: Mapping[str, str],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """One hook run, as shell-operator starts it.

    `clock` and `sleep` measure and wait out the run deadline and the retries' back-off; tests
    inject a fake pair so that no run really sleeps."""
    with rare_full_collections():
        return _run(environ, clock, sleep)


@contextlib.contextmanager
def rare_full_collections() -> Iterator[None]:
    """Full collections of the cyclic garbage collector ten times rarer while the block runs.

    A run builds one large graph of objects that lives until the process ends (snapshot,
    listing, plan and report: a million objects for 10 000 connectors). Python scans all of it
    each time it has grown by a quarter, and finds nothing to free, at a third of a large run's
    CPU time. Full collections are not turned off, though: a run that writes makes cyclic
    garbage that outlives the young collections (an HTTP exchange's objects), and never
    collecting it doubled the peak memory of a 10 000-connector write (`make bench`)."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old * FULL_COLLECTION_SPACING)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)


# How many times more middle-generation collections a run lets pass before a full one.
FULL_COLLECTION_SPACING = 10


def _run(
    environ: Mapping[str, str], clock: Callable[[], float], sleep: Callable[[float], None]
) -> int:
    started = clock()
    configure_logging(Redactor(frozenset()), json_lines=True, stream=sys.stdout)
    try:
        settings = Settings.from_env(environ)
        set_level(settings.log_level)
        variables = load_variables(
            settings.config_dir, template_environ(environ, settings.template_env)
        )
        set_redactor(secrets_redactor(variables, settings))
        view = read_binding_context_file(environ, settings)
        if not view.is_full and not view.scope:
            log.info(
                "binding context (%s) carries no ConfigMaps: nothing to reconcile",
                ", ".join(view.context_types) or "empty",
            )
            return EXIT_OK
        deadline = Deadline(settings.run_deadline, clock)
        report = reconcile(view, variables, settings, deadline=deadline, sleep=sleep)
        if report.skipped:
            return EXIT_OK  # nothing to retry, nothing changed: leave the last outputs in place
        write_outputs(report, settings, environ, clock() - started)
    except PermanentError as exc:
        log.error("run aborted: %s", exc)
        return EXIT_BAD_INPUT
    except TemporaryError as exc:
        log.error("run failed, shell-operator will retry: %s", exc)
        return EXIT_RETRY
    except Exception:  # the exit code must still tell shell-operator to retry
        # The traceback goes through the redactor like every other line.
        log.exception("run failed unexpectedly; this is a bug, please report it")
        return EXIT_RETRY
    log_summary(report)
    return EXIT_OK


def write_outputs(
    report: RunReport, settings: Settings, environ: Mapping[str, str], duration: float
) -> None:
    """Write the ledger patch and metrics to the files shell-operator handed us, if any."""
    patch_path = environ.get("KUBERNETES_PATCH_PATH")
    if patch_path:
        write_json_lines(Path(patch_path), patch_operations(report, settings))
    elif report.ledger_changes:
        log.warning("KUBERNETES_PATCH_PATH is not set: the ledger was not written")
    metrics_path = environ.get("METRICS_PATH")
    if metrics_path:
        write_json_lines(Path(metrics_path), metric_operations(report, duration))


def log_summary(report: RunReport) -> None:
    """One line that says how the run went."""
    counts = report.counts()
    retry = report.retry_targets
    log.log(
        logging.WARNING if retry or counts[Result.FAILED] else logging.INFO,
        "reconciled %d targets: %d created, %d updated, %d unchanged, %d deleted, %d failed%s",
        len(report.targets),
        counts[Result.CREATED],
        counts[Result.UPDATED],
        counts[Result.UNCHANGED],
        counts[Result.DELETED],
        counts[Result.FAILED],
        f"; retrying {', '.join(retry)} within a minute" if retry else "",
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Entry point of `hooks/connect-operator` and `connect-operator hook`."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if environ is None else environ
    if "--config" in arguments:
        return print_config(env)
    return run(env)
