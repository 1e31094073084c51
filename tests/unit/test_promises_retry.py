"""The README's retry promises, on a fake clock: the exact back-off schedule, the number of
tries, and that no wait ever passes the run deadline. Nothing here really sleeps."""

from __future__ import annotations

import logging

import pytest
import requests
import responses
from responses.registries import OrderedRegistry

from connect_operator.connect_client import ConnectClient, Deadline, RetryPolicy
from connect_operator.errors import ConnectServerError, ConnectUnavailable, DeadlineExceeded
from tests.support.fake_clock import FakeClock
from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import ShellOperator
from tests.unit.conftest import connector_json

URL = "http://connect:8083"
REBALANCING = {"error_code": 409, "message": "Cannot complete request momentarily due to rebalance"}
# README: "backoff from 200 ms, doubling, each wait at most 5 s, up to 10 tries".
SCHEDULE = [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0]


def clocked_client(clock: FakeClock, deadline: float = 3600.0) -> ConnectClient:
    return ConnectClient(URL, deadline=Deadline(deadline, clock.monotonic), sleep=clock.sleep)


@responses.activate(registry=OrderedRegistry, assert_all_requests_are_fired=True)
def test_a_rebalance_that_never_ends_is_tried_ten_times_on_the_documented_schedule() -> None:
    for _ in range(10):
        responses.put(f"{URL}/connectors/a/config", status=409, json=REBALANCING)
    clock = FakeClock()
    started = clock.now
    with pytest.raises(ConnectServerError) as caught:
        clocked_client(clock).put_connector_config("a", {"connector.class": "X"})
    assert caught.value.status == 409
    assert len(responses.calls) == 10
    assert clock.sleeps == pytest.approx(SCHEDULE)
    # The retries ended it, not the deadline: an hour was available, 26.2 s were used.
    assert clock.now - started == pytest.approx(sum(SCHEDULE))


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (409, "stale configuration"),
        (500, "Request cannot be completed because a rebalance is expected"),
        (500, "IO Error trying to forward REST request: java.net.ConnectException"),
        (502, "bad gateway"),
        (503, "unavailable"),
        (504, "gateway timeout"),
    ],
)
@responses.activate(registry=OrderedRegistry, assert_all_requests_are_fired=True)
def test_each_passing_failure_waits_the_first_steps_of_the_schedule_then_succeeds(
    status: int, message: str
) -> None:
    for _ in range(3):
        responses.get(f"{URL}/connectors", status=status, json={"message": message})
    responses.get(f"{URL}/connectors", json={})
    clock = FakeClock()
    assert clocked_client(clock).list_connectors_expanded() == {}
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.8])


@responses.activate
def test_connection_failures_are_tried_three_times_with_back_off_in_between() -> None:
    responses.get(f"{URL}/connectors", body=requests.ConnectionError("Connection refused"))
    clock = FakeClock()
    with pytest.raises(ConnectUnavailable):
        clocked_client(clock).list_connectors_expanded()
    assert len(responses.calls) == 3
    assert clock.sleeps == pytest.approx([0.2, 0.4])


@responses.activate(registry=OrderedRegistry)
def test_no_retry_wait_passes_the_run_deadline() -> None:
    for _ in range(10):
        responses.put(f"{URL}/connectors/a/config", status=503, json={"message": "busy"})
    clock = FakeClock()
    ends_at = clock.now + 1.0
    with pytest.raises(DeadlineExceeded) as caught:
        clocked_client(clock, deadline=1.0).put_connector_config("a", {})
    assert str(caught.value) == "run deadline passed before PUT /connectors/a/config"
    # 0.2 and 0.4 fit; the next step (0.8) is cut to the 0.4 s left, and then no request goes.
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.4])
    assert clock.now <= ends_at + 1e-9
    assert len(responses.calls) == 3


@responses.activate(registry=OrderedRegistry)
def test_connection_retries_stop_at_the_run_deadline_too() -> None:
    responses.get(f"{URL}/connectors", body=requests.ConnectionError("Connection refused"))
    clock = FakeClock()
    ends_at = clock.now + 0.3
    with pytest.raises((ConnectUnavailable, DeadlineExceeded)):
        clocked_client(clock, deadline=0.3).list_connectors_expanded()
    assert clock.sleeps == pytest.approx([0.2, 0.1])
    assert clock.now <= ends_at + 1e-9


@responses.activate(registry=OrderedRegistry, assert_all_requests_are_fired=True)
def test_a_retry_after_that_fits_is_waited_exactly_and_one_that_does_not_is_never_slept() -> None:
    responses.get(f"{URL}/connectors", status=429, headers={"Retry-After": "4"})
    responses.get(f"{URL}/connectors", status=429, headers={"Retry-After": "9"})
    clock = FakeClock()
    with pytest.raises(ConnectServerError) as caught:
        clocked_client(clock, deadline=10.0).list_connectors_expanded()
    assert str(caught.value) == (
        "GET /connectors -> 429: rate limited: retry after 9s does not fit in the run deadline"
    )
    # 4 s fit in 10 s; 9 s do not fit in the 6 s left, so the client gives up at once.
    assert clock.sleeps == [4.0]


def test_the_back_off_policy_doubles_from_200_ms_and_is_capped_at_5_s() -> None:
    policy = RetryPolicy()
    assert [policy.delay(attempt) for attempt in range(1, 11)] == pytest.approx([*SCHEDULE, 5.0])
    assert policy.attempts == 10
    assert policy.connection_attempts == 3


def test_a_share_of_the_deadline_never_ends_after_the_deadline() -> None:
    clock = FakeClock()
    deadline = Deadline(10.0, clock.monotonic)
    assert deadline.share(30.0).remaining() == pytest.approx(10.0)
    assert deadline.share(4.0).remaining() == pytest.approx(4.0)
    clock.sleep(10.5)
    assert deadline.remaining() == 0.0
    assert deadline.expired()
    assert deadline.share(4.0).remaining() == 0.0


def test_a_whole_run_against_a_connect_that_keeps_failing_waits_only_within_its_deadline(
    fake_connect: FakeConnect, base_env: dict[str, str]
) -> None:
    operator = ShellOperator(
        env={**base_env, "CONNECT_URL": fake_connect.url, "CONNECT_OPERATOR_RUN_DEADLINE": "3"},
        in_process=True,
    )
    operator.put_configmap("a", {"a.json": connector_json("a")})
    fake_connect.fail_next("GET", "/connectors", *[(503, "unavailable")] * 20)
    started = operator.clock.now

    run = operator.run()

    assert run.returncode == 0  # a finished run: the outage is in the metrics, retried soon
    assert operator.metric("connect_operator_target_up", target="self-managed") == 0
    # The schedule, cut at the 3 s deadline: 0.2 + 0.4 + 0.8 + 1.6 would be 3.0 s.
    assert operator.clock.sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6])
    assert operator.clock.now - started <= 3.0 + 1e-9
    assert [r.method for r in fake_connect.requests] == ["GET"] * 4


@responses.activate(registry=OrderedRegistry, assert_all_requests_are_fired=True)
def test_a_retry_after_of_zero_retries_at_once_and_an_unreadable_one_backs_off() -> None:
    responses.get(f"{URL}/connectors", status=429, headers={"Retry-After": "0"})
    responses.get(f"{URL}/connectors", status=429, headers={"Retry-After": "soon"})
    responses.get(f"{URL}/connectors", json={})
    clock = FakeClock()
    client = clocked_client(clock)
    assert client.list_connectors_expanded() == {}
    assert clock.sleeps == pytest.approx([0.4])  # nothing for 0; the second step for "soon"
    assert client.requests_sent == 3  # every try counts


def test_a_deadline_is_not_expired_while_time_is_left() -> None:
    clock = FakeClock()
    deadline = Deadline(1.0, clock.monotonic)
    clock.sleep(0.5)
    assert not deadline.expired()
    assert deadline.remaining() == pytest.approx(0.5)


@responses.activate(registry=OrderedRegistry, assert_all_requests_are_fired=True)
def test_each_retry_is_logged_with_its_wait_and_its_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    responses.put(f"{URL}/connectors/a/config", status=409, json=REBALANCING)
    responses.put(f"{URL}/connectors/a/config", status=429, headers={"Retry-After": "2"})
    responses.put(f"{URL}/connectors/a/config", status=201, json={})
    with caplog.at_level(logging.DEBUG, logger="connect_operator"):
        clocked_client(FakeClock()).put_connector_config("a", {"connector.class": "X"})
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "DEBUG",
            "retrying in 0.2s after PUT /connectors/a/config -> 409: Cannot complete request"
            " momentarily due to rebalance",
        ),
        ("INFO", "PUT /connectors/a/config: rate limited, retrying in 2.0s"),
    ]


@responses.activate
def test_every_request_asks_for_json_and_accepts_compressed_answers() -> None:
    responses.get(f"{URL}/connectors", json={})
    clocked_client(FakeClock()).list_connectors_expanded()
    headers = responses.calls[0].request.headers
    assert headers["Accept"] == "application/json"
    assert headers["Accept-Encoding"] == "gzip, deflate"


@responses.activate(registry=OrderedRegistry)
def test_an_answer_that_arrives_at_the_deadline_is_followed_by_no_wait() -> None:
    clock = FakeClock()

    def slow_503(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        clock.sleep(1.0)  # the server took the whole deadline to say no
        return 503, {}, '{"message": "busy"}'

    responses.add_callback(responses.GET, f"{URL}/connectors", callback=slow_503)
    with pytest.raises(DeadlineExceeded):
        clocked_client(clock, deadline=1.0).list_connectors_expanded()
    assert clock.sleeps == [1.0]  # the server's own time, and no wait of ours after it


@responses.activate(registry=OrderedRegistry, assert_all_requests_are_fired=True)
def test_a_retry_after_a_connection_failure_is_logged_with_the_request_and_the_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    responses.get(f"{URL}/connectors", body=requests.ConnectionError("Connection refused"))
    responses.get(f"{URL}/connectors", body=requests.ReadTimeout("read timed out"))
    responses.get(f"{URL}/connectors", json={})
    with caplog.at_level(logging.DEBUG, logger="connect_operator"):
        clocked_client(FakeClock()).list_connectors_expanded()
    assert [r.getMessage() for r in caplog.records] == [
        "retrying in 0.2s after GET /connectors: connection refused",
        "retrying in 0.4s after GET /connectors: timed out",
    ]
