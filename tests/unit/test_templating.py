"""Rendering a ConfigMap key through jq into a connector."""

from __future__ import annotations

import pytest

from connect_operator.errors import RenderError
from connect_operator.properties import Variables
from connect_operator.redaction import Redactor
from connect_operator.templating import config_hash, render_connector

VARIABLES = Variables(
    values={"SR_URL": "http://sr:8081", "DB_PASSWORD": "hunter2-secret"},
    environ={"DB_USER": "bob", "KAFKA_API_KEY": "KEY123"},
)


def test_variables_and_environment_are_rendered_and_marked_secret() -> None:
    connector = render_connector(
        '{"name": "c", "config": {"connector.class": "X", "url": $SR_URL, "user": env.DB_USER,'
        ' "key": $ENV.KAFKA_API_KEY, "topic": "literal", "tasks.max": 3, "flag": true}}',
        VARIABLES,
    )
    assert connector.name == "c"
    assert dict(connector.config) == {
        "connector.class": "X",
        "url": "http://sr:8081",
        "user": "bob",
        "key": "KEY123",
        "topic": "literal",
        "tasks.max": "3",
        "flag": "true",
    }
    # $SR_URL's name marks no credential; environment values are all secret.
    assert connector.secret_keys == {"user", "key"}
    assert connector.masked_config()["user"] == "****"
    assert connector.masked_config()["url"] == "http://sr:8081"
    assert connector.masked_config()["topic"] == "literal"


def test_a_value_computed_from_a_secret_is_still_masked() -> None:
    connector = render_connector(
        '{"name": "c", "config": {"connector.class": "X", "jaas": ("user=" + $DB_PASSWORD)}}',
        VARIABLES,
    )
    assert connector.secret_keys == {"jaas"}


@pytest.mark.parametrize(
    ("program", "message"),
    [
        ('{"name": "c", "config": {"x": $UNDEFINED}}', "$UNDEFINED is not defined"),
        ('{"name": "c", "config": ', "jq failed: syntax error"),
        ('{"name": "c"}, {"name": "d"}', "exactly one object"),
        ("empty", "exactly one object, it yielded 0"),
        ('"text"', "must yield an object"),
        ('{"config": {"connector.class": "X"}}', '"name" must be a non-empty string'),
        ('{"name": "c", "config": []}', '"config" must be an object'),
        ('{"name": "c", "config": {"connector.class": "X", "n": null}}', "got null"),
        ('{"name": "c", "config": {"connector.class": "X", "o": {"a": 1}}}', "got an object"),
        ('{"name": "c", "config": {"topic": "t"}}', 'no "connector.class"'),
        ('{"name": "c", "config": {"connector.class": "X", "name": "d"}}', "differs"),
        ('{"name": "c", "config": {"connector.class": "X"}, "extra": 1}', "unexpected top-level"),
        ('{"name": "c", "config": {"connector.class": "X"}, "state": "PAUSED"}', '"state" must'),
        ('{"name": "c", "config": {"connector.class": "X"}, "state": null}', "running, paused"),
    ],
)
def test_bad_programs_fail_with_a_clear_message(program: str, message: str) -> None:
    with pytest.raises(RenderError, match=None) as caught:
        render_connector(program, VARIABLES)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("document", "state"),
    [
        ('{"name": "c", "config": {"connector.class": "X"}}', "running"),
        ('{"name": "c", "config": {"connector.class": "X"}, "state": "running"}', "running"),
        ('{"name": "c", "config": {"connector.class": "X"}, "state": "paused"}', "paused"),
        ('{"name": "c", "config": {"connector.class": "X"}, "state": "stopped"}', "stopped"),
    ],
)
def test_a_document_may_declare_its_desired_state(document: str, state: str) -> None:
    assert render_connector(document, VARIABLES).state == state


def test_jq_errors_never_show_a_secret_value() -> None:
    with pytest.raises(RenderError) as caught:
        render_connector("$DB_PASSWORD | tonumber", VARIABLES)
    assert "hunter2-secret" not in str(caught.value)
    with pytest.raises(RenderError) as caught:
        render_connector("env.DB_USER | error", VARIABLES)
    assert "bob" not in str(caught.value)


def test_config_hash_is_stable_and_order_independent() -> None:
    assert config_hash({"a": "1", "b": "2"}) == config_hash({"b": "2", "a": "1"})
    assert config_hash({"a": "1"}) != config_hash({"a": "2"})


def test_redactor_replaces_longest_secrets_first_and_ignores_tiny_ones() -> None:
    redact = Redactor({"abcdef", "abc", "x"})
    assert redact("abcdef abc x") == "**** **** x"


def test_many_programs_render_in_chunks_and_a_broken_one_is_isolated() -> None:
    from connect_operator.templating import render_connectors

    programs = [
        f'{{"name": "c{index}", "config": {{"connector.class": "X", "url": $SR_URL}}}}'
        for index in range(400)
    ]
    programs[137] = '{"name": "c137", "config": {"connector.class": $UNDEFINED}}'
    programs[301] = '{"name": '
    results = render_connectors(programs, VARIABLES)
    failed = [index for index, result in enumerate(results) if isinstance(result, RenderError)]
    assert failed == [137, 301]
    assert "$UNDEFINED is not defined" in str(results[137])
    assert [r.name for r in results if not isinstance(r, RenderError)][:3] == ["c0", "c1", "c2"]
    assert all(r.secret_keys == frozenset() for r in results if not isinstance(r, RenderError))


# --- untrusted programs: self-contained, bounded, reading only what they may -----------------

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

from connect_operator.sandbox import Limits  # noqa: E402
from connect_operator.template_env import template_environ  # noqa: E402
from connect_operator.templating import (  # noqa: E402
    inputs_digest,
    inputs_digests,
    program_inputs,
    render_connectors,
    self_contained_problem,
)
from tests.support.fake_connect import FakeConnect  # noqa: E402
from tests.support.shell_operator import ShellOperator  # noqa: E402
from tests.unit.conftest import CANARIES, DATA, connector_json  # noqa: E402

RUNAWAYS = {
    "endless-recursion.json": "def f: f; f",
    "endless-range.json": "last(range(1e10))",
    "endless-until.json": "until(false; .)",
    "huge-array.json": "[range(1e8)]",
    "string-doubling.json": '"x" | until(length > 1e10; . + .)',
    "deep-nesting.json": "def f: [f]; f",
    "halt.json": "halt",
    "halt-error.json": '"stopping here\\n" | halt_error',
    "halt-error-status.json": "{} | halt_error(5)",
}


@pytest.mark.parametrize(
    ("program", "problem"),
    [
        ('{"a": (1 + 2)}', None),
        ('"a \\(1 + (2)) ) ] }" # ) ] }', None),
        ('"nested \\("in \\(1) string") ok"', None),
        ("1) , (2", "an unmatched ')'"),
        ("1 ] [", "an unmatched ']'"),
        ("(1", "an unclosed '('"),
        ('"open', "a string does not end"),
        ('"x\\("y"', "an unclosed"),
        ("[1)", "'[' is closed by ')'"),
        ("1 # a comment \\\n)", "a comment ends with a backslash"),
        ("1\0)", "NUL"),
    ],
)
def test_a_program_must_close_what_it_opens(program: str, problem: str | None) -> None:
    found = self_contained_problem(program)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_a_program_cannot_break_out_to_rebind_another_keys_variables() -> None:
    victim = '{"name": "victim", "config": {"connector.class": "X", "url": $SR_URL}}'
    # Closes the parentheses and brackets it runs in, binds $SR_URL over whatever follows,
    # and reopens them; without the check the victim's render is swallowed.
    attackers = [
        '{"name": "a", "config": {}}) catch 0]], "evil" as $SR_URL | empty | [[try (1',
        '{"name": "a", "config": {}}) catch 0]], "evil" as $SR_URL | [[try (1',
    ]
    for attacker in attackers:
        results = render_connectors([attacker, victim, victim], VARIABLES)
        assert isinstance(results[0], RenderError)
        for result in results[1:]:
            assert not isinstance(result, RenderError), result
            assert result.config["url"] == "http://sr:8081"


def test_a_syntax_error_points_at_the_line_and_column_in_the_key() -> None:
    with pytest.raises(RenderError) as caught:
        render_connector('{\n  "name": "c",\n  "config": {"connector.class": ]\n}', VARIABLES)
    assert "(line 3, column 33)" in str(caught.value)
    with pytest.raises(RenderError) as caught:
        render_connector('{"name": "c",\n "config": {"x": $NOPE}}', VARIABLES)
    assert str(caught.value) == "jq failed: $NOPE is not defined (line 2, column 18)"


# One form of each kind runs in `make test-unit` (a loop, an allocation, every halt), at the
# smallest CPU bound the settings allow (1 s): the loop burns that second by design. The other
# loops and allocations burn as much again each, so they run in `make test` only.
UNIT_RUNAWAYS = {
    "endless-recursion.json",
    "deep-nesting.json",
    "halt.json",
    "halt-error.json",
    "halt-error-status.json",
}


@pytest.mark.parametrize(
    "key",
    [
        key if key in UNIT_RUNAWAYS else pytest.param(key, marks=pytest.mark.slow)
        for key in sorted(RUNAWAYS)
    ],
)
def test_a_runaway_or_halting_program_fails_alone_and_its_neighbours_render(key: str) -> None:
    good = '{"name": "n%d", "config": {"connector.class": "X", "url": $SR_URL}}'
    programs = [good % 1, RUNAWAYS[key], good % 2]
    results = render_connectors(programs, VARIABLES, limits=Limits(cpu_seconds=1, memory_mb=64))
    assert isinstance(results[1], RenderError)
    assert "halt" in str(results[1]) or "was stopped" in str(results[1])
    assert [r.name for r in (results[0], results[2]) if isinstance(r, RenderedConnectorType)] == [
        "n1",
        "n2",
    ]


from connect_operator.templating import RenderedConnector as RenderedConnectorType  # noqa: E402


def test_jq_messages_and_error_values_never_show_a_secret_even_shortened() -> None:
    variables = Variables(values={"DB_PASSWORD": 'CANARY-"quoted"-password-0123456789'})
    for program in (
        "error($DB_PASSWORD)",
        'error({"pw": $DB_PASSWORD})',
        "$DB_PASSWORD + 1",
        '{"a": {"b": $DB_PASSWORD}} + 1',
        "[$DB_PASSWORD] | implode",
    ):
        with pytest.raises(RenderError) as caught:
            render_connector(program, variables)
        message = str(caught.value)
        assert "CANARY" not in message, (program, message)


def test_a_connector_name_that_contains_a_secret_is_an_error() -> None:
    with pytest.raises(RenderError, match=r"contains the value of \$DB_PASSWORD"):
        render_connector(
            '{"name": ("c-" + $DB_PASSWORD), "config": {"connector.class": "X"}}', VARIABLES
        )
    # a variable that is not a credential may be part of a name
    assert render_connector(
        '{"name": ("c-" + $SR_URL), "config": {"connector.class": "X"}}', VARIABLES
    ).name == ("c-http://sr:8081")


@pytest.mark.parametrize(
    ("program", "variables", "environ"),
    [
        ('{"a": $X, "b": env.Y, "c": $ENV.Z, "d": env."W"}', {"X"}, {"Y", "Z", "W"}),
        ("env | keys", set(), None),
        ('$ENV["A"]', set(), None),
        ('{"a": "$__loc__"} | $__loc__', set(), set()),
        # only the word `env` itself: not a variable, nor part of another name
        ("[$env, myenv, env_x, envy, 1env, (env.A), $ENV.B, $ENVY]", {"env", "ENVY"}, {"A", "B"}),
    ],
)
def test_program_inputs_are_read_from_the_text(
    program: str, variables: set[str], environ: set[str] | None
) -> None:
    reads = program_inputs(program)
    assert reads.variables == variables
    assert reads.environ == (None if environ is None else frozenset(environ))


def test_the_inputs_digest_changes_with_what_the_program_reads_and_nothing_else() -> None:
    program = '{"a": $SR_URL, "b": env.DB_USER}'
    base = inputs_digest(program, VARIABLES)
    assert base is not None
    same = Variables(values={**VARIABLES.values, "OTHER": "x"}, environ={**VARIABLES.environ})
    assert inputs_digest(program, same) == base
    changed_var = Variables(values={**VARIABLES.values, "SR_URL": "y"}, environ=VARIABLES.environ)
    changed_env = Variables(values=VARIABLES.values, environ={**VARIABLES.environ, "DB_USER": "z"})
    assert inputs_digest(program, changed_var) != base
    assert inputs_digest(program, changed_env) != base
    whole_env = "env | tostring"
    assert inputs_digest(whole_env, VARIABLES) != inputs_digest(
        whole_env, Variables(values=VARIABLES.values, environ={**VARIABLES.environ, "NEW": "n"})
    )
    assert inputs_digest("now", VARIABLES) is None


def test_many_digests_at_once_are_each_programs_own() -> None:
    programs = ['{"a": $SR_URL}', '{"a": $DB_PASSWORD}', "env.DB_USER", "now", '{"a": $SR_URL}']
    assert inputs_digests(programs, VARIABLES) == [inputs_digest(p, VARIABLES) for p in programs]
    assert len(set(inputs_digests(programs[:3], VARIABLES))) == 3


def test_the_inputs_digest_format_is_stable_across_versions() -> None:
    # Digests recorded in the ledger by earlier versions: a change here re-renders every
    # connector once after an upgrade (bump RENDER_FORMAT when that is the intent).
    assert inputs_digest('{"a": $SR_URL, "b": env.DB_USER}', VARIABLES) == (
        "sha256:bbaa6720f0e232eedb60584586de5596ab5f62a04430401dcd29e431d3e6f789"
    )
    assert inputs_digest("env | keys", VARIABLES) == (
        "sha256:cc206f7d7f5ff79fe8e1ebfa6627387cf147977aebdba5438ac1207b66f2f5dd"
    )


def test_the_default_template_environment_hides_the_operators_settings_and_process() -> None:
    environ = {
        "CONNECT_REST_KEY": "k",
        "CONNECT_REST_SECRET": "s",
        "CONNECT_URL": "u",
        "CONNECT_OPERATOR_RUN_DEADLINE": "1",
        "CONFLUENT_CLOUD_API_URL": "c",
        "KUBERNETES_SERVICE_HOST": "h",
        "SHELL_OPERATOR_TMP_DIR": "t",
        "BINDING_CONTEXT_PATH": "b",
        "METRICS_PATH": "m",
        "KUBERNETES_PATCH_PATH": "p",
        "PATH": "/bin",
        "HOME": "/root",
        "HOSTNAME": "pod",
        "WATCH_NAMESPACES": "*",
        "MYSQL_USER": "me",
        "CONNECTOR_OWNER": "team",
    }
    assert template_environ(environ, None) == {"MYSQL_USER": "me", "CONNECTOR_OWNER": "team"}
    assert template_environ(environ, ("MYSQL_*", "CONNECT_REST_KEY")) == {
        "MYSQL_USER": "me",
        "CONNECT_REST_KEY": "k",
    }


# --- through the real hook executable ----------------------------------------------------------


def _env_keys_program(name: str) -> str:
    return (
        f'{{"name": "{name}", "config": {{"connector.class": "FileStreamSink", "topics": "t",'
        ' "keys": (env | keys | join(",")), "dollar": ($ENV | keys | join(",")),'
        ' "text": (env | tostring)}}'
    )


def _secret_free(text: str) -> None:
    for canary in CANARIES:
        assert canary not in text


@pytest.mark.slow  # real CPU or wall-clock bounds: `make test`, not `make test-unit`
def test_hook_runaways_cost_only_their_own_key_and_keep_what_it_owned(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.env.update(
        CONNECT_OPERATOR_TEMPLATE_CPU_SECONDS="1",
        CONNECT_OPERATOR_TEMPLATE_MEMORY_MB="64",
        # nine runaways at up to 2 CPU seconds each, on a shared machine
        CONNECT_OPERATOR_RUN_DEADLINE="180",
    )
    owned_before = {key: connector_json(f"was-{key[:-5]}") for key in RUNAWAYS}
    operator.put_configmap("bad", owned_before)
    assert operator.run().returncode == 0
    assert len(fake_connect.connectors) == len(RUNAWAYS)
    operator.put_configmap("bad", RUNAWAYS)
    operator.put_configmap("good", {"a.json": connector_json("good-a"), "b.json": "{"})
    operator.put_configmap("good2", {"c.json": connector_json("good-c")})
    run = operator.run()
    assert run.returncode == 0, run.stdout + run.stderr
    assert {"good-a", "good-c"} <= set(fake_connect.connectors)
    print(f"nine runaways and three good keys: {run.seconds:.1f} s")
    # what the broken keys created before is kept, not pruned
    assert {f"was-{key[:-5]}" for key in RUNAWAYS} <= set(fake_connect.connectors)
    errors = {line["key"]: line["msg"] for line in run.log_lines() if line["level"] == "error"}
    assert set(RUNAWAYS) | {"b.json"} <= set(errors)
    for key in RUNAWAYS:
        assert "ConfigMap default/bad key " + key in errors[key]
    assert "(line 1, column 1)" in errors["b.json"]
    assert "stopping here" not in run.stdout + run.stderr  # halt_error's text goes nowhere
    ledger = {entry["connector"] for entry in operator.ledger()["entries"]}
    assert {f"was-{key[:-5]}" for key in RUNAWAYS} <= ledger


def test_hook_templates_see_only_the_allowlisted_environment(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    # The hook runs in this process, whose environment holds the test runner's variables, and
    # whose C environment holds one that os.environ does not know of (as readline's LINES and
    # COLUMNS would be): the renderer must show neither.
    import ctypes

    libc = ctypes.CDLL(None)
    libc.setenv(b"SET_BY_C_CODE", b"c-value", 1)
    try:
        _templates_see_only_the_allowlisted_environment(operator, fake_connect)
    finally:
        libc.unsetenv(b"SET_BY_C_CODE")


def _templates_see_only_the_allowlisted_environment(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.env.update(
        CONNECT_OPERATOR_TEMPLATE_ENV="DB_PASSWORD, ALLOWED_*",
        ALLOWED_ONE="one-value",
        NOT_ALLOWED="hidden-value",
        CONNECT_REST_SECRET="CANARY-CC-SECRET",
    )
    operator.put_configmap("envs", {"e.json": _env_keys_program("envs")})
    run = operator.run()
    assert run.returncode == 0, run.stdout
    config = fake_connect.connectors["envs"]
    expected = "ALLOWED_ONE,DB_PASSWORD,KAFKA_API_KEY,KAFKA_API_SECRET"
    assert config["keys"] == expected
    assert config["dollar"] == expected
    assert "hidden-value" not in config["text"] and "CANARY-CC-SECRET" not in config["text"]
    assert json.loads(config["text"])["ALLOWED_ONE"] == "one-value"


def test_hook_default_environment_hides_credentials_settings_and_process_variables(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.env.update(CONNECT_REST_KEY="CANARY-CC-KEY", CONNECT_REST_SECRET="CANARY-CC-SECRET")
    operator.put_configmap("envs", {"e.json": _env_keys_program("envs")})
    assert operator.run().returncode == 0
    keys = fake_connect.connectors["envs"]["keys"].split(",")
    assert {"DB_PASSWORD", "KAFKA_API_KEY", "KAFKA_API_SECRET"} <= set(keys)
    hidden = ("CONNECT_", "KUBERNETES_", "PATH", "HOME", "BINDING_CONTEXT_PATH", "METRICS_PATH")
    assert [key for key in keys if key.startswith(hidden) or key.endswith("_PATH")] == []
    assert "CANARY-CC" not in fake_connect.connectors["envs"]["text"]


def test_hook_scrubs_secrets_from_every_channel_and_keeps_other_values_readable(
    operator: ShellOperator, fake_connect: FakeConnect, tmp_path: Path
) -> None:
    config_dir = tmp_path / "variables"
    shutil.copytree(DATA / "variables", config_dir)
    (config_dir / "names.properties").write_text("topic.prefix=connect\n")
    operator.env["CONNECT_OPERATOR_CONFIG_DIR"] = str(config_dir)
    operator.put_configmap(
        "leaky",
        {
            "error-value.json": 'error({"password": env.DB_PASSWORD, "k": $KAFKA_API_SECRET})',
            "jq-message.json": "$SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO | tonumber",
            "added.json": "env.DB_PASSWORD + 1",
            "debugged.json": "env.DB_PASSWORD | debug | stderr | error",
            "name.json": (
                '{"name": ("x-" + env.DB_PASSWORD),'
                ' "config": {"connector.class": "FileStreamSink"}}'
            ),
            "readable.json": (
                '{"name": ("orders-" + $TOPIC_PREFIX), "config": {"connector.class": "Nope",'
                ' "password": env.DB_PASSWORD, "topics": "t"}}'
            ),
        },
    )
    run = operator.run()
    assert run.returncode == 0, run.stdout
    errors = {line["key"]: line["msg"] for line in run.log_lines() if line["level"] == "error"}
    assert "password" in errors["error-value.json"] and "****" in errors["error-value.json"]
    assert "contains the value of env.DB_PASSWORD" in errors["name.json"]
    # Connect rejected the unknown class: the connector's name reads as it is.
    assert "orders-connect" in errors["readable.json"]
    assert set(errors) == {
        "error-value.json",
        "jq-message.json",
        "added.json",
        "debugged.json",
        "name.json",
        "readable.json",
    }
    for text in (run.stdout, run.stderr, run.patch, run.metrics):
        _secret_free(text)
    assert "orders-connect" in run.metrics or "orders-connect" in run.stdout


# --- the render cache ----------------------------------------------------------------------------


from collections.abc import Set as AbstractSet  # noqa: E402

from connect_operator import desired as desired_module  # noqa: E402
from connect_operator import templating as templating_module  # noqa: E402
from connect_operator.binding import binding_configuration, read_binding_context  # noqa: E402
from connect_operator.connect_client import Deadline  # noqa: E402
from connect_operator.desired import DesiredState  # noqa: E402
from connect_operator.reconcile import reconcile  # noqa: E402
from connect_operator.report import patch_operations  # noqa: E402
from connect_operator.settings import Settings  # noqa: E402
from tests.support.shell_operator import ObjectStore, group_contexts  # noqa: E402


class InProcessHook:
    """The hook's whole run in this process, counting the programs it renders."""

    def __init__(self, fake: FakeConnect, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fake = fake
        self.store = ObjectStore()
        self.settings = Settings(connect_url=fake.url)
        self.rendered: list[list[str]] = []
        real = desired_module.render_connectors  # type: ignore[attr-defined]

        def counting(programs: list[str], *args: object, **kwargs: object) -> object:
            self.rendered.append(list(programs))
            return real(programs, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(desired_module, "render_connectors", counting)

    def put(self, name: str, data: dict[str, str]) -> None:
        self.store.put(
            {
                "kind": "ConfigMap",
                "metadata": {"name": name, "labels": {"destination": "connect", "enabled": "true"}},
                "data": data,
            }
        )

    def run(
        self, values: dict[str, str], environ: dict[str, str], binding: str = "connectors"
    ) -> list[str]:
        """One run (for `binding`); returns the programs it rendered."""
        self.rendered.clear()
        contexts = [
            {**context, "binding": binding}
            for context in group_contexts(binding_configuration(self.settings), self.store)
        ]
        view = read_binding_context(json.dumps(contexts), self.settings)
        variables = Variables(values=values, environ=environ)
        report = reconcile(view, variables, self.settings, deadline=Deadline(30))
        assert report.exit_code == 0
        for operation in patch_operations(report, self.settings):
            self.store.apply_patch_text(json.dumps(operation))
        return [program for batch in self.rendered for program in batch]


def _program(name: str, value: str) -> str:
    return (
        f'{{"name": "{name}", "config": {{"connector.class": "FileStreamSink", "topics": "t",'
        f' "value": {value}}}}}'
    )


@pytest.fixture
def hook(fake_connect: FakeConnect, monkeypatch: pytest.MonkeyPatch) -> InProcessHook:
    return InProcessHook(fake_connect, monkeypatch)


VALUES = {"X": "x1", "Y": "y1", "DB_PASSWORD": "pw1"}
ENVIRON = {"E": "e1", "F": "f1"}
PROGRAMS = {
    "reads-x.json": _program("reads-x", "$X"),
    "reads-y.json": _program("reads-y", "($Y + $DB_PASSWORD)"),
    "reads-env-e.json": _program("reads-env-e", "env.E"),
    "reads-all-env.json": _program("reads-all-env", "(env | tostring)"),
    "literal.json": _program("literal", '"fixed"'),
}


def test_an_unchanged_run_renders_nothing_and_changes_nothing(hook: InProcessHook) -> None:
    hook.put("cm", PROGRAMS)
    assert len(hook.run(VALUES, ENVIRON)) == len(PROGRAMS)
    hook.fake.requests.clear()
    assert hook.run(VALUES, ENVIRON) == []
    assert hook.fake.writes() == []


@pytest.mark.parametrize(
    ("values", "environ", "rerendered", "connector", "expected"),
    [
        ({**VALUES, "X": "x2"}, ENVIRON, {"reads-x.json"}, "reads-x", "x2"),
        ({**VALUES, "DB_PASSWORD": "pw2"}, ENVIRON, {"reads-y.json"}, "reads-y", "y1pw2"),
        (VALUES, {**ENVIRON, "E": "e2"}, {"reads-env-e.json", "reads-all-env.json"}, None, None),
        (VALUES, {**ENVIRON, "NEW": "n"}, {"reads-all-env.json"}, None, None),
        ({**VALUES, "UNUSED": "u"}, ENVIRON, set(), None, None),
    ],
)
def test_a_changed_value_rerenders_exactly_the_programs_that_read_it(
    hook: InProcessHook,
    values: dict[str, str],
    environ: dict[str, str],
    rerendered: set[str],
    connector: str | None,
    expected: str | None,
) -> None:
    hook.put("cm", PROGRAMS)
    hook.run(VALUES, ENVIRON)
    rendered = hook.run(values, environ)
    assert sorted(rendered) == sorted(PROGRAMS[key] for key in rerendered)
    if connector is not None:
        assert hook.fake.connectors[connector]["value"] == expected
    for name, config in hook.fake.connectors.items():
        if name == "reads-env-e":
            assert config["value"] == environ["E"]
        if name == "reads-all-env":
            assert json.loads(config["value"]) == environ
    # and the run after that is unchanged again
    assert hook.run(values, environ) == []


def test_a_changed_program_or_a_connector_changed_by_hand_is_rendered_again(
    hook: InProcessHook,
) -> None:
    hook.put("cm", PROGRAMS)
    hook.run(VALUES, ENVIRON)
    hook.put("cm", {**PROGRAMS, "literal.json": _program("literal", '"changed"')})
    assert hook.run(VALUES, ENVIRON) == [_program("literal", '"changed"')]
    assert hook.fake.connectors["literal"]["value"] == "changed"
    hook.fake.connectors["reads-x"]["value"] = "edited by hand"
    assert hook.run(VALUES, ENVIRON) == [PROGRAMS["reads-x.json"]]
    assert hook.fake.connectors["reads-x"]["value"] == "x1"


def test_a_retry_tick_with_nothing_to_do_renders_nothing_and_sends_nothing(
    hook: InProcessHook,
) -> None:
    clock = _program("clock", '("t" + (now | floor | tostring | .[0:3]))')
    hook.put("cm", {**PROGRAMS, "clock.json": clock})
    hook.run(VALUES, ENVIRON)
    hook.fake.requests.clear()
    # not even the program that reads the clock, which every reconciling run renders
    assert hook.run(VALUES, ENVIRON, binding="retry") == []
    assert hook.fake.requests == []
    # a tick that has something to do (a ConfigMap changed) reconciles as any run does
    hook.put("cm", {**PROGRAMS, "clock.json": clock, "literal.json": _program("literal", '"x"')})
    assert sorted(hook.run(VALUES, ENVIRON, binding="retry")) == sorted(
        [clock, _program("literal", '"x"')]
    )
    assert hook.fake.connectors["literal"]["value"] == "x"


def test_a_program_that_reads_the_clock_is_rendered_every_run(hook: InProcessHook) -> None:
    clock = _program("clock", '("t" + (now | floor | tostring | .[0:3]))')
    hook.put("cm", {"clock.json": clock})
    hook.run(VALUES, ENVIRON)
    assert hook.run(VALUES, ENVIRON) == [clock]


def test_a_cached_connector_still_masks_its_secrets(
    hook: InProcessHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook.put("cm", PROGRAMS)
    hook.run(VALUES, ENVIRON)
    seen: list[AbstractSet[str]] = []
    real = desired_module.desired_state

    def spy(*args: object, **kwargs: object) -> object:
        state = real(*args, **kwargs)  # type: ignore[arg-type]
        seen.extend(c.secret_keys for c in state.connectors if c.name == "reads-y")
        return state

    monkeypatch.setattr("connect_operator.reconcile.desired_state", spy)
    assert hook.run(VALUES, ENVIRON) == []
    assert seen == [frozenset({"value"})]


def test_a_cached_connector_works_out_its_secret_keys_only_when_they_are_asked_for(
    hook: InProcessHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook.put("cm", PROGRAMS)
    hook.run(VALUES, ENVIRON)
    looked_up: list[str] = []
    real_lookup = templating_module.readable_secrets

    def counting(program: str, variables: Variables) -> dict[str, str]:
        looked_up.append(program)
        return real_lookup(program, variables)

    monkeypatch.setattr(templating_module, "readable_secrets", counting)
    states: list[DesiredState] = []
    real = desired_module.desired_state

    def spy(*args: object, **kwargs: object) -> DesiredState:
        states.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return states[-1]

    monkeypatch.setattr("connect_operator.reconcile.desired_state", spy)
    assert hook.run(VALUES, ENVIRON) == []
    assert looked_up == []  # an unchanged connector's config is neither sent nor shown
    (reads_y,) = (c for c in states[0].connectors if c.name == "reads-y")
    assert reads_y.secret_keys == frozenset({"value"})
    assert "value" in reads_y.secret_keys and reads_y.secret_values() == {"y1pw1"}
    assert looked_up == [PROGRAMS["reads-y.json"]]  # once, however often it is asked


def test_hook_never_serves_a_stale_render_when_the_environment_changes(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("cm", {"a.json": _program("a", "env.TEAM_NAME")})
    operator.env["TEAM_NAME"] = "first-team"
    assert operator.run().returncode == 0
    assert operator.run().returncode == 0
    operator.env["TEAM_NAME"] = "second-team"
    assert operator.run().returncode == 0
    assert fake_connect.connectors["a"]["value"] == "second-team"


def test_a_cached_connector_keeps_its_declared_state(hook: InProcessHook) -> None:
    paused = (
        '{"name": "paused-one", "state": "paused",'
        ' "config": {"connector.class": "FileStreamSink", "topics": "t", "value": $X}}'
    )
    hook.put("cm", {"p.json": paused})
    hook.run(VALUES, ENVIRON)
    hook.fake.requests.clear()
    assert hook.run(VALUES, ENVIRON) == []
    assert hook.fake.writes() == []


class _RunsOut:
    """A run deadline with a moment left for the renderer to start, then none: no run waits
    for it to pass, and the renderer must stop at it rather than wait for the program."""

    def __init__(self) -> None:
        self.asked = 0

    def remaining(self) -> float:
        self.asked += 1
        return 0.05 if self.asked == 1 else 0.0


def test_rendering_stops_at_the_run_deadline_whatever_the_programs_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from connect_operator import sandbox
    from connect_operator.errors import DeadlineExceeded

    killed: list[int] = []
    kill = sandbox._Child.kill

    def recorded_kill(child: sandbox._Child) -> None:
        killed.append(child.pid)
        kill(child)

    monkeypatch.setattr(sandbox._Child, "kill", recorded_kill)
    deadline = _RunsOut()
    with pytest.raises(DeadlineExceeded):
        render_connectors(
            ["def f: f; f", _program("after", '"x"')],
            VARIABLES,
            limits=Limits(cpu_seconds=60, memory_mb=64),
            deadline=deadline,
        )
    # The renderer was stopped (killed and reaped) at the deadline, not waited for: the
    # program had 60 s of CPU left.
    assert deadline.asked == 2 and len(killed) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(killed[0], os.WNOHANG)


def test_the_hook_does_not_import_jq_nor_the_renderer_before_it_renders() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, connect_operator.hook;"
        " print([m for m in ('jq', 'connect_operator.sandbox') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_cli_render_and_run_never_print_a_secret_but_name_the_broken_keys(
    fake_connect: FakeConnect, base_env: dict[str, str], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from connect_operator.cli import cli

    store = ObjectStore()
    store.put(
        {
            "kind": "ConfigMap",
            "metadata": {"name": "leaky", "labels": {"destination": "connect", "enabled": "true"}},
            "data": {
                "error.json": 'error({"pw": env.DB_PASSWORD, "k": $KAFKA_API_SECRET})',
                "message.json": "$SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO + 1",
                "good.json": _program("good", "env.DB_PASSWORD"),
            },
        }
    )
    context = tmp_path / "context.json"
    context.write_text(json.dumps(group_contexts(binding_configuration(Settings()), store)))
    env = {**base_env, "CONNECT_URL": fake_connect.url}
    for args in (["render"], ["run"], ["run", "--dry-run"]):
        result = CliRunner().invoke(cli, [*args, "--binding-context", str(context)], env=env)
        output = result.output + (result.stderr if result.stderr_bytes is not None else "")
        assert "default/leaky key error.json" in output or "error.json" in output, output
        _secret_free(output)
    shown = CliRunner().invoke(
        cli, ["render", "--binding-context", str(context), "--show-secrets"], env=env
    )
    assert "CANARY-ENV-DB-PASSWORD" in shown.output
