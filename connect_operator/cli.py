"""The `connect-operator` command line.

- `hook`: what `hooks/connect-operator` runs under shell-operator.
- `run --binding-context FILE [--dry-run]`: the same reconcile, locally, with a human summary.
- `render --binding-context FILE [--show-secrets] [--validate]`: the rendered connectors,
  secrets masked; `--validate` also checks each with its target's config validation.
- `plan -f FILE|FOLDER|- [--ledger FILE] [--offline] [--validate] [--output text|json|markdown]
  [--detailed-exitcode]`: what applying these manifests would do to the live targets.
- `config`: the shell-operator binding configuration for the current environment.
- `status [--binding-context FILE]`: a table of the connectors on CONNECT_URL with their state
  and tasks; with a binding context, every declared connector with its target, declared and
  live state, tasks, restart attempts and last error.
- `settings`: the effective settings (secrets shown as set/unset).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from connect_operator import __version__
from connect_operator.binding import binding_configuration, read_binding_context
from connect_operator.connect_client import ConnectClient, Deadline
from connect_operator.desired import desired_state
from connect_operator.errors import ConnectOperatorError, PermanentError
from connect_operator.hook import main as hook_main
from connect_operator.logs import configure_logging
from connect_operator.plan_report import PlanReport, format_json, format_markdown, format_text
from connect_operator.plan_run import PlanOptions, make_plan
from connect_operator.properties import Variables, load_variables
from connect_operator.reconcile import reconcile, secrets_redactor
from connect_operator.redaction import masked
from connect_operator.rejections import ConfigChecker
from connect_operator.report import patch_operations, summary_lines, write_json_lines
from connect_operator.settings import ENVIRONMENT_VARIABLES, Settings
from connect_operator.status import format_table, status_rows
from connect_operator.template_env import template_environ

_BINDING_CONTEXT = click.option(
    "--binding-context",
    "binding_context",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A saved shell-operator binding-context file (a JSON array).",
)


def _settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except PermanentError as exc:
        raise click.ClickException(str(exc)) from None


def _template_variables(settings: Settings) -> Variables:
    """The variables and environment templates see, exactly as the hook gives them."""
    return load_variables(settings.config_dir, template_environ(os.environ, settings.template_env))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="connect-operator")
def cli() -> None:
    """GitOps for Kafka Connect: reconcile connectors declared in ConfigMaps.

    Settings come from environment variables; see `connect-operator settings`.
    """


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--config", "print_config", is_flag=True, help="Print the binding configuration.")
def hook(print_config: bool) -> None:
    """Run as a shell-operator hook (reads BINDING_CONTEXT_PATH and friends)."""
    sys.exit(hook_main(["--config"] if print_config else []))


@cli.command()
@_BINDING_CONTEXT
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing to Connect.")
@click.option(
    "--patch-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append the ledger update here, as shell-operator's KUBERNETES_PATCH_PATH would get it.",
)
@click.option("--verbose", "-v", is_flag=True, help="Also log unchanged connectors and retries.")
def run(binding_context: Path, dry_run: bool, patch_file: Path | None, verbose: bool) -> None:
    """Reconcile once against a saved binding context and print a summary per connector.

    Exits 1 when Connect was unreachable or kept failing, as the hook does.
    """
    settings = _settings()
    try:
        variables = _template_variables(settings)
        configure_logging(
            secrets_redactor(variables, settings),
            json_lines=False,
            stream=sys.stderr,
            level=logging.DEBUG if verbose else logging.INFO,
        )
        view = read_binding_context(binding_context.read_text(encoding="utf-8"), settings)
        report = reconcile(view, variables, settings, dry_run=dry_run)
    except ConnectOperatorError as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary_lines(report):
        click.echo(line)
    if patch_file is not None and not dry_run:
        write_json_lines(patch_file, patch_operations(report, settings))
    sys.exit(report.exit_code)


@cli.command()
@_BINDING_CONTEXT
@click.option("--show-secrets", is_flag=True, help="Print values that came from variables too.")
@click.option(
    "--validate",
    is_flag=True,
    help="Also check each config with its target's PUT /connector-plugins/{class}/config/validate"
    " (self-managed Connect); nothing is written.",
)
def render(binding_context: Path, show_secrets: bool, validate: bool) -> None:
    """Print every connector the ConfigMaps declare, rendered, as JSON.

    Values that came from variables or the environment are masked unless --show-secrets.
    With --validate, each enabled connector gets a `validation` field: `valid`, the errors
    (field and Connect's message, values masked), or why it was not validated.
    Exits 1 if any ConfigMap key does not render or, with --validate, any config is invalid.
    """
    settings = _settings()
    try:
        variables = _template_variables(settings)
        view = read_binding_context(binding_context.read_text(encoding="utf-8"), settings)
    except ConnectOperatorError as exc:
        raise click.ClickException(str(exc)) from None
    desired = desired_state(
        view.declared_configmaps(), view.cluster_configmaps, variables, settings
    )
    documents: list[dict[str, Any]] = []
    checker = ConfigChecker(settings, secrets_redactor(variables, settings)) if validate else None
    for connector in desired.connectors:
        config = (
            dict(connector.config)
            if show_secrets
            else masked(connector.config, connector.secret_keys)
        )
        documents.append(
            {
                "configmap": connector.source.configmap,
                "key": connector.source.key,
                "target": connector.target.id,
                "enabled": connector.enabled,
                "name": connector.name,
                "config": config,
            }
        )
        if checker is not None and connector.enabled:
            documents[-1]["validation"] = checker.check(connector)
    click.echo(json.dumps(documents, indent=2))
    for error in desired.errors:
        click.echo(
            f"error: ConfigMap {error.source.configmap} key {error.source.key}: {error.message}",
            err=True,
        )
    sys.exit(1 if desired.errors or (checker is not None and checker.invalid) else 0)


class _UsageErrorExitsOne(click.Command):
    """`plan` keeps terraform's codes: 2 means "changes", so a usage error exits 1, not 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = 1  # type: ignore[misc]
            raise


@cli.command(cls=_UsageErrorExitsOne)
@click.option(
    "-f",
    "--filename",
    "sources",
    multiple=True,
    required=True,
    metavar="FILE|FOLDER|-",
    help="Manifests: a YAML file (several documents allowed), a folder (read recursively), or -"
    " for stdin, e.g. `kustomize build overlay | connect-operator plan -f -`. Repeatable.",
)
@click.option(
    "--ledger",
    "ledger_files",
    multiple=True,
    metavar="FILE",
    help="The ledger ConfigMaps, as `kubectl get configmap -l"
    " app.kubernetes.io/managed-by=connect-operator -o yaml` prints them (a List or several"
    " documents): then the plan shows the prunes. Repeatable.",
)
@click.option(
    "-n",
    "--namespace",
    help="Namespace of objects that name none (default: POD_NAMESPACE, else default).",
)
@click.option("--offline", is_flag=True, help="Read no target: render and check every key.")
@click.option(
    "--validate",
    is_flag=True,
    help="Also check each create and update with Connect's"
    " PUT /connector-plugins/{class}/config/validate (which changes nothing).",
)
@click.option("--show-secrets", is_flag=True, help="Show values that came from secrets too.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when there are changes (0: none, 1: error), like terraform plan.",
)
def plan(
    sources: tuple[str, ...],
    ledger_files: tuple[str, ...],
    namespace: str | None,
    offline: bool,
    validate: bool,
    show_secrets: bool,
    output: str,
    detailed_exitcode: bool,
) -> None:
    """Show what applying these manifests would do to the live Connect targets.

    The same render, normalisation and planning as the hook; one listing per target, nothing
    written. Exits 0 (no changes, or changes without --detailed-exitcode), 1 (an error: a
    target that cannot be read, an invalid connector, a manifest that is not YAML) or 2
    (changes, with --detailed-exitcode).
    """
    try:
        settings = Settings.from_env(os.environ)
        variables = _template_variables(settings)
        configure_logging(
            secrets_redactor(variables, settings),
            json_lines=False,
            stream=sys.stderr,
            level=logging.WARNING,
        )
        options = PlanOptions(
            sources=sources,
            ledger_files=ledger_files,
            namespace=namespace,
            offline=offline,
            validate=validate,
            show_secrets=show_secrets,
        )
        # Every error the reconcile logs (a key that does not render, a refused delete, a target
        # down) is a line of the plan; printing it twice would only bury the plan.
        reconcile_log = logging.getLogger("connect_operator.reconcile")
        level = reconcile_log.level
        reconcile_log.setLevel(logging.CRITICAL)
        try:
            result = make_plan(options, variables, settings, sys.stdin)
        finally:
            reconcile_log.setLevel(level)
    except ConnectOperatorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    formatters: dict[str, Callable[[PlanReport], str]] = {
        "text": format_text,
        "json": format_json,
        "markdown": format_markdown,
    }
    click.echo(formatters[output](result))
    sys.exit(result.exit_code(detailed_exitcode))


@cli.command()
def config() -> None:
    """Print the shell-operator binding configuration for the current environment."""
    click.echo(json.dumps(binding_configuration(_settings()), indent=2))


@cli.command()
@click.option("--url", help="Connect REST URL (default: CONNECT_URL).")
@click.option(
    "--binding-context",
    "binding_context",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A saved binding context: then one row per declared connector, on every target, with"
    " its declared and live state, tasks, restart attempts and last error (redacted).",
)
def status(url: str | None, binding_context: Path | None) -> None:
    """Print a table of the connectors on a Connect cluster, with state and tasks.

    With --binding-context: TARGET, CONNECTOR, CONFIGMAP, DECLARED and LIVE state, TASKS,
    RESTARTS (attempts made of the maximum, given up) and LAST ERROR, for every declared
    connector. Writes nothing.
    """
    settings = _settings()
    if binding_context is not None:
        try:
            variables = _template_variables(settings)
            view = read_binding_context(binding_context.read_text(encoding="utf-8"), settings)
            declared = status_rows(view, variables, settings, secrets_redactor(variables, settings))
        except ConnectOperatorError as exc:
            raise click.ClickException(str(exc)) from None
        for line in format_table(declared):
            click.echo(line.rstrip())
        return
    client = ConnectClient(
        url or settings.connect_url,
        connect_timeout=settings.connect_timeout,
        request_timeout=settings.request_timeout,
        deadline=Deadline(settings.run_deadline),
    )
    try:
        observed = client.list_connectors_expanded()
    except ConnectOperatorError as exc:
        raise click.ClickException(str(exc)) from None
    rows = [("CONNECTOR", "TYPE", "STATE", "TASKS")]
    for name in sorted(observed):
        connector = observed[name]
        tasks = ", ".join(f"{task}:{state}" for task, state in connector.tasks) or "-"
        rows.append((name, connector.type or "-", connector.state or "-", tasks))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        )
    if len(rows) == 1:
        click.echo("(no connectors)")


@cli.command(name="settings")
def show_settings() -> None:
    """Print every setting, its meaning and its effective value (secrets as set/unset)."""
    settings = _settings()
    effective = {
        "CONNECT_URL": settings.connect_url,
        "CONNECT_OPERATOR_CONFIG_DIR": str(settings.config_dir),
        "CONFLUENT_CLOUD_API_URL": settings.confluent_cloud_api_url,
        "CONNECT_REST_KEY": "set" if settings.confluent_cloud_key else "unset",
        "CONNECT_REST_SECRET": "set" if settings.confluent_cloud_secret else "unset",
        "WATCH_NAMESPACES": ",".join(settings.watch_namespaces or ("*",)),
        "POD_NAMESPACE": settings.own_namespace,
        "CONNECTOR_LABEL_SELECTOR": settings.label_selector,
        "RESYNC_SCHEDULE": settings.resync_schedule,
        "CONNECT_OPERATOR_RETRY_SCHEDULE": settings.retry_schedule,
        "CONNECT_OPERATOR_LEDGER_NAME": settings.ledger_name,
        "CONNECT_OPERATOR_REQUEST_TIMEOUT": str(settings.request_timeout),
        "CONNECT_OPERATOR_CONNECT_TIMEOUT": str(settings.connect_timeout),
        "CONNECT_OPERATOR_RUN_DEADLINE": str(settings.run_deadline),
        "CONNECT_OPERATOR_MAX_DELETES": str(
            -1 if settings.max_deletes is None else settings.max_deletes
        ),
        "CONNECT_OPERATOR_CLUSTER_NAMESPACES": ",".join(settings.cluster_namespaces),
        "CONNECT_OPERATOR_LOG_LEVEL": settings.log_level,
        "CONNECT_OPERATOR_TEMPLATE_ENV": ",".join(settings.template_env or ("(default)",)),
        "CONNECT_OPERATOR_TEMPLATE_CPU_SECONDS": str(settings.template_cpu_seconds),
        "CONNECT_OPERATOR_TEMPLATE_MEMORY_MB": str(settings.template_memory_mb),
        **restart_settings(settings),
    }
    for name, (meaning, _default) in ENVIRONMENT_VARIABLES.items():
        click.echo(f"{name}={effective[name]}\n    {meaning}")


def restart_settings(settings: Settings) -> dict[str, str]:
    """The effective auto-restart settings, for `connect-operator settings`."""
    policy = settings.restart_policy
    return {
        "CONNECT_OPERATOR_AUTO_RESTART": "true" if policy.enabled else "false",
        "CONNECT_OPERATOR_RESTART_MAX_ATTEMPTS": str(policy.max_attempts),
        "CONNECT_OPERATOR_RESTART_BACKOFF_UNIT": f"{policy.backoff_unit:g}",
        "CONNECT_OPERATOR_RESTART_BACKOFF_CAP": f"{policy.backoff_cap:g}",
        "CONNECT_OPERATOR_RESTART_RESET_AFTER": f"{policy.reset_after:g}",
    }


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="connect-operator")


__all__ = ["cli", "main"]
