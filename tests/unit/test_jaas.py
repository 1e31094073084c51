"""`sasl.jaas.config` read as Kafka reads it (`org.apache.kafka.common.security.JaasConfig`,
a `java.io.StreamTokenizer`, and `JaasContext`, which gives a client exactly one login module).

The cases are real-world values (Confluent Cloud's generated client configuration, PLAIN,
SCRAM, OAUTHBEARER with its extensions) and the tokenizer's rules one by one, each with what
Kafka makes of it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from connect_operator.properties import (
    JaasSyntaxError,
    jaas_credentials,
    load_variables,
    parse_jaas_config,
)

PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
OAUTH = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"

Entry = tuple[str, str, dict[str, str]]

ACCEPTED: dict[str, tuple[str, list[Entry]]] = {
    # --- real-world values -------------------------------------------------------------------
    "Confluent Cloud's generated client configuration (single quotes)": (
        f"{PLAIN} required username='ABCDEFGH12345678' "
        "password='aB3+/cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ5aB6';",
        [
            (
                PLAIN,
                "required",
                {
                    "username": "ABCDEFGH12345678",
                    "password": "aB3+/cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ5aB6",
                },
            )
        ],
    ),
    "PLAIN in double quotes, as Kafka's documentation writes it": (
        f'{PLAIN} required username="alice" password="alice-secret";',
        [(PLAIN, "required", {"username": "alice", "password": "alice-secret"})],
    ),
    "SCRAM with a token flag": (
        f'{SCRAM} required username="alice" password="alice-secret" tokenauth="true";',
        [
            (
                SCRAM,
                "required",
                {"username": "alice", "password": "alice-secret", "tokenauth": "true"},
            )
        ],
    ),
    "OAUTHBEARER against Confluent Cloud, one option per line": (
        f"{OAUTH} required\n"
        "    clientId='0oa1b2c3d4'\n"
        "    clientSecret='s3cr3t/with+slash'\n"
        "    scope='api://lkc-123/.default'\n"
        "    extension_logicalCluster='lkc-123'\n"
        "    extension_identityPoolId='pool-AbCd';\n",
        [
            (
                OAUTH,
                "required",
                {
                    "clientId": "0oa1b2c3d4",
                    "clientSecret": "s3cr3t/with+slash",
                    "scope": "api://lkc-123/.default",
                    "extension_logicalCluster": "lkc-123",
                    "extension_identityPoolId": "pool-AbCd",
                },
            )
        ],
    ),
    "an unsecured OAUTHBEARER login, as Kafka's documentation writes it": (
        f'{OAUTH} required unsecuredLoginStringClaim_sub="admin" '
        "unsecuredLoginLifetimeSeconds='3600';",
        [
            (
                OAUTH,
                "required",
                {"unsecuredLoginStringClaim_sub": "admin", "unsecuredLoginLifetimeSeconds": "3600"},
            )
        ],
    ),
    "an entry with no options": ("m required;", [("m", "required", {})]),
    "two entries (JaasConfig parses both)": (
        "a required username='one'; b optional;",
        [("a", "required", {"username": "one"}), ("b", "optional", {})],
    ),
    # --- control flags -----------------------------------------------------------------------
    "each control flag, in any case, even quoted": (
        "a REQUIRED; b Requisite; c sufficient; d optional; e 'required';",
        [
            ("a", "REQUIRED", {}),
            ("b", "Requisite", {}),
            ("c", "sufficient", {}),
            ("d", "optional", {}),
            ("e", "required", {}),
        ],
    ),
    # --- whitespace: bytes 0 to 32 -----------------------------------------------------------
    "runs of spaces, as Confluent's older templates wrote": (
        f"{PLAIN}   required username='KEY1'   password='SECRET1';",
        [(PLAIN, "required", {"username": "KEY1", "password": "SECRET1"})],
    ),
    "tabs, CRLF line ends, control characters and spaces around `=`": (
        "m\trequired\r\n username = 'K'\x00\x1f password\x01=\x0b'S'\r;",
        [("m", "required", {"username": "K", "password": "S"})],
    ),
    "no space at all between tokens": (
        "m required username='K'password='S';x optional;",
        [("m", "required", {"username": "K", "password": "S"}), ("x", "optional", {})],
    ),
    # --- words -------------------------------------------------------------------------------
    "bare words: a letter, `_`, `$` or a character from 160 up, then digits, `.` and `-` too": (
        "m required username=$user_1.name-x password=\xa0\xe9\xff\u20ac\U0001f600 other=Zz9;",
        [
            (
                "m",
                "required",
                {
                    "username": "$user_1.name-x",
                    "password": "\xa0\xe9\xff\u20ac\U0001f600",
                    "other": "Zz9",
                },
            )
        ],
    ),
    "a word ends where a quote starts": (
        "m required username=ab'x'='y';",
        [("m", "required", {"username": "ab", "x": "y"})],
    ),
    # --- quotes --------------------------------------------------------------------------------
    "one quote kind inside the other, and `;`, `=`, `/` and `//` inside quotes": (
        'm required username="it\'s" password=\'say "hi";= // /* x */\';',
        [("m", "required", {"username": "it's", "password": 'say "hi";= // /* x */'})],
    ),
    "an empty quoted value": ("m required password='';", [("m", "required", {"password": ""})]),
    "a quoted option name": ("m required 'username'='K';", [("m", "required", {"username": "K"})]),
    "a quote left open ends at the line end (CR or LF) and the entry goes on": (
        "m required username='K\n password=\"S\r;",
        [("m", "required", {"username": "K", "password": "S"})],
    ),
    # --- escapes inside quotes -----------------------------------------------------------------
    "escaped quotes and backslashes": (
        "m required username=\"p\\\"q\" password='a\\\\b\\'c';",
        [("m", "required", {"username": 'p"q', "password": "a\\b'c"})],
    ),
    "StreamTokenizer's control-character escapes": (
        "m required password='\\a\\b\\f\\n\\r\\t\\v';",
        [("m", "required", {"password": "\a\b\f\n\r\t\v"})],
    ),
    "any other escaped character is itself (no \\u escapes)": (
        "m required password='\\q\\8\\9\\u0041\\ ';",
        [("m", "required", {"password": "q89u0041 "})],
    ),
    "an escaped line break is part of the value": (
        "m required password='a\\\nb';",
        [("m", "required", {"password": "a\nb"})],
    ),
    "octal escapes: up to three digits from 0-3, up to two from 4-7": (
        "m required password='\\101\\0\\012\\77\\377\\3777\\477\\1014\\18\\7';",
        [("m", "required", {"password": "A\x00\n?\xff\xff7'7A4\x018\x07"})],
    ),
    # --- comments ------------------------------------------------------------------------------
    "block comments anywhere between tokens, over lines": (
        "/* lead */ m /* a\n b */ required username=/**/'K' /* between */ password='S' /* x */;",
        [("m", "required", {"username": "K", "password": "S"})],
    ),
    "`/*/` does not end the comment it opens": (
        "m required /*/ username='hidden' */ password='S';",
        [("m", "required", {"password": "S"})],
    ),
    "a block comment after a value holding `*/`": (
        "m required password='a*/b' /* c */ username='K';",
        [("m", "required", {"password": "a*/b", "username": "K"})],
    ),
    "`//` comments to the line end, the last one at the very end": (
        "m required // the flag\n username='K' // key\r password='S'; // done",
        [("m", "required", {"username": "K", "password": "S"})],
    ),
    "a comment ends a word it touches": (
        "m required/* c */username=K//c\n password=S/* c */;",
        [("m", "required", {"username": "K", "password": "S"})],
    ),
    "a lone `/` comments out the rest of its line": (
        "m required / username='hidden'\n password='S';",
        [("m", "required", {"password": "S"})],
    ),
    "a lone `/` at a line end also swallows the line break, so the next line": (
        "m required /\n username='hidden'\n password='S';",
        [("m", "required", {"password": "S"})],
    ),
    "... but only the CR of a CRLF": (
        "m required /\r\n username='K';",
        [("m", "required", {"username": "K"})],
    ),
    # --- options -------------------------------------------------------------------------------
    "the last of a repeated option wins, and names are case-sensitive": (
        "m required username='first' Username='other' username='last';",
        [("m", "required", {"username": "last", "Username": "other"})],
    ),
    "an option named by `=`, a number or an ordinary character is kept under no name": (
        "m required ==x 1=y \x85=z @='w' username='K';",
        [("m", "required", {"username": "K"})],
    ),
}


@pytest.mark.parametrize(("jaas", "entries"), list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_jaas_values_parse_as_kafka_parses_them(jaas: str, entries: list[Entry]) -> None:
    assert parse_jaas_config(jaas) == entries


REFUSED: dict[str, tuple[str, str]] = {
    "no terminating `;`": ("m required username='K' password='S'", "not terminated"),
    "no terminating `;` after a word at the very end": (
        "m required username=K",
        "not terminated",
    ),
    "no terminating `;` after an entry with no options": ("m required", "not terminated"),
    "a quote left open at the very end": ("m required password='S", "not terminated"),
    "a quote left open at the end, in an octal escape": (
        "m required password='\\1",
        "not terminated",
    ),
    "a lone backslash at the very end": ("m required password='S\\", "not terminated"),
    "a `/` in a bare value starts a comment that swallows the `;`": (
        "m required password=abc/def;",
        "not terminated",
    ),
    "a `//` in a bare value does the same": ("m required path=a//b;", "not terminated"),
    "a bare URL": ("m required scope=api://lkc-1/.default;", "an option has no value"),
    "a block comment left open": ("m required username='K' /* ;", "not terminated"),
    "`// */` is a line comment, not the end of a block": (
        "m required // */ ;",
        "not terminated",
    ),
    "a bare number is not a value": ("m required tokenauth=3600;", "an option has no value"),
    "a bare value that starts with a digit": (
        "m required password=1abc;",
        "an option has no value",
    ),
    "a bare value that starts with `.`": ("m required password=.abc;", "an option has no value"),
    "a bare value that starts with `-`": ("m required password=-abc;", "an option has no value"),
    "a bare value with `@` (an e-mail address)": (
        "m required username=alice@example.com;",
        "an option has no value",
    ),
    "a bare value with `!`": ("m required password=abc!def;", "an option has no value"),
    "a bare value with `+`": ("m required password=abc+def;", "an option has no value"),
    "a bare value with `:`": ("m required password=abc:def;", "an option has no value"),
    "a bare value with a character from 127 to 159": (
        "m required password=a\x80b;",
        "an option has no value",
    ),
    "a bare value with a backslash": ("m required password=a\\b;", "an option has no value"),
    "a number for the login module": ("1 required;", "login module not specified"),
    "a number for the control flag": ("m 1;", "control flag not specified"),
    "no control flag": ("m;", "control flag not specified"),
    "nothing after the login module": ("m", "control flag not specified"),
    "a control flag that is `=`": ("m = required;", "control flag not specified"),
    "not a control flag": ("m mandatory username='K';", "invalid login module control flag"),
    "the options come before the control flag": ("m username='K' required;", "invalid"),
    "an option with no `=`": ("m required username 'K';", "an option has no value"),
    "an option with nothing after `=`": ("m required username=;", "an option has no value"),
    "an option name at the very end": ("m required username", "an option has no value"),
    "an option with `=` at the very end": ("m required username=", "an option has no value"),
    "an option whose value is `=`": ("m required username==;", "an option has no value"),
    "an option whose value is an ordinary character": (
        "m required username=\x85;",
        "an option has no value",
    ),
    "no login module": ("; required;", "login module not specified"),
    "an empty login module": ("'' required username='K';", "login module not specified"),
    "an empty value": ("", "no login module specified"),
    "only whitespace and comments": (" \n\t/* nothing */ // here", "no login module specified"),
}


@pytest.mark.parametrize(("jaas", "reason"), list(REFUSED.values()), ids=list(REFUSED))
def test_jaas_values_that_kafka_refuses_are_errors_that_say_why(jaas: str, reason: str) -> None:
    with pytest.raises(JaasSyntaxError, match=reason):
        parse_jaas_config(jaas)


def test_every_refusal_names_what_is_missing_in_a_sentence() -> None:
    messages = set()
    for jaas, _ in REFUSED.values():
        with pytest.raises(JaasSyntaxError) as refused:
            parse_jaas_config(jaas)
        messages.add(str(refused.value))
    assert messages == {
        "entry not terminated by a semicolon",
        "login module control flag not specified",
        "invalid login module control flag",
        "an option has no value",
        "login module not specified",
        "no login module specified",
    }


@pytest.mark.parametrize(
    ("jaas", "expected"),
    [
        (
            f"{PLAIN} required username='CCKEY' password='CC/SECRET+1';",
            {"KAFKA_API_KEY": "CCKEY", "KAFKA_API_SECRET": "CC/SECRET+1"},
        ),
        (f"{OAUTH} required clientId='id' clientSecret='s';", {}),
        ("m required username='only-the-key';", {"KAFKA_API_KEY": "only-the-key"}),
        ("m required password='only-the-secret';", {"KAFKA_API_SECRET": "only-the-secret"}),
        ("m required Username='K' PASSWORD='S';", {}),
    ],
)
def test_the_api_key_and_secret_are_the_username_and_password(
    jaas: str, expected: dict[str, str]
) -> None:
    assert jaas_credentials(jaas) == expected


def test_a_value_with_two_login_modules_gives_no_credentials_as_a_kafka_client_refuses_it() -> None:
    jaas = "a required username='one' password='1'; b required username='two' password='2';"
    assert len(parse_jaas_config(jaas)) == 2
    with pytest.raises(JaasSyntaxError) as refused:
        jaas_credentials(jaas)
    assert str(refused.value) == "2 login module entries, a client takes exactly one"


@pytest.mark.parametrize(
    ("jaas", "reason"),
    [
        (
            "m required username='CANARY-KEY' password='CANARY-SECRET'",
            "entry not terminated by a semicolon",
        ),
        ("m required 'CANARY-SECRET';", "an option has no value"),
        ("m CANARY-SECRET username='CANARY-KEY';", "invalid login module control flag"),
        (
            "a required username='CANARY-KEY'; b required password='CANARY-SECRET';",
            "2 login module entries, a client takes exactly one",
        ),
    ],
)
def test_a_refused_value_is_logged_with_its_file_key_and_reason_but_no_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, jaas: str, reason: str
) -> None:
    path = tmp_path / "kafka.properties"
    path.write_text(f"bootstrap.servers=b:9092\nsasl.jaas.config={jaas}\n")
    with caplog.at_level(logging.WARNING):
        variables = load_variables(tmp_path, {})
    assert "KAFKA_API_KEY" not in variables.values and "KAFKA_API_SECRET" not in variables.values
    assert "KAFKA_API_KEY" not in variables.environ
    assert variables.values["BOOTSTRAP_SERVERS"] == "b:9092"
    (message,) = caplog.messages
    assert message == (
        f"sasl.jaas.config in {path} is not valid JAAS ({reason}): "
        "KAFKA_API_KEY and KAFKA_API_SECRET are not defined"
    )
    assert "CANARY" not in caplog.text


def test_credentials_come_from_the_properties_file_after_its_own_escapes(tmp_path: Path) -> None:
    # The file is unescaped first (`\\` is one backslash, `\u0041` is A, `\` at a line end
    # continues it), then the JAAS value (`\"` is a quote).
    (tmp_path / "kafka.properties").write_text(
        'sasl.jaas.config=m required \\\n    username=\'\\u0041PI\' \\\n    password="p\\\\"q";\n'
    )
    variables = load_variables(tmp_path, {"OTHER": "x"})
    assert variables.values["KAFKA_API_KEY"] == "API"
    assert variables.values["KAFKA_API_SECRET"] == 'p"q'
    assert variables.environ == {"OTHER": "x", "KAFKA_API_KEY": "API", "KAFKA_API_SECRET": 'p"q'}
    where = f"{tmp_path / 'kafka.properties'} (sasl.jaas.config)"
    assert variables.origins["KAFKA_API_KEY"] == where
    assert variables.origins["KAFKA_API_SECRET"] == where
