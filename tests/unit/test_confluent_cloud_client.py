"""The client against Confluent Cloud's `connect/v1` answers, with `responses`.

Shapes and status codes follow the OpenAPI description (`confluentinc/ccloud-sdk-go-v2`,
`connect/v1/api/openapi.yaml`); time is injected, never waited for.
"""

from __future__ import annotations

import pytest
import responses
from responses import matchers
from responses.registries import OrderedRegistry

from connect_operator.connect_client import ConnectClient, Deadline, RetryPolicy
from connect_operator.errors import (
    ConnectRejected,
    ConnectServerError,
    CredentialsRejected,
    PermanentError,
    TemporaryError,
)
from connect_operator.redaction import Redactor
from connect_operator.targets import TargetKind

URL = "https://api.confluent.cloud/connect/v1/environments/env-1/clusters/lkc-1"
SECRET = "CANARY-CLOUD-SECRET-x1"


class FakeTime:
    """A clock and a sleep that advances it: a back-off schedule is asserted, not slept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def cloud_client(
    time: FakeTime | None = None, deadline: float = 100.0, **kwargs: object
) -> ConnectClient:
    time = time or FakeTime()
    return ConnectClient(
        URL,
        auth=("CLOUDKEY", SECRET),
        kind=TargetKind.CONFLUENT_CLOUD,
        deadline=Deadline(deadline, clock=time.clock),
        sleep=time.sleep,
        redactor=Redactor({SECRET}),
        **kwargs,  # type: ignore[arg-type]
    )


@responses.activate(assert_all_requests_are_fired=True)
def test_the_listing_sends_confluent_clouds_one_comma_joined_expand_and_reads_the_id() -> None:
    responses.get(
        f"{URL}/connectors",
        match=[matchers.query_string_matcher("expand=info%2Cstatus%2Cid")],
        json={
            "MyDatagenConnector": {
                "id": {"id": "lcc-abc12", "id_type": "ID"},
                "info": {
                    "config": {
                        "cloud.environment": "prod",
                        "connector.class": "DatagenSource",
                        "kafka.api.secret": "****************",
                        "name": "MyDatagenConnector",
                    },
                    "name": "MyDatagenConnector",
                },
                "status": {
                    "connector": {"state": "PROVISIONING", "trace": "", "worker_id": "w"},
                    "name": "MyDatagenConnector",
                    "tasks": [],
                    "type": "source",
                },
            }
        },
    )
    (connector,) = cloud_client().list_connectors_expanded().values()
    assert connector.id == "lcc-abc12"
    assert connector.state == "PROVISIONING"
    assert connector.tasks == ()
    assert connector.type == "source"
    assert connector.trace is None  # an empty trace is no reason
    assert connector.config is not None and connector.config["kafka.api.secret"] == "*" * 16


@responses.activate(assert_all_requests_are_fired=True)
def test_a_failed_connectors_trace_is_read_and_redacted() -> None:
    responses.get(
        f"{URL}/connectors/c/status",
        json={
            "connector": {
                "state": "FAILED",
                "trace": f"Invalid credentials for {SECRET}",
                "worker_id": "c",
            },
            "name": "c",
            "tasks": [{"id": 0, "msg": "", "state": "FAILED", "worker_id": "c"}],
            "type": "sink",
        },
    )
    status = cloud_client().get_connector_status("c")
    assert status.state == "FAILED"
    assert status.trace is not None and "Invalid credentials" in status.trace
    assert SECRET not in status.trace
    assert status.tasks == ((0, "FAILED"),)


@responses.activate(assert_all_requests_are_fired=True)
def test_put_always_carries_name_in_the_flat_config_on_confluent_cloud() -> None:
    responses.put(
        f"{URL}/connectors/my%20conn/config",
        match=[
            matchers.json_params_matcher(
                {"connector.class": "DatagenSource", "name": "my conn"}, strict_match=True
            )
        ],
        status=200,  # Confluent Cloud answers 200 to a create as well
        json={"name": "my conn", "config": {}, "tasks": [], "type": "source"},
    )
    cloud_client().put_connector_config("my conn", {"connector.class": "DatagenSource"})


@responses.activate(assert_all_requests_are_fired=True)
def test_the_config_of_one_connector_is_fetched() -> None:
    responses.get(f"{URL}/connectors/c/config", json={"connector.class": "X", "tasks.max": "1"})
    assert cloud_client().get_connector_config("c") == {"connector.class": "X", "tasks.max": "1"}


@responses.activate(assert_all_requests_are_fired=True)
def test_delete_answering_a_null_error_is_a_delete() -> None:
    responses.delete(f"{URL}/connectors/c", status=200, json={"error": None})
    assert cloud_client().delete_connector("c") is True


@responses.activate(assert_all_requests_are_fired=True)
def test_delete_answering_200_with_a_non_null_error_is_a_failed_delete() -> None:
    responses.delete(
        f"{URL}/connectors/c",
        status=200,
        json={"error": {"code": 500, "message": f"could not delete, key {SECRET}"}},
    )
    with pytest.raises(ConnectRejected) as caught:
        cloud_client().delete_connector("c")
    assert "could not delete" in str(caught.value)
    assert SECRET not in str(caught.value)


@responses.activate(registry=OrderedRegistry, assert_all_requests_are_fired=True)
def test_a_429_is_retried_after_the_retry_after_it_names() -> None:
    responses.get(f"{URL}/connectors", status=429, headers={"Retry-After": "7"})
    responses.get(f"{URL}/connectors", status=429, headers={"Retry-After": "3"})
    responses.get(f"{URL}/connectors", json={})
    time = FakeTime()
    assert cloud_client(time).list_connectors_expanded() == {}
    assert time.sleeps == [7.0, 3.0]


@responses.activate(registry=OrderedRegistry, assert_all_requests_are_fired=True)
def test_a_429_without_retry_after_backs_off_as_any_retry() -> None:
    responses.put(f"{URL}/connectors/c/config", status=429)
    responses.put(f"{URL}/connectors/c/config", status=200, json={})
    time = FakeTime()
    cloud_client(time).put_connector_config("c", {"connector.class": "X"})
    assert time.sleeps == [RetryPolicy().delay(1)]


@responses.activate(registry=OrderedRegistry, assert_all_requests_are_fired=True)
def test_a_429_whose_wait_passes_the_run_deadline_is_temporary_and_never_slept() -> None:
    responses.put(f"{URL}/connectors/c/config", status=429, headers={"Retry-After": "60"})
    time = FakeTime()
    with pytest.raises(ConnectServerError) as caught:
        cloud_client(time, deadline=30.0).put_connector_config("c", {"connector.class": "X"})
    assert isinstance(caught.value, TemporaryError)
    assert not isinstance(caught.value, PermanentError)  # never a rejected config
    assert caught.value.status == 429
    assert time.sleeps == []


@responses.activate(registry=OrderedRegistry)
def test_a_429_that_never_ends_gives_up_as_temporary_after_the_attempts() -> None:
    for _ in range(3):
        responses.get(f"{URL}/connectors", status=429, headers={"Retry-After": "1"})
    time = FakeTime()
    with pytest.raises(ConnectServerError, match="rate limited 3 times"):
        cloud_client(time, retry=RetryPolicy(attempts=3)).list_connectors_expanded()
    assert time.sleeps == [1.0, 1.0]


@responses.activate(assert_all_requests_are_fired=True)
@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_name_the_settings_never_their_values(status: int) -> None:
    responses.get(
        f"{URL}/connectors",
        status=status,
        json={"error": {"code": status, "message": "Unauthorized"}},
    )
    with pytest.raises(CredentialsRejected) as caught:
        cloud_client().list_connectors_expanded()
    message = str(caught.value)
    assert "CONNECT_REST_KEY" in message and "CONNECT_REST_SECRET" in message
    assert "Unauthorized" in message
    assert SECRET not in message and "CLOUDKEY" not in message
    assert len(responses.calls) == 1  # not hammered


@responses.activate(registry=OrderedRegistry)
@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"error": {"code": 400, "message": "Bad Request: topics"}}, "Bad Request: topics"),
        (
            500,
            {
                "error_code": 500,
                "message": "Failed to find any class that implements Connector and which name "
                "matches io.confluent.connect.Nope",
            },
            "Failed to find any class",
        ),
        (400, {"code": 400, "message": "name is missing"}, "name is missing"),
        (404, {"error": {"code": 404, "message": "account not found"}}, "account not found"),
    ],
)
def test_each_error_shape_of_the_spec_yields_its_message(
    status: int, body: dict[str, object], message: str
) -> None:
    responses.put(f"{URL}/connectors/c/config", status=status, json=body)
    with pytest.raises(ConnectRejected) as caught:
        cloud_client().put_connector_config("c", {"connector.class": "X"})
    assert caught.value.status == status
    assert caught.value.connect_message.startswith(message)


@responses.activate(assert_all_requests_are_fired=True)
def test_pause_and_resume_are_accepted_asynchronously() -> None:
    responses.put(f"{URL}/connectors/c/pause", status=202)
    responses.put(f"{URL}/connectors/c/resume", status=202)
    client = cloud_client()
    client.pause_connector("c")
    client.resume_connector("c")
    assert [call.request.method for call in responses.calls] == ["PUT", "PUT"]
