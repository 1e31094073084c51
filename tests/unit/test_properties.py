"""Java properties parsing and the variables it feeds to templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from connect_operator.properties import (
    jaas_credentials,
    load_variables,
    parse_properties,
    variable_name,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b", {"a": "b"}),
        ("a = b", {"a": "b"}),
        ("a: b", {"a": "b"}),
        ("a b", {"a": "b"}),
        ("a\tb c", {"a": "b c"}),
        ("url=jdbc:mysql://h:3306/db?x=1&y=2", {"url": "jdbc:mysql://h:3306/db?x=1&y=2"}),
        ("token=abc==", {"token": "abc=="}),
        ("# comment\n! other\n\n  a=1", {"a": "1"}),
        ("a=1\\\n    2\\\n  3", {"a": "123"}),
        ("a=ends with backslash\\\\", {"a": "ends with backslash\\"}),
        ("key\\=with\\:seps=v", {"key=with:seps": "v"}),
        ("a=\\u00e9t\\u00e9", {"a": "été"}),
        ("a=tab\\there", {"a": "tab\there"}),
        ("empty", {"empty": ""}),
        ("empty=", {"empty": ""}),
        ("a=1\r\nb=2\rc=3", {"a": "1", "b": "2", "c": "3"}),
        ("a=first\na=second", {"a": "second"}),
        ("  # not a key=value", {}),
        ("a=x # not a comment", {"a": "x # not a comment"}),
    ],
)
def test_properties_parse_like_java(text: str, expected: dict[str, str]) -> None:
    assert parse_properties(text) == expected


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("schema.registry.basic.auth.user.info", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"),
        ("bootstrap-servers", "BOOTSTRAP_SERVERS"),
        ("mixed.Case-key", "MIXED_CASE_KEY"),
        ("1st", "_1ST"),
    ],
)
def test_property_keys_become_upper_case_variable_names(key: str, name: str) -> None:
    assert variable_name(key) == name


@pytest.mark.parametrize(
    ("jaas", "expected"),
    [
        (
            'org.apache.kafka.common.security.plain.PlainLoginModule required username="K" '
            'password="S";',
            {"KAFKA_API_KEY": "K", "KAFKA_API_SECRET": "S"},
        ),
        (
            'x required username="a=b" password="p\\"q";',
            {"KAFKA_API_KEY": "a=b", "KAFKA_API_SECRET": 'p"q'},
        ),
        (
            "x required username=bare password=also;",
            {"KAFKA_API_KEY": "bare", "KAFKA_API_SECRET": "also"},
        ),
        ("x required;", {}),
    ],
)
def test_jaas_config_yields_the_api_key_and_secret(jaas: str, expected: dict[str, str]) -> None:
    assert jaas_credentials(jaas) == expected


def test_every_properties_file_counts_and_dot_directories_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.properties").write_text("x.one=1\n")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "b.properties").write_text("x.two=2=2\n")
    (tmp_path / "..data").mkdir()
    (tmp_path / "..data" / "a.properties").write_text("x.one=shadow\n")
    (tmp_path / "ignored.txt").write_text("x.three=3\n")
    variables = load_variables(tmp_path, {"HOME": "/root"})
    assert dict(variables.values) == {"X_ONE": "1", "X_TWO": "2=2"}
    assert variables.environ["HOME"] == "/root"


def test_kafka_credentials_are_variables_and_environment(tmp_path: Path) -> None:
    (tmp_path / "kafka.properties").write_text(
        'sasl.jaas.config=m required username="KEY" password="SECRET";\n'
    )
    variables = load_variables(tmp_path, {})
    assert variables.values["KAFKA_API_KEY"] == "KEY"
    assert variables.environ["KAFKA_API_SECRET"] == "SECRET"
    assert "SECRET" in variables.secret_strings()


def test_a_missing_config_directory_means_no_variables(tmp_path: Path) -> None:
    assert dict(load_variables(tmp_path / "absent", {}).values) == {}
