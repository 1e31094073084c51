"""Java properties parsing and the variables it feeds to templates."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from connect_operator.errors import VariablesError
from connect_operator.properties import (
    JaasSyntaxError,
    jaas_credentials,
    load_variables,
    parse_properties,
    properties_files,
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
        # Exactly as Confluent Cloud's "Clients" page generates it (Java and the other clients).
        (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            "username='ABCDEFGH12345678' password='aB3+/cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ5aB6';",
            {
                "KAFKA_API_KEY": "ABCDEFGH12345678",
                "KAFKA_API_SECRET": "aB3+/cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ5aB6",
            },
        ),
        # ... and as its older templates wrote it, with runs of spaces.
        (
            "org.apache.kafka.common.security.plain.PlainLoginModule   required "
            "username='KEY1'   password='SECRET1';",
            {"KAFKA_API_KEY": "KEY1", "KAFKA_API_SECRET": "SECRET1"},
        ),
        # One quote kind inside the other, escapes, `;` and `=` inside quotes, comments.
        (
            'm required username="it\'s" password=\'say "hi";=\' /* note */ other=x // tail\n;',
            {"KAFKA_API_KEY": "it's", "KAFKA_API_SECRET": 'say "hi";='},
        ),
        (
            "m required username='a\\\\b' password='\\t\\101';",
            {
                "KAFKA_API_KEY": "a\\b",
                "KAFKA_API_SECRET": "\tA",
            },
        ),
        # The first entry that names them wins, as for a single SASL login context.
        (
            "a required username='one' password='1'; b required username='two' password='2';",
            {"KAFKA_API_KEY": "one", "KAFKA_API_SECRET": "1"},
        ),
    ],
)
def test_jaas_config_yields_the_api_key_and_secret(jaas: str, expected: dict[str, str]) -> None:
    assert jaas_credentials(jaas) == expected


@pytest.mark.parametrize(
    "jaas",
    [
        "m required username='K' password='S'",  # no terminating `;`
        "m username='K' password='S';",  # no control flag
        "m mandatory username='K';",  # not a control flag
        "m required username= ;",  # no value
        "m required username 'K';",  # no `=`
        "",
    ],
)
def test_jaas_config_that_kafka_refuses_is_an_error(jaas: str) -> None:
    with pytest.raises(JaasSyntaxError):
        jaas_credentials(jaas)


def test_single_quoted_cloud_credentials_become_variables_without_quotes(tmp_path: Path) -> None:
    (tmp_path / "kafka.properties").write_text(
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        "username='CCKEY' password='CC/SECRET+1';\n"
    )
    variables = load_variables(tmp_path, {})
    assert variables.values["KAFKA_API_KEY"] == "CCKEY"
    assert variables.environ["KAFKA_API_SECRET"] == "CC/SECRET+1"


def test_an_invalid_jaas_value_defines_no_credentials_and_logs_no_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "kafka.properties").write_text(
        "sasl.jaas.config=m required username='KEY-x' password='SECRET-x'\n"
    )
    variables = load_variables(tmp_path, {})
    assert "KAFKA_API_KEY" not in variables.values
    assert "KAFKA_API_SECRET" not in variables.environ
    assert "not valid JAAS" in caplog.text and "kafka.properties" in caplog.text
    assert "SECRET-x" not in caplog.text and "KEY-x" not in caplog.text


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


def _mount_like_kubernetes(config: Path, files: dict[str, str], stamp: str) -> None:
    """The layout kubelet writes for a ConfigMap/Secret/projected volume: files in a timestamped
    folder, `..data` linking to it, and each top-level name linking through `..data`."""
    timestamped = config / stamp
    for relative, text in files.items():
        target = timestamped / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    (config / "..data").symlink_to(stamp)
    for top in sorted({relative.split("/")[0] for relative in files}):
        (config / top).symlink_to(f"..data/{top}")


def test_a_projected_volume_is_read_through_its_symlinks_each_file_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    _mount_like_kubernetes(
        config,
        {"kafka.properties": "bootstrap.servers=b:9092\n", "team/orders.properties": "topic=t\n"},
        "..2026_11_29_10_00_00.123456789",
    )
    # an older copy kubelet has not cleaned up yet must not be read
    (config / "..2026_11_28_09_00_00.1").mkdir()
    (config / "..2026_11_28_09_00_00.1" / "kafka.properties").write_text("stale=1\n")
    with caplog.at_level(logging.WARNING):
        variables = load_variables(config, {})
    assert dict(variables.values) == {"BOOTSTRAP_SERVERS": "b:9092", "TOPIC": "t"}
    assert "overrides" not in caplog.text  # nothing was read twice
    assert variables.origins["TOPIC"] == str(config / "team" / "orders.properties")


def test_a_link_loop_is_walked_once(tmp_path: Path) -> None:
    (tmp_path / "a.properties").write_text("x=1\n")
    (tmp_path / "loop").symlink_to(".")
    assert properties_files(tmp_path) == [tmp_path / "a.properties"]


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_key(tmp_path: Path) -> None:
    (tmp_path / "bom.properties").write_bytes("\ufefffirst.key=1\nsecond=2\n".encode())
    assert dict(load_variables(tmp_path, {}).values) == {"FIRST_KEY": "1", "SECOND": "2"}


def test_an_invalid_unicode_escape_is_reported_with_its_file_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "good.properties").write_text("fine=1\n")
    (tmp_path / "bad.properties").write_text("# comment\nok=1\nsecret=CANARY-\\u12G4\n")
    with caplog.at_level(logging.ERROR):
        variables = load_variables(tmp_path, {})
    assert dict(variables.values) == {"FINE": "1"}
    assert f"{tmp_path / 'bad.properties'}: line 3: malformed \\uxxxx escape" in caplog.text
    assert "CANARY" not in caplog.text
    with pytest.raises(VariablesError, match="line 2"):
        parse_properties("a=1\nb=\\u00\n")
