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
    assert connector.secret_keys == {"url", "user", "key"}
    assert connector.masked_config()["user"] == "****"
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
        ('{"name": "c", "config": ', "jq failed"),
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
    ],
)
def test_bad_programs_fail_with_a_clear_message(program: str, message: str) -> None:
    with pytest.raises(RenderError, match=None) as caught:
        render_connector(program, VARIABLES)
    assert message in str(caught.value)


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
    assert all(r.secret_keys == {"url"} for r in results if not isinstance(r, RenderError))
