"""What a user sees from rendering a ConfigMap key: the exact errors (with jq's own shortened
values masked), what a program is taken to read (for masking and the render cache), and the
digests the ledger keeps."""

from __future__ import annotations

import hashlib
from types import MappingProxyType

import pytest

from connect_operator.errors import RenderError
from connect_operator.properties import Variables
from connect_operator.templating import (
    SecretKeysOf,
    config_hash,
    inputs_digest,
    program_inputs,
    render_connector,
    render_connectors,
    self_contained_problem,
)

VARIABLES = Variables(
    values={"SR_URL": "http://sr:8081", "DB_PASSWORD": "CANARYPLAINSECRETVALUE0123456789"},
    environ={"DB_USER": "bob-the-user"},
)
QUOTED = Variables(values={"DB_PASSWORD": 'CANARY-"quoted"-password-0123456789'})


def render_error(program: str, variables: Variables = VARIABLES) -> str:
    with pytest.raises(RenderError) as caught:
        render_connector(program, variables)
    return str(caught.value)


# --- the document a program must yield ---------------------------------------------------------

DOCUMENT_ERRORS = {
    "two documents": (
        '{"name": "c"}, {"name": "d"}',
        "the program must yield exactly one object, it yielded 2",
    ),
    "none": ("empty", "the program must yield exactly one object, it yielded 0"),
    "a string": ('"text"', "the program must yield an object, it yielded a string"),
    "an array": ("[1]", "the program must yield an object, it yielded an array"),
    "a number": ("1.5", "the program must yield an object, it yielded a number"),
    "a boolean": ("false", "the program must yield an object, it yielded a boolean"),
    "null": ("null", "the program must yield an object, it yielded null"),
    "other keys": (
        '{"name": "c", "config": {"connector.class": "X"}, "tasks": [], "extra": 1}',
        "unexpected top-level keys ['extra', 'tasks']; only name, config and state are read",
    ),
    "an unknown state": (
        '{"name": "c", "config": {"connector.class": "X"}, "state": "PAUSED"}',
        '"state" must be one of running, paused, stopped, got "PAUSED"',
    ),
    "a state that is not a string": (
        '{"name": "c", "config": {"connector.class": "X"}, "state": null}',
        '"state" must be one of running, paused, stopped, got null',
    ),
    "a long state, shown shortened": (
        '{"name": "c", "config": {"connector.class": "X"}, "state": ("x" * 100)}',
        '"state" must be one of running, paused, stopped, got "' + "x" * 39,
    ),
    "no name": ('{"config": {"connector.class": "X"}}', '"name" must be a non-empty string'),
    "a blank name": (
        '{"name": "  ", "config": {"connector.class": "X"}}',
        '"name" must be a non-empty string',
    ),
    "a config that is an array": (
        '{"name": "c", "config": []}',
        '"config" must be an object, got an array',
    ),
    "no config": ('{"name": "c"}', '"config" must be an object, got null'),
    "a null value": (
        '{"name": "c", "config": {"connector.class": "X", "n": null}}',
        "config key 'n' must be a string, number or boolean, got null",
    ),
    "an object value": (
        '{"name": "c", "config": {"connector.class": "X", "o": {"a": 1}}}',
        "config key 'o' must be a string, number or boolean, got an object",
    ),
    "an array value": (
        '{"name": "c", "config": {"connector.class": "X", "topics": ["a", "b"]}}',
        "config key 'topics' must be a string, number or boolean, got an array",
    ),
    "no connector.class": (
        '{"name": "c", "config": {"topic": "t"}}',
        'config has no "connector.class"',
    ),
    "a config name that differs": (
        '{"name": "c", "config": {"connector.class": "X", "name": "d"}}',
        "config \"name\" differs from the connector name 'c'",
    ),
}


@pytest.mark.parametrize(
    ("program", "message"), list(DOCUMENT_ERRORS.values()), ids=list(DOCUMENT_ERRORS)
)
def test_a_wrong_document_fails_with_a_message_that_names_what_is_wrong(
    program: str, message: str
) -> None:
    assert render_error(program) == message


def test_config_values_become_the_strings_connect_stores() -> None:
    connector = render_connector(
        '{"name": "c", "config": {"connector.class": "X", "on": true, "off": false,'
        ' "tasks.max": 3, "ratio": 0.5, "big": 1e3, "text": "t", "name": "c"}}',
        VARIABLES,
    )
    assert dict(connector.config) == {
        "connector.class": "X",
        "on": "true",
        "off": "false",
        "tasks.max": "3",
        "ratio": "0.5",
        "big": "1000",
        "text": "t",
        "name": "c",
    }


# --- errors: jq's, the renderer's, and the secrets in them -------------------------------------


def test_a_program_that_halts_is_stopped_not_failed() -> None:
    assert render_error("halt") == "the program called halt or halt_error"
    assert render_error('"bye\\n" | halt_error') == "the program called halt or halt_error"


def test_jq_errors_are_prefixed_and_say_where() -> None:
    assert render_error("$UNDEFINED") == "jq failed: $UNDEFINED is not defined (line 1, column 1)"
    assert render_error('error("custom")') == "jq failed: custom"


@pytest.mark.parametrize(
    ("program", "problem"),
    [
        ("1 # a comment that ends in a backslash \\", "a comment ends with a backslash"),
        ("1 # ... and a CRLF \\\r\n", "a comment ends with a backslash"),
        ("1 # three: an escaped one, then the one that continues \\\\\\\n", "a comment ends"),
        ("1\0", "it contains a NUL character"),
    ],
)
def test_a_program_jq_accepts_alone_but_that_is_not_self_contained_fails_saying_why(
    program: str, problem: str
) -> None:
    neighbour = '{"name": "n", "config": {"connector.class": "X"}}'
    results = render_connectors([program, neighbour], VARIABLES)
    assert isinstance(results[0], RenderError)
    assert str(results[0]).startswith(f"jq failed: the program is not self-contained: {problem}")
    assert not isinstance(results[1], RenderError) and results[1].name == "n"


@pytest.mark.parametrize(
    ("program", "problem"),
    [
        # jq ends a comment at a line break unless an odd number of backslashes precedes it
        ("[1 # two backslashes are one escaped backslash \\\\\n, 2]", None),
        ("[1 # a backslash then a space \\ \n, 2]", None),
        ("[1 # a backslash then two CRs \\\r\r\n, 2]", None),
        ("[1 # a backslash then a CRLF \\\r\n, 2]", "a comment ends with a backslash"),
        ("1 # a backslash at the very end \\", "a comment ends with a backslash"),
        ("[1 # a backslash inside \\ a comment\n, 2]", None),
        ("{\n  # a comment on its own line\n  a: 1\n}", None),
        ("1 # one comment\n# and another\n)", "an unmatched ')'"),
        ("1 # a comment\n) ,\n(2", "an unmatched ')'"),
        ("[ # a comment\n1 # another\n)", "'[' is closed by ')'"),
        ('"a string # not a comment \\\\"', None),
        ('"open # and never closed', "a string does not end"),
        ('"a \\" quote" | (1', "an unclosed '('"),
    ],
)
def test_comments_end_at_the_line_end_as_jq_ends_them(program: str, problem: str | None) -> None:
    assert self_contained_problem(program) == problem


def test_jq_messages_show_no_secret_even_one_shortened_to_a_few_characters() -> None:
    # jq shortens a value in its messages to about 25 characters and adds `...`: whatever part
    # of a secret it shows, however short, is masked; the rest of the message is kept.
    for key_length in range(12, 21):
        key = "a" * key_length
        message = render_error(f'{{"{key}": $DB_PASSWORD}} + 1')
        shown = "" if key_length == 20 else "****"
        assert message == (
            f'jq failed: object ({{"{key}":"{shown}...}}) and number (1) cannot be added'
        )


@pytest.mark.parametrize(
    ("program", "variables", "message"),
    [
        (
            "$DB_PASSWORD + 1",
            VARIABLES,
            'jq failed: string ("****...") and number (1) cannot be added',
        ),
        (
            '{"a": $DB_PASSWORD} + [$DB_PASSWORD]',
            VARIABLES,
            'jq failed: object ({"a":"****...}) and array (["****...]) cannot be added',
        ),
        (
            '{"a": {"b": $DB_PASSWORD}} + 1',
            QUOTED,
            'jq failed: object ({"a":{"b":"****...}) and number (1) cannot be added',
        ),
        ('error({"pw": $DB_PASSWORD})', QUOTED, 'jq failed: {"pw":"****"}'),
        ("env.DB_USER | error", VARIABLES, "jq failed: ****"),
        ('"x..." | error', VARIABLES, "jq failed: x..."),
    ],
)
def test_jq_messages_keep_their_words_and_mask_the_secrets(
    program: str, variables: Variables, message: str
) -> None:
    assert render_error(program, variables) == message


def test_a_connector_name_holding_a_secret_is_refused_with_the_reason() -> None:
    assert render_error('{"name": ("c-" + env.DB_USER), "config": {"connector.class": "X"}}') == (
        "the connector name contains the value of env.DB_USER, a secret; names go into logs,"
        " metrics and the ledger, so they must not"
    )


# --- what a program reads ----------------------------------------------------------------------

READS = {
    "fields of env and $ENV, quoted or not": (
        '{"a": $X, "b": env.Y, "c": $ENV.Z, "d": env."W", "e": env . V}',
        {"X"},
        {"Y", "Z", "W", "V"},
    ),
    "the whole environment": ("env | keys", set(), None),
    "a computed name": ('$ENV["A"]', set(), None),
    "$ENV in front of a comment": ("$ENV# the whole of it", set(), None),
    "`env` inside a string is text": (
        '{"name": "env-sink", "config": {"doc": "reads env | keys"}}',
        set(),
        set(),
    ),
    "`env` inside a comment is text": ('# env | keys\n{"a": env.A}', set(), {"A"}),
    "a comment after code": ('{"a": env.A} # not env | keys', set(), {"A"}),
    "an interpolation is code": ('"\\(env | keys)"', set(), None),
    "an interpolation's fields, and the string around it": (
        '"env \\(env.A) env \\("env") env"',
        set(),
        {"A"},
    ),
    "parentheses inside an interpolation": ('"\\((1 + (2)) | env.B) env | keys"', set(), {"B"}),
    "escaped quotes keep a string open": ('"a \\"env | keys\\" b" | env.C', set(), {"C"}),
    "an escaped backslash ends nothing but itself": ('"\\\\" | env | keys', set(), None),
    "a comment inside an interpolation": ('"\\(env.A # ) env | keys\n) env"', set(), {"A"}),
    "code after a comment's line": ("# env\nenv | keys", set(), None),
    "a `$__loc__` is no variable": ('{"a": "$__loc__"} | $__loc__', set(), set()),
}


@pytest.mark.parametrize(("program", "variables", "environ"), list(READS.values()), ids=list(READS))
def test_what_a_program_reads_is_told_from_its_code_not_its_strings_or_comments(
    program: str, variables: set[str], environ: set[str] | None
) -> None:
    reads = program_inputs(program)
    assert reads.variables == variables
    assert reads.environ == (None if environ is None else frozenset(environ))


def test_a_program_that_reads_the_whole_environment_is_rendered_again_when_a_name_changes() -> None:
    program = "env | tostring"
    before = Variables(environ={"A": "same"})
    renamed = Variables(environ={"B": "same"})
    assert inputs_digest(program, before) != inputs_digest(program, renamed)


def test_an_undefined_variable_and_an_empty_one_are_different_inputs() -> None:
    program = '{"a": $X}'
    assert inputs_digest(program, Variables()) != inputs_digest(program, Variables({"X": ""}))


def test_a_value_that_is_not_utf8_has_a_digest_of_its_own() -> None:
    # os.environ carries undecodable bytes as lone surrogates
    program = "env.E"
    one = inputs_digest(program, Variables(environ={"E": "bytes-\udcff"}))
    other = inputs_digest(program, Variables(environ={"E": "bytes-\udcfe"}))
    assert one is not None and other is not None and one != other


def test_the_config_hash_the_ledger_keeps_is_sha256_of_the_canonical_json() -> None:
    # Hashes written by an earlier version must still match: the format is fixed.
    canonical = b'{"connector.class":"X","topics":"caf\\u00e9"}'
    assert config_hash({"topics": "café", "connector.class": "X"}) == (
        "sha256:" + hashlib.sha256(canonical).hexdigest()
    )


def test_the_config_hash_is_the_same_for_any_mapping_of_the_same_config() -> None:
    config = {"connector.class": "X", "topics": "t"}
    assert config_hash(MappingProxyType(config)) == config_hash(dict(reversed(config.items())))


def test_secret_keys_worked_out_later_show_their_keys_and_never_a_value() -> None:
    program = '{"name": "c", "config": {"connector.class": "X", "pw": $DB_PASSWORD}}'
    config = {"connector.class": "X", "pw": "CANARYPLAINSECRETVALUE0123456789"}
    keys = SecretKeysOf(program, VARIABLES, config)
    assert set(keys) == {"pw"} and "pw" in keys and len(keys) == 1
    assert repr(keys) == "SecretKeysOf(['pw'])"
