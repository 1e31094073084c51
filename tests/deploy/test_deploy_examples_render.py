"""The example connector ConfigMaps render through the package with the example variables.

The same ConfigMaps and variable files drive `make demo` against a plain Apache Kafka Connect,
so the connectors it applies must be FileStream ones, with a numeric tasks.max, and may read
only the one documented environment variable, which the dev overlay sets.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from connect_operator.properties import load_variables
from connect_operator.templating import render_connector
from tests.deploy import helpers
from tests.deploy.helpers import K8S, OPERATOR_DEPLOYMENT

VARIABLES_DIR = K8S / "examples" / "variables"
FILESTREAM_CLASSES = {
    "org.apache.kafka.connect.file.FileStreamSourceConnector",
    "org.apache.kafka.connect.file.FileStreamSinkConnector",
}
DOCUMENTED_ENV = {"CONNECTOR_OWNER"}


def _dev_operator_environment() -> dict[str, str]:
    deployment = helpers.named(helpers.build("overlays/dev"), "Deployment", OPERATOR_DEPLOYMENT)
    return helpers.container_env(deployment, helpers.operator_container_name(deployment))


def _programs(example: str) -> list[tuple[str, str, str]]:
    return [
        (configmap["metadata"]["name"], key, program)
        for configmap in helpers.of_kind(helpers.build(example), "ConfigMap")
        if configmap["metadata"].get("labels", {}).get("destination") == "connect"
        for key, program in configmap["data"].items()
    ]


def _render(program: str) -> Any:
    variables = load_variables(VARIABLES_DIR, _dev_operator_environment())
    return render_connector(program, variables)


@pytest.mark.parametrize("example", ["examples/connectors", "examples/confluent-cloud"])
def test_every_example_connector_renders_with_the_example_variables(example: str) -> None:
    programs = _programs(example)
    assert programs
    names = []
    for configmap, key, program in programs:
        connector = _render(program)
        assert connector.name, f"{configmap}/{key} has no name"
        assert connector.config["connector.class"], f"{configmap}/{key} has no connector.class"
        assert all(isinstance(value, str) for value in connector.config.values())
        names.append(connector.name)
    assert len(names) == len(set(names)), f"two examples share a connector name: {names}"


def test_the_demo_connectors_are_filestream_ones_with_a_numeric_tasks_max() -> None:
    programs = _programs("examples/connectors")
    assert len(programs) >= 2, "the demo wants a source and a sink"
    classes = set()
    for configmap, key, program in programs:
        connector = _render(program)
        classes.add(connector.config["connector.class"])
        assert re.search(r'"tasks\.max"\s*:\s*\d', program), f"{configmap}/{key}: tasks.max quoted"
        assert connector.config["tasks.max"] == "1"
    assert classes == FILESTREAM_CLASSES


def test_the_demo_connectors_read_the_example_variables() -> None:
    rendered = [_render(program).config for _, _, program in _programs("examples/connectors")]
    topics = {config.get("topic") or config.get("topics") for config in rendered}
    files = {config["file"] for config in rendered}
    assert topics == {"demo.lines"}
    assert all(path.startswith("/tmp/connect-demo/") for path in files)


def test_the_examples_read_only_the_documented_environment_variable_which_dev_sets() -> None:
    used = set()
    for example in ("examples/connectors", "examples/confluent-cloud"):
        for _, _, program in _programs(example):
            used |= set(re.findall(r"\benv\.([A-Za-z_][A-Za-z0-9_]*)", program))
    assert used == DOCUMENTED_ENV
    assert set(_dev_operator_environment()) >= DOCUMENTED_ENV


def test_the_kafka_api_key_comes_from_the_placeholder_jaas_line() -> None:
    (program,) = [p for _, _, p in _programs("examples/confluent-cloud")]
    config = _render(program).config
    assert config["kafka.api.key"] == "PLACEHOLDER-API-KEY"
    assert config["kafka.api.secret"] == "PLACEHOLDER-API-SECRET"


def test_the_confluent_cloud_example_carries_the_keys_the_connect_v1_put_requires() -> None:
    # `name` is the fourth required key; the client adds it to every PUT on Confluent Cloud.
    (program,) = [p for _, _, p in _programs("examples/confluent-cloud")]
    config = _render(program).config
    assert {"connector.class", "kafka.api.key", "kafka.api.secret"} <= set(config)
