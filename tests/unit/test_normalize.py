"""Normalisation and the decision whether a connector needs an update."""

from __future__ import annotations

import pytest

from connect_operator.normalize import (
    CONFLUENT_CLOUD_ADDED_KEYS,
    changed_keys,
    is_masked,
    normalise,
)

H1, H2 = "sha256:1", "sha256:2"


def test_normalise_drops_server_keys_and_stringifies() -> None:
    assert normalise(
        {"name": "x", "__internal.config.version": "1", "tasks.max": 1, "b": True, "s": "v"}
    ) == {"tasks.max": "1", "b": "true", "s": "v"}


@pytest.mark.parametrize(
    ("desired", "actual", "last_hash", "rewrites", "expected"),
    [
        # numbers against strings: the fault of the original operator
        ({"tasks.max": "1"}, {"tasks.max": "1", "name": "c"}, None, False, ()),
        ({"a": "1"}, {"a": "2"}, H1, False, ("a",)),
        ({"a": "1", "b": "2"}, {"a": "1"}, H1, False, ("b",)),
        # self-managed: a key only the server has means it must go
        ({"a": "1"}, {"a": "1", "b": "2"}, H1, False, ("b",)),
        ({"a": "1"}, {"a": "1", "__internal.x": "2"}, None, False, ()),
        # masked values: compared through the ledger hash
        ({"p": "secret"}, {"p": "****"}, H1, True, ()),
        ({"p": "secret"}, {"p": "****"}, H2, True, ("p",)),
        ({"p": "secret"}, {"p": "****"}, None, True, ("p",)),
        # server-added defaults on Confluent Cloud
        ({"a": "1"}, {"a": "1", "kafka.auth.mode": "KEY"}, H1, True, ()),
        ({"a": "1"}, {"a": "1", "kafka.auth.mode": "KEY"}, H2, True, ("kafka.auth.mode",)),
        # keys Confluent Cloud always adds never drift, even when the desired config changed
        (
            {"a": "1"},
            {
                "a": "1",
                "cloud.environment": "prod",
                "cloud.provider": "aws",
                "kafka.endpoint": "SASL_SSL://pkc-x.us-west-2.aws.confluent.cloud:9092",
                "kafka.region": "us-west-2",
                "config.internal.x": "y",
            },
            H2,
            True,
            (),
        ),
        # ... but on self-managed Connect they are keys like any other
        ({"a": "1"}, {"a": "1", "kafka.region": "r"}, H1, False, ("kafka.region",)),
        # a key the user declares is compared, even one the server could add
        ({"kafka.region": "eu"}, {"kafka.region": "us"}, H1, True, ("kafka.region",)),
        # any run of two or more `*` is a masked value
        ({"p": "secret"}, {"p": "**"}, H1, True, ()),
        ({"p": "secret"}, {"p": "*"}, H1, True, ("p",)),
    ],
)
def test_changed_keys(
    desired: dict[str, str],
    actual: dict[str, str],
    last_hash: str | None,
    rewrites: bool,
    expected: tuple[str, ...],
) -> None:
    assert (
        changed_keys(
            desired,
            actual,
            desired_hash=H1,
            last_applied_hash=last_hash,
            server_rewrites_config=rewrites,
        )
        == expected
    )


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("****************", True),
        ("**", True),
        ("**REDACTED***", True),  # as the Terraform provider reads it: a leading run of 2+
        ("*", False),
        ("a**", False),
        ("", False),
    ],
)
def test_a_masked_value_starts_with_two_or_more_stars(value: str, masked: bool) -> None:
    assert is_masked(value) is masked


def test_the_server_added_keys_are_those_the_terraform_provider_ignores() -> None:
    assert {"cloud.environment", "cloud.provider", "kafka.endpoint", "kafka.region"} <= (
        CONFLUENT_CLOUD_ADDED_KEYS
    )
