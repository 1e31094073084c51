"""The HTTP client's edge cases, with `responses`."""

from __future__ import annotations

import pytest
import requests
import responses
from responses import matchers
from responses.registries import OrderedRegistry

from connect_operator.connect_client import ConnectClient, Deadline, RetryPolicy
from connect_operator.errors import (
    ConnectOperatorError,
    ConnectRejected,
    ConnectServerError,
    ConnectUnavailable,
    CredentialsRejected,
    DeadlineExceeded,
)
from connect_operator.redaction import Redactor

URL = "http://connect:8083"


def client(**kwargs: object) -> ConnectClient:
    return ConnectClient(URL, sleep=lambda _: None, **kwargs)  # type: ignore[arg-type]


@responses.activate(assert_all_requests_are_fired=True)
def test_listing_uses_one_expanded_get_and_parses_state() -> None:
    responses.get(
        f"{URL}/connectors",
        match=[matchers.query_string_matcher("expand=info&expand=status")],
        json={
            "a": {
                "info": {
                    "name": "a",
                    "config": {"connector.class": "X", "tasks.max": "1"},
                    "tasks": [],
                    "type": "sink",
                },
                "status": {
                    "name": "a",
                    "connector": {"state": "RUNNING", "worker_id": "w"},
                    "tasks": [{"id": 0, "state": "FAILED", "worker_id": "w"}],
                    "type": "sink",
                },
            }
        },
    )
    (connector,) = client().list_connectors_expanded().values()
    assert connector.config == {"connector.class": "X", "tasks.max": "1"}
    assert connector.state == "RUNNING"
    assert connector.tasks == ((0, "FAILED"),)
    assert connector.type == "sink"


@responses.activate
def test_a_listing_gives_config_values_as_strings_and_a_bad_status_costs_only_its_entry() -> None:
    responses.get(
        f"{URL}/connectors",
        json={
            "a": {
                "info": {"config": {"connector.class": "X", "tasks.max": 1, "b": True}},
                "status": {"connector": {"state": "PAUSED"}, "tasks": "not a list"},
            },
            "b": {"info": {"config": {"connector.class": "Y"}, "type": "source"}},
        },
    )
    listing = client().list_connectors_expanded()
    assert listing["a"].config == {"connector.class": "X", "tasks.max": "1", "b": "True"}
    assert listing["a"].state is None and listing["a"].status_problem is not None
    assert listing["b"].config == {"connector.class": "Y"}
    assert (listing["b"].type, listing["b"].status_problem) == ("source", None)


@responses.activate(assert_all_requests_are_fired=True)
def test_put_on_self_managed_connect_sends_the_config_as_is_to_the_encoded_name() -> None:
    responses.put(
        f"{URL}/connectors/a%2Fb%20c/config",
        match=[matchers.json_params_matcher({"connector.class": "X"}, strict_match=True)],
        status=201,
        json={},
    )
    client().put_connector_config("a/b c", {"connector.class": "X"})
    assert [call.request.method for call in responses.calls] == ["PUT"]


@responses.activate(registry=OrderedRegistry, assert_all_requests_are_fired=True)
def test_a_409_during_a_rebalance_is_retried_then_succeeds() -> None:
    responses.put(
        f"{URL}/connectors/a/config",
        status=409,
        json={
            "error_code": 409,
            "message": "Cannot complete request momentarily due to stale configuration",
        },
    )
    responses.put(
        f"{URL}/connectors/a/config",
        status=500,
        json={
            "error_code": 500,
            "message": "Request cannot be completed because a rebalance is expected",
        },
    )
    responses.put(f"{URL}/connectors/a/config", status=201, json={})
    client().put_connector_config("a", {"connector.class": "X"})
    assert len(responses.calls) == 3


@responses.activate(registry=OrderedRegistry)
def test_a_409_that_never_clears_becomes_a_temporary_server_error() -> None:
    for _ in range(3):
        responses.put(f"{URL}/connectors/a/config", status=409, json={"message": "rebalance"})
    with pytest.raises(ConnectServerError) as caught:
        client(retry=RetryPolicy(attempts=3)).put_connector_config("a", {})
    assert caught.value.status == 409
    assert str(caught.value) == "PUT /connectors/a/config -> 409: rebalance"


@responses.activate(assert_all_requests_are_fired=True)
def test_a_400_is_permanent_and_its_message_is_scrubbed_of_secrets() -> None:
    responses.put(
        f"{URL}/connectors/a/config",
        status=400,
        json={
            "error_code": 400,
            "message": "Connector config {password=hunter2-x} contains no connector type",
        },
    )
    with pytest.raises(ConnectRejected) as caught:
        client(redactor=Redactor({"hunter2-x"})).put_connector_config(
            "a", {"password": "hunter2-x"}
        )
    assert "hunter2-x" not in str(caught.value)
    assert "contains no connector type" in str(caught.value)


@responses.activate(assert_all_requests_are_fired=True)
def test_a_missing_plugin_500_is_permanent_not_retried() -> None:
    responses.put(
        f"{URL}/connectors/a/config",
        status=500,
        json={
            "message": "Failed to find any class that implements Connector"
            " and which name matches Nope"
        },
    )
    with pytest.raises(ConnectRejected):
        client().put_connector_config("a", {"connector.class": "Nope"})
    assert len(responses.calls) == 1


@responses.activate(assert_all_requests_are_fired=True)
def test_delete_of_a_missing_connector_is_not_an_error() -> None:
    responses.delete(f"{URL}/connectors/a", status=404, json={"message": "Connector a not found"})
    assert client().delete_connector("a") is False


@responses.activate
def test_connection_failures_are_retried_then_raised_as_unavailable() -> None:
    responses.get(f"{URL}/connectors", body=requests.ConnectionError("Connection refused"))
    with pytest.raises(ConnectUnavailable, match="cannot reach http://connect:8083"):
        client().list_connectors_expanded()
    assert len(responses.calls) == 3


@responses.activate
def test_timeouts_are_unavailable_too() -> None:
    responses.get(f"{URL}/connectors", body=requests.ReadTimeout("slow"))
    with pytest.raises(ConnectUnavailable, match="timed out"):
        client().list_connectors_expanded()


def test_no_request_is_sent_after_the_deadline() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{URL}/connectors", json={})
        with pytest.raises(DeadlineExceeded):
            client(deadline=Deadline(0.0)).list_connectors_expanded()
        assert len(mock.calls) == 0


@responses.activate
@pytest.mark.parametrize(
    "failure",
    [
        requests.ConnectionError("x"),
        requests.Timeout("x"),
        requests.TooManyRedirects("x"),
        requests.exceptions.InvalidURL("x"),
        requests.exceptions.ChunkedEncodingError("x"),
    ],
)
def test_no_requests_exception_escapes_the_client(failure: Exception) -> None:
    responses.get(f"{URL}/connectors", body=failure)
    with pytest.raises(ConnectOperatorError):
        client().list_connectors_expanded()


@responses.activate
def test_every_request_carries_a_timeout_and_the_basic_auth() -> None:
    seen: list[object] = []

    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        seen.append(request.headers.get("Authorization"))
        return 200, {}, "{}"

    responses.add_callback(responses.GET, f"{URL}/connectors", callback=callback)
    client(auth=("key", "secret")).list_connectors_expanded()
    assert seen == ["Basic a2V5OnNlY3JldA=="]
    assert responses.calls[0].request.req_kwargs["timeout"] == (5.0, 30.0)  # type: ignore[attr-defined]


@responses.activate
def test_a_non_json_error_body_still_gives_a_clear_message() -> None:
    responses.get(f"{URL}/connectors", status=400, body="<html>Bad</html>")
    with pytest.raises(ConnectRejected, match="GET /connectors -> 400: <html>Bad</html>"):
        client().list_connectors_expanded()


@responses.activate(registry=OrderedRegistry, assert_all_requests_are_fired=True)
def test_a_worker_that_is_still_starting_is_waited_for() -> None:
    # Jetty answers a bare 404 before Connect's REST resources exist.
    responses.put(f"{URL}/connectors/a/config", status=404, body="")
    responses.put(f"{URL}/connectors/a/config", status=201, json={})
    client().put_connector_config("a", {})
    assert len(responses.calls) == 2


@responses.activate(registry=OrderedRegistry)
def test_a_worker_that_never_finishes_starting_is_a_temporary_error() -> None:
    for _ in range(2):
        responses.get(f"{URL}/connectors", status=404, body="")
    with pytest.raises(ConnectServerError, match="worker is still starting"):
        client(retry=RetryPolicy(attempts=2)).list_connectors_expanded()


@responses.activate(registry=OrderedRegistry, assert_all_requests_are_fired=True)
def test_a_forward_to_a_dead_leader_is_retried_until_the_group_moves_on() -> None:
    message = "IO Error trying to forward REST request: java.net.ConnectException: refused"
    responses.delete(
        f"{URL}/connectors/a", status=500, json={"error_code": 500, "message": message}
    )
    responses.delete(f"{URL}/connectors/a", status=204)
    assert client().delete_connector("a") is True


@responses.activate(assert_all_requests_are_fired=True)
def test_an_unknown_500_is_not_retried() -> None:
    responses.put(
        f"{URL}/connectors/a/config", status=500, json={"message": "NullPointerException"}
    )
    with pytest.raises(ConnectServerError):
        client().put_connector_config("a", {})
    assert len(responses.calls) == 1


@responses.activate(assert_all_requests_are_fired=True)
def test_a_secret_handed_with_the_request_is_masked_in_its_error() -> None:
    # The client's own redactor knows nothing of this config: the request brings its secrets.
    responses.put(
        f"{URL}/connectors/a/config",
        status=400,
        json={"error_code": 400, "message": "Invalid value s3cr3t-CANARY for password"},
    )
    with pytest.raises(ConnectRejected) as caught:
        client().put_connector_config(
            "a", {"password": "s3cr3t-CANARY"}, secrets=frozenset({"s3cr3t-CANARY"})
        )
    assert "s3cr3t-CANARY" not in str(caught.value)
    assert "Invalid value" in str(caught.value) and "for password" in str(caught.value)


@responses.activate
def test_a_request_that_cannot_be_sent_names_the_request_and_the_failure() -> None:
    responses.get(f"{URL}/connectors", body=requests.exceptions.InvalidURL("bad"))
    with pytest.raises(ConnectUnavailable) as caught:
        client().list_connectors_expanded()
    assert str(caught.value) == "GET /connectors: request failed: InvalidURL"


@responses.activate(assert_all_requests_are_fired=True)
@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_name_the_request_and_the_setting_to_check(status: int) -> None:
    responses.delete(f"{URL}/connectors/a", status=status, json={"message": "Unauthorized"})
    with pytest.raises(CredentialsRejected) as caught:
        client(auth=("user", "pa55-CANARY")).delete_connector("a")
    assert str(caught.value) == (
        f"DELETE /connectors/a -> {status}: Connect refused our credentials (Unauthorized):"
        " check CONNECT_URL's authentication"
    )
