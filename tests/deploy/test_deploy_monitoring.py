"""k8s/monitoring: the PrometheusRule and the Grafana dashboard, checked offline.

Every expression is read by a small PromQL lexer (numbers, strings, durations, identifiers,
label matchers, operators and brackets; known functions and aggregations only; brackets
balanced), and every metric it names must be one the hook emits (found by running
`report.metric_operations` on a run that exercises every series) or shell-operator's own
`shell_operator_hook_run_errors_total`. The dashboard must be valid JSON whose queries obey the
same rules.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from connect_operator.connect_client import ObservedConnector
from connect_operator.desired import Source
from connect_operator.plan import Result, TargetPlan
from connect_operator.reconcile import Outcome, RunReport, TargetReport
from connect_operator.report import metric_operations
from connect_operator.restarts import RestartOutcome, Verdict
from connect_operator.targets import Target

MONITORING = Path(__file__).resolve().parents[2] / "k8s" / "monitoring"
SHELL_OPERATOR_METRICS = {"shell_operator_hook_run_errors_total"}
FUNCTIONS = {"increase", "rate", "absent", "max_over_time", "min_over_time", "sum_over_time"}
AGGREGATIONS = {"sum", "max", "min", "count", "avg"}
KEYWORDS = {"by", "without", "and", "or", "unless", "bool", "on", "ignoring"}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<duration>\[\d+[smhdw]\])
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
      | (?P<op>==|!=|=~|!~|>=|<=|[-+*/><=])
      | (?P<bracket>[(){},])
    )""",
    re.VERBOSE,
)


def emitted_metrics() -> set[str]:
    """Every series name the hook writes, from a run that exercises each one."""
    source = Source("default/cm", "k.json")
    target = TargetReport(
        target=Target(id="self-managed", base_url="http://connect"),
        plan=TargetPlan("self-managed", (), refused_deletes=("gone",)),
        outcomes=[Outcome(Result.UNCHANGED, "self-managed", "c", source)],
        observed={"c": ObservedConnector("c", {}, state="FAILED", tasks=((0, "FAILED"),))},
        failure="down",
        restarts=[RestartOutcome("self-managed", "c", source, Verdict.GIVE_UP, 3, 3)],
    )
    report = RunReport(targets=[target])
    return {operation["name"] for operation in metric_operations(report, 1.0)}


def metric_names(expr: str) -> set[str]:
    """Lex a PromQL expression; return the metric names it selects. AssertionError if it does
    not lex, names an unknown function, or its brackets do not balance."""
    names: set[str] = set()
    depth: list[str] = []
    position = 0
    previous = ""
    in_matchers = False
    grouping = False
    while position < len(expr.rstrip()):
        match = _TOKEN.match(expr, position)
        assert match and match.end() > position, f"cannot read {expr[position:]!r} in {expr!r}"
        position = match.end()
        kind = match.lastgroup
        text = match.group(kind or "")
        if kind == "bracket":
            if text in "({":
                depth.append(text)
                in_matchers = text == "{"
                grouping = previous in ("by", "without", "on", "ignoring")
            elif text in ")}":
                assert depth and depth.pop() == {")": "(", "}": "{"}[text], f"unbalanced: {expr}"
                in_matchers = False
                grouping = False
        elif kind == "name" and not in_matchers and not grouping:
            following = expr[position:].lstrip()[:1]
            if text in KEYWORDS or text in FUNCTIONS | AGGREGATIONS:
                pass  # `max by (target) (...)`: an aggregation need not be followed by `(`
            elif following == "(":
                raise AssertionError(f"unknown function {text} in {expr}")
            else:
                names.add(text)
        previous = text
    assert not depth, f"unbalanced: {expr}"
    return names


def rule_expressions() -> list[str]:
    document = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert document["apiVersion"] == "monitoring.coreos.com/v1"
    assert document["kind"] == "PrometheusRule"
    expressions = []
    for group in document["spec"]["groups"]:
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["alert"] and rule["labels"]["severity"] in ("warning", "critical")
            if "for" in rule:
                assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["for"]
            expressions.append(str(rule["expr"]))
    return expressions


def dashboard_expressions() -> list[str]:
    dashboard: dict[str, Any] = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dashboard["title"] and dashboard["uid"] and dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_hook_emits_the_series_the_readme_lists() -> None:
    readme = (MONITORING.parents[1] / "README.md").read_text()
    for name in emitted_metrics():
        assert f"`{name}" in readme, f"{name} is not documented"


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_expression_parses_and_names_only_emitted_metrics(source: str) -> None:
    expressions = rule_expressions() if source == "rules" else dashboard_expressions()
    allowed = emitted_metrics() | SHELL_OPERATOR_METRICS
    named: set[str] = set()
    for expr in expressions:
        names = metric_names(expr)
        assert names, f"{expr} selects no metric"
        assert names <= allowed, f"{expr} names {sorted(names - allowed)}, not emitted"
        named |= names
    assert any(name.startswith("connect_operator_") for name in named)


def test_the_rules_cover_targets_failures_given_up_refused_deletes_and_hook_errors() -> None:
    named = set().union(*(metric_names(expr) for expr in rule_expressions()))
    assert {
        "connect_operator_target_up",
        "connect_operator_connector_running",
        "connect_operator_connector_restart_given_up",
        "connect_operator_deletes_refused",
        "shell_operator_hook_run_errors_total",
    } <= named


@pytest.mark.parametrize(
    "expr",
    [
        "max(connect_operator_target_up",  # unbalanced
        "frobnicate(connect_operator_target_up)",  # no such function
        "connect_operator_target_up ~ 1",  # not PromQL
    ],
)
def test_the_lexer_refuses_what_is_not_promql(expr: str) -> None:
    with pytest.raises(AssertionError):
        metric_names(expr)


def test_a_metric_the_hook_does_not_emit_is_caught() -> None:
    assert "connect_operator_connector_up" not in emitted_metrics()
    assert metric_names('max by (target) (connect_operator_connector_up{a="b"}) > 0') == {
        "connect_operator_connector_up"
    }
