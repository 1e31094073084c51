"""Java properties parsing and the variables it feeds to templates."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from connect_operator.errors import VariablesError
from connect_operator.properties import (
    Variables,
    load_variables,
    parse_properties,
    properties_files,
    variable_name,
)

PARSE_CASES = [
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
    ("Xkey=Xvalue", {"Xkey": "Xvalue"}),
    ("a Xb", {"a": "Xb"}),
    # only space, tab and form feed are whitespace: not a no-break space
    ("\u00a0key = \u00a0value", {"\u00a0key": "\u00a0value"}),
    ("a \u00a0b", {"a": "\u00a0b"}),
    ("a=1\\\n\u00a0X2", {"a": "1\u00a0X2"}),
    ("a=1\\\n\t X2", {"a": "1X2"}),
    # three backslashes: an escaped one, then a continuation
    ("a=x\\\\\\\n  y", {"a": "x\\y"}),
    ("a=1\\", {"a": "1"}),
    ("a=1\\\n", {"a": "1"}),
    ("=v", {"": "v"}),
    (":v", {"": "v"}),
    ("key\\:=v", {"key:": "v"}),
    ("my\\ key=v", {"my key": "v"}),
    ("a=\\u00E9\\u00e9", {"a": "éé"}),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
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


def test_single_quoted_cloud_credentials_become_variables_without_quotes(tmp_path: Path) -> None:
    (tmp_path / "kafka.properties").write_text(
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        "username='CCKEY' password='CC/SECRET+1';\n"
    )
    variables = load_variables(tmp_path, {})
    assert variables.values["KAFKA_API_KEY"] == "CCKEY"
    assert variables.environ["KAFKA_API_SECRET"] == "CC/SECRET+1"


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


def test_an_unreadable_file_is_skipped_with_a_warning_and_the_others_are_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    unreadable = tmp_path / "a.properties"
    unreadable.write_text("first=1\n")
    (tmp_path / "b.properties").write_text("second=2\n")
    read_bytes = Path.read_bytes

    def refuse_one(path: Path) -> bytes:
        if path == unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refuse_one)
    with caplog.at_level(logging.WARNING):
        variables = load_variables(tmp_path, {})
    assert dict(variables.values) == {"SECOND": "2"}
    assert caplog.messages == [f"cannot read variables file {unreadable}: Permission denied"]


def test_a_file_that_is_not_utf8_is_read_as_latin1_as_java_reads_it(tmp_path: Path) -> None:
    (tmp_path / "legacy.properties").write_bytes("name=Zürich café\n".encode("latin-1"))
    assert load_variables(tmp_path, {}).values["NAME"] == "Zürich café"


def test_an_invalid_unicode_escape_message_says_what_happened_to_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "bad.properties"
    bad.write_text("a=1\nb=\\uZZZZ\n")
    with caplog.at_level(logging.ERROR):
        load_variables(tmp_path, {})
    assert caplog.messages == [
        f"variables file {bad}: line 2: malformed \\uxxxx escape (four hex digits must follow "
        "\\u); none of its variables are defined"
    ]


def test_a_folder_linked_into_itself_twice_is_walked_once(tmp_path: Path) -> None:
    # Without remembering the folders walked, each level would double the paths to walk.
    (tmp_path / "a.properties").write_text("x=1\n")
    (tmp_path / "loop1").symlink_to(".")
    (tmp_path / "loop2").symlink_to(".")
    assert properties_files(tmp_path) == [tmp_path / "a.properties"]


def test_the_walk_goes_on_past_a_link_loop_and_past_other_files(tmp_path: Path) -> None:
    (tmp_path / "a-loop").symlink_to(".")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "a-notes.txt").write_text("not=read\n")
    (tmp_path / "b" / "b.properties").write_text("y=2\n")
    (tmp_path / "b" / ".hidden.properties").write_text("z=3\n")
    assert properties_files(tmp_path) == [tmp_path / "b" / "b.properties"]


def test_secret_strings_are_the_credential_variables_and_every_environment_value() -> None:
    variables = Variables(
        values={"DB_PASSWORD": "pw-from-file", "TOPIC_PREFIX": "orders", "EMPTY_SECRET": ""},
        environ={"TEAM": "team-from-env"},
    )
    assert variables.secret_strings() == {"pw-from-file", "team-from-env"}
