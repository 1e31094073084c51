"""`PUT /connector-plugins/{plugin}/config/validate` in the client, with `responses`."""

from __future__ import annotations

import pytest
import responses
from responses import matchers

from connect_operator.connect_client import ConfigValidation, ConnectClient
from connect_operator.errors import ConnectRejected, ConnectServerError

URL = "http://connect:8083"
SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"


def _answer(errors: dict[str, list[str]]) -> dict[str, object]:
    """An answer shaped as Connect documents it: name, error_count, groups, configs."""
    return {
        "name": SINK,
        "error_count": sum(len(m) for m in errors.values()),
        "groups": ["Common"],
        "configs": [
            {
                "definition": {"name": key, "type": "STRING"},
                "value": {
                    "name": key,
                    "value": None,
                    "recommended_values": [],
                    "errors": m,
                    "visible": True,
                },
            }
            for key, m in errors.items()
        ],
    }


@responses.activate(assert_all_requests_are_fired=True)
def test_validate_puts_the_config_to_the_plugins_endpoint_and_reads_each_keys_errors() -> None:
    config = {"connector.class": SINK, "tasks.max": "x", "file": "/tmp/out"}
    responses.put(
        f"{URL}/connector-plugins/{SINK}/config/validate",
        json=_answer({"tasks.max": ["Not a number of type INT"], "topics": [], "file": []}),
        match=[matchers.json_params_matcher(config)],
    )
    result = ConnectClient(URL).validate_connector_plugin_config(SINK, config)
    assert result == ConfigValidation(1, (("tasks.max", "Not a number of type INT"),))


@responses.activate(assert_all_requests_are_fired=True)
def test_validate_scrubs_secret_values_that_the_messages_echo() -> None:
    responses.put(
        f"{URL}/connector-plugins/{SINK}/config/validate",
        json=_answer({"connection.password": ["value hunter2-secret is too short"]}),
    )
    result = ConnectClient(URL).validate_connector_plugin_config(
        SINK, {"connection.password": "hunter2-secret"}, frozenset({"hunter2-secret"})
    )
    assert "hunter2-secret" not in str(result)
    assert result.errors == (("connection.password", "value **** is too short"),)


@responses.activate(assert_all_requests_are_fired=True)
def test_validate_of_a_plugin_connect_does_not_have_is_a_permanent_rejection() -> None:
    responses.put(
        f"{URL}/connector-plugins/Nope/config/validate",
        status=500,
        json={
            "error_code": 500,
            "message": "Failed to find any class that implements Connector"
            " and which name matches Nope",
        },
    )
    with pytest.raises(ConnectRejected):
        ConnectClient(URL).validate_connector_plugin_config("Nope", {"connector.class": "Nope"})


@responses.activate(assert_all_requests_are_fired=True)
def test_validate_answer_without_an_error_count_is_a_server_error() -> None:
    responses.put(f"{URL}/connector-plugins/{SINK}/config/validate", json={"configs": []})
    with pytest.raises(ConnectServerError):
        ConnectClient(URL).validate_connector_plugin_config(SINK, {"connector.class": SINK})
