"""Validation before apply, and rejected configs that are not re-sent on every run, through the
whole reconcile against the stateful fake Connect on an injected clock."""

from __future__ import annotations

import json
import logging

import pytest

from connect_operator.rejections import mask_values, rejection_key
from tests.support.fake_connect import FakeConnect
from tests.unit.conftest import connector_json
from tests.unit.test_restarts import TARGET, Harness, configmap

VALIDATE = "/connector-plugins/FileStreamSink/config/validate"
# The client's documented back-off after each of its ten tries but the last (README).
RETRY_SCHEDULE = [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0]


@pytest.fixture
def harness(fake_connect: FakeConnect, base_env: dict[str, str]) -> Harness:
    return Harness(fake_connect, {**base_env, "CONNECT_URL": fake_connect.url})


def declare(harness: Harness, **config: object) -> None:
    harness.store.put(configmap("sinks", {"sink.json": connector_json("sink", **config)}))


def calls(fake: FakeConnect) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests]


def rejection(harness: Harness) -> dict[str, object] | None:
    key = rejection_key(TARGET, "sink")
    for (kind, _, _), obj in harness.store.objects.items():
        if kind == "ConfigMap" and key in (obj.get("data") or {}):
            return dict(json.loads(obj["data"][key]))
    return None


def test_a_config_that_fails_validation_is_not_written_and_names_the_field(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    declare(harness, **{"tasks.max": "many-CANARY-SECRET-9b2c"})
    with caplog.at_level(logging.INFO):
        report = harness.run()
    assert calls(harness.fake) == [
        ("GET", "/connectors"),
        ("PUT", VALIDATE),
        ("GET", "/connector-plugins"),
    ]
    assert harness.fake.connectors == {}
    (outcome,) = report.outcomes
    assert outcome.result.value == "failed"
    assert "tasks.max: Invalid value **** for configuration tasks.max" in outcome.message
    assert "nothing was written" in outcome.message
    assert "many-" not in outcome.message and "many-" not in caplog.text
    assert any(
        "connector sink has failed to be created" in r.getMessage()
        and "tasks.max" in r.getMessage()
        for r in caplog.records
    )
    assert rejection(harness) is not None and "many" not in json.dumps(harness.patch)


def test_a_rejected_config_is_not_sent_again_on_an_unchanged_run(harness: Harness) -> None:
    declare(harness, **{"tasks.max": "x"})
    harness.run()
    harness.fake.requests.clear()
    harness.now += 60
    report = harness.run()
    assert calls(harness.fake) == [("GET", "/connectors"), ("GET", "/connector-plugins")]
    assert report.outcomes[0].result.value == "failed"
    assert "not re-sent until its declaration" in report.outcomes[0].message
    assert report.targets[0].held_back == {"sink"}
    assert harness.patch == []  # nothing changed in the bookkeeping either


def test_a_changed_declaration_is_validated_and_sent_again(harness: Harness) -> None:
    declare(harness, **{"tasks.max": "x"})
    harness.run()
    declare(harness, **{"tasks.max": "1"})
    harness.fake.requests.clear()
    harness.run()
    assert ("PUT", VALIDATE) in calls(harness.fake)
    assert "sink" in harness.fake.connectors
    assert rejection(harness) is None  # written: forgotten


def test_a_change_of_the_targets_plugins_sends_it_again(harness: Harness) -> None:
    declare(harness, **{"tasks.max": "x"})
    harness.run()
    harness.fake.plugins.add("com.example.NewSinkConnector")
    harness.fake.requests.clear()
    harness.run()
    assert ("PUT", VALIDATE) in calls(harness.fake)


def test_an_unchanged_rejected_config_is_sent_again_after_a_growing_back_off(
    harness: Harness,
) -> None:
    declare(harness, **{"tasks.max": "x"})
    start = harness.now
    harness.run()
    sent = []
    for minutes in range(1, 40):
        harness.now = start + minutes * 60
        harness.fake.requests.clear()
        harness.run()
        if ("PUT", VALIDATE) in calls(harness.fake):
            sent.append(minutes)
    assert sent == [10, 30]  # 10 minutes, then 20 more
    remembered = rejection(harness)
    assert remembered is not None
    assert (remembered["s"], remembered["a"]) == (int(start + 30 * 60), 3)


def test_a_400_from_the_config_put_is_remembered_like_a_failed_validation(
    harness: Harness,
) -> None:
    declare(harness)
    harness.fake.fail_next("PUT", "/connectors/sink/config", (400, "Connector config rejected"))
    report = harness.run()
    assert report.outcomes[0].result.value == "failed"
    harness.fake.requests.clear()
    harness.run()
    assert [c for c in calls(harness.fake) if c[0] == "PUT"] == []


def test_a_temporary_failure_is_not_remembered_as_a_rejection(harness: Harness) -> None:
    # An hour of deadline, so that the client's ten tries end it, not the run deadline.
    harness.env["CONNECT_OPERATOR_RUN_DEADLINE"] = "3600"
    declare(harness)
    harness.fake.fail_next("PUT", "/connectors/sink/config", *[(503, "unavailable")] * 10)
    report = harness.run()
    assert calls(harness.fake).count(("PUT", "/connectors/sink/config")) == 10
    assert harness.clock.sleeps == pytest.approx(RETRY_SCHEDULE)  # waited on the fake clock
    assert report.outcomes[0].result.value == "failed"
    assert rejection(harness) is None
    # Not held back: the next run sends it again, and it is created.
    harness.fake.requests.clear()
    harness.run()
    assert ("PUT", "/connectors/sink/config") in calls(harness.fake)
    assert "sink" in harness.fake.connectors


def test_a_valid_config_is_validated_once_and_created(harness: Harness) -> None:
    declare(harness)
    harness.run()
    assert calls(harness.fake) == [
        ("GET", "/connectors"),
        ("PUT", VALIDATE),
        ("PUT", "/connectors/sink/config"),
    ]
    harness.fake.requests.clear()
    harness.run()
    assert calls(harness.fake) == [("GET", "/connectors")]


@pytest.mark.parametrize(
    ("message", "config", "field", "expected"),
    [
        (
            "Invalid value abc for configuration tasks.max",
            {"tasks.max": "abc"},
            "tasks.max",
            "Invalid value **** for configuration tasks.max",
        ),
        # a short value is masked as a whole word only, so ordinary words survive
        (
            "Invalid value t for topics: use one of topics",
            {"topics": "t", "x": "of"},
            "topics",
            "Invalid value **** for topics: use one of topics",
        ),
        (
            "cannot reach jdbc:mysql://db/s3cr3t",
            {"connection.url": "jdbc:mysql://db/s3cr3t"},
            "other",
            "cannot reach ****",
        ),
    ],
)
def test_validation_messages_mask_the_configs_values(
    message: str, config: dict[str, str], field: str, expected: str
) -> None:
    assert mask_values(message, config, field) == expected
