"""The promises about variables and secrets, as pure functions:

- when two variables files define the same key, the later file in sorted path order wins;
- a config value that contains a secret the program may read is masked, also when the program's
  text does not say which environment names it reads (the check fails closed, never open).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from connect_operator.properties import Variables, load_variables
from connect_operator.templating import program_inputs, readable_secrets, render_connector


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_later_file_in_sorted_path_order_wins_whatever_order_they_were_made_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Made last-to-first, so that directory order (creation order on most filesystems) and
    # sorted order disagree.
    write(tmp_path / "z" / "last.properties", "topic.prefix=from-z\n")
    write(tmp_path / "b.properties", "topic.prefix=from-b\nonly.b=1\n")
    write(tmp_path / "a.properties", "topic.prefix=from-a\nonly.a=1\n")
    with caplog.at_level(logging.WARNING, logger="connect_operator"):
        variables = load_variables(tmp_path, {})
    assert variables.values["TOPIC_PREFIX"] == "from-z"
    assert variables.origins["TOPIC_PREFIX"] == str(tmp_path / "z" / "last.properties")
    assert variables.values["ONLY_A"] == variables.values["ONLY_B"] == "1"
    overrides = [r.getMessage() for r in caplog.records if "overrides" in r.getMessage()]
    assert overrides == [
        f"variable $TOPIC_PREFIX from {tmp_path / 'b.properties'} overrides the one from "
        f"{tmp_path / 'a.properties'}",
        f"variable $TOPIC_PREFIX from {tmp_path / 'z' / 'last.properties'} overrides the one "
        f"from {tmp_path / 'b.properties'}",
    ]
    for value in ("from-a", "from-b", "from-z"):  # names and files, never values
        assert all(value not in message for message in overrides)


def test_the_same_value_twice_is_no_override_and_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "a.properties", "x=1\n")
    write(tmp_path / "b.properties", "x=1\n")
    with caplog.at_level(logging.WARNING, logger="connect_operator"):
        assert load_variables(tmp_path, {}).values == {"X": "1"}
    assert caplog.records == []


SECRET_ENV = {"OWNER_TOKEN": "CANARY-ENV-TOKEN-1", "PLAIN": "plain-value"}


@pytest.mark.parametrize(
    "expression",
    [
        "(env | tostring)",
        '($ENV["OWNER" + "_TOKEN"])',
        '($ENV | to_entries | map(.value) | join(","))',
        '(env | with_entries(select(.key | startswith("OWNER"))) | tostring)',
    ],
)
def test_a_program_that_reads_the_environment_by_computed_names_gets_every_value_masked(
    expression: str,
) -> None:
    variables = Variables(values={}, environ=SECRET_ENV)
    assert program_inputs(expression).environ is None  # the text does not say what it reads
    program = f'{{"name": "n", "config": {{"connector.class": "X", "value": {expression}}}}}'
    rendered = render_connector(program, variables)
    assert "CANARY-ENV-TOKEN-1" in rendered.config["value"]
    assert rendered.secret_keys == {"value"}
    assert rendered.masked_config() == {"connector.class": "X", "value": "****"}


def test_every_environment_value_counts_as_readable_when_the_names_are_unknown() -> None:
    variables = Variables(values={"DB_PASSWORD": "pw-secret-1", "TOPIC": "t-1"}, environ=SECRET_ENV)
    assert readable_secrets("env | tostring", variables) == {
        "env.OWNER_TOKEN": "CANARY-ENV-TOKEN-1",
        "env.PLAIN": "plain-value",
    }
    assert readable_secrets("env.PLAIN + $DB_PASSWORD + $TOPIC", variables) == {
        "env.PLAIN": "plain-value",
        "$DB_PASSWORD": "pw-secret-1",
    }
