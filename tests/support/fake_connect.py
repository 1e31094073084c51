"""A stateful fake of the Kafka Connect REST API, served over real HTTP on loopback.

It keeps connectors in memory, answers the endpoints the operator uses the way Connect does
(strings only, `name` added to stored configs, 201 vs 200 on PUT, JSON error bodies), and records
every request so tests can count writes, and injects failures. It fakes self-managed Connect;
Confluent Cloud's `connect/v1` has its own spec-derived fake in `fake_confluent_cloud.py`. It is
for speed only: the integration suite against a real Connect cluster is the truth.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.loopback_http import serve_on_loopback

KNOWN_CLASSES = {
    "FileStreamSource",
    "FileStreamSink",
    "org.apache.kafka.connect.file.FileStreamSourceConnector",
    "org.apache.kafka.connect.file.FileStreamSinkConnector",
    "io.confluent.connect.jdbc.JdbcSourceConnector",
    "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector",
}


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str | None

    @property
    def is_write(self) -> bool:
        """True for requests that change Connect (a config validation changes nothing)."""
        if self.path.endswith("/config/validate"):
            return False
        return self.method in ("PUT", "POST", "DELETE", "PATCH")


@dataclass
class FakeConnect:
    """State and behaviour of the fake; `serve()` puts it on a loopback port."""

    prefix: str = ""
    basic_auth: tuple[str, str] | None = None
    connectors: dict[str, dict[str, str]] = field(default_factory=dict)
    # connector -> PAUSED or STOPPED (set by /pause and /stop); absent: RUNNING
    states: dict[str, str] = field(default_factory=dict)
    # connector -> trace: its connector (failed_connectors) or task 0 (failed_tasks) is FAILED
    failed_connectors: dict[str, str] = field(default_factory=dict)
    failed_tasks: dict[str, str] = field(default_factory=dict)
    # True: a restart brings what FAILED back to RUNNING; False: it fails again at once
    restart_heals: bool = False
    # what GET / answers as the worker's version (3.7+ takes `initial_state` on create)
    version: str = "4.1.2"
    # the plugins installed (GET /connector-plugins lists the fully qualified ones)
    plugins: set[str] = field(default_factory=lambda: set(KNOWN_CLASSES))
    requests: list[RecordedRequest] = field(default_factory=list)
    # (method, path-prefix) -> list of (status, message) answered before normal behaviour
    failures: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)
    url: str = ""

    def writes(self) -> list[RecordedRequest]:
        """The requests that changed something."""
        return [r for r in self.requests if r.is_write]

    def fail_next(self, method: str, path_prefix: str, *answers: tuple[int, str]) -> None:
        """Answer the next matching requests with these (status, message) pairs."""
        self.failures.setdefault((method, path_prefix), []).extend(answers)

    def handle(
        self, method: str, raw_path: str, body: Any, authorization: str | None
    ) -> tuple[int, Any]:
        """Answer one request like Connect would."""
        parts = urlsplit(raw_path)
        path = parts.path
        self.requests.append(
            RecordedRequest(method, path, parse_qs(parts.query), body, authorization)
        )
        if self.basic_auth is not None:
            token = base64.b64encode(":".join(self.basic_auth).encode()).decode()
            if authorization != f"Basic {token}":
                return 401, {"error_code": 401, "message": "Unauthorized"}
        if not path.startswith(self.prefix):
            return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}
        path = path[len(self.prefix) :]
        for (fail_method, fail_prefix), answers in self.failures.items():
            if fail_method == method and path.startswith(fail_prefix) and answers:
                status, message = answers.pop(0)
                return status, {"error_code": status, "message": message}
        segments = [unquote(s) for s in path.strip("/").split("/")]
        if method == "GET" and segments == [""]:
            return 200, {"version": self.version, "commit": "fake", "kafka_cluster_id": "fake"}
        if method == "POST" and segments == ["connectors"]:
            return self._create(body)
        if method == "GET" and segments == ["connectors"]:
            expand = parse_qs(parts.query).get("expand", [])
            if not expand:
                return 200, sorted(self.connectors)
            return 200, {name: self._expanded(name, expand) for name in sorted(self.connectors)}
        if method == "GET" and segments == ["connector-plugins"]:
            return 200, [
                {"class": name, "type": "sink" if "Sink" in name else "source", "version": "4.1.2"}
                for name in sorted(self.plugins)
                if "." in name
            ]
        validating = len(segments) == 4 and segments[2:] == ["config", "validate"]
        if method == "PUT" and segments[:1] == ["connector-plugins"] and validating:
            return self._validate(segments[1], body)
        if segments[:1] == ["connectors"] and len(segments) >= 2:
            name = segments[1]
            rest = segments[2:]
            if method == "PUT" and rest == ["config"]:
                return self._put_config(name, body)
            if method == "DELETE" and rest == []:
                if name not in self.connectors:
                    return 404, {"error_code": 404, "message": f"Connector {name} not found"}
                del self.connectors[name]
                self.states.pop(name, None)
                return 204, None
            if method == "PUT" and rest in (["pause"], ["resume"], ["stop"]):
                if name not in self.connectors:
                    return 404, {"error_code": 404, "message": f"Unknown connector {name}"}
                if rest == ["resume"]:
                    self.states.pop(name, None)
                else:
                    self.states[name] = "PAUSED" if rest == ["pause"] else "STOPPED"
                return (204 if rest == ["stop"] else 202), None
            if method == "POST" and rest == ["restart"]:
                return self._restart(name, parse_qs(parts.query))
            if method == "GET" and rest == ["config"]:
                if name not in self.connectors:
                    return 404, {"error_code": 404, "message": f"Connector {name} not found"}
                return 200, dict(self.connectors[name])
            if method == "GET" and rest == ["status"]:
                if name not in self.connectors:
                    return 404, {"error_code": 404, "message": f"No status found for {name}"}
                return 200, self._status(name)
        return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}

    def _put_config(self, name: str, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
            return 500, {"error_code": 500, "message": "Cannot deserialize value"}
        if body.get("name", name) != name:
            return 400, {"error_code": 400, "message": "Connector name configuration mismatch"}
        connector_class = body.get("connector.class")
        if connector_class is None:
            return 400, {
                "error_code": 400,
                "message": f"Connector config {body} contains no connector type",
            }
        if connector_class not in self.plugins:
            return 500, {
                "error_code": 500,
                "message": "Failed to find any class that implements Connector and which name "
                f"matches {connector_class}",
            }
        created = name not in self.connectors
        stored = {**body, "name": name}
        self.connectors[name] = stored
        return (201 if created else 200), {"name": name, "config": stored, "tasks": []}

    def _validate(self, plugin: str, body: Any) -> tuple[int, Any]:
        """Connect's validate answer: 200 with `error_count` and each key's `value.errors`.

        Checks what the real FileStream connectors and `ConnectorConfig` check: `name` present
        (real Connect requires it here, though a PUT takes it from the path), `tasks.max` a
        positive integer, a sink's `topics` or `topics.regex`, a FileStream source's `topic`.
        """
        if not isinstance(body, dict):
            return 500, {"error_code": 500, "message": "Cannot deserialize value"}
        included = body.get("connector.class")
        if included is not None and not str(included).endswith(plugin):
            message = f"Included connector type {included} does not match request type {plugin}"
            return 400, {"error_code": 400, "message": message}
        if plugin not in self.plugins:
            return 500, {
                "error_code": 500,
                "message": "Failed to find any class that implements Connector and which name "
                f"matches {plugin}",
            }
        errors: dict[str, list[str]] = {key: [] for key in body}
        if not body.get("name"):
            errors.setdefault("name", []).append(
                'Missing required configuration "name" which has no default value.'
            )
        tasks_max = str(body.get("tasks.max", "1"))
        if not tasks_max.isdigit() or int(tasks_max) < 1:
            errors.setdefault("tasks.max", []).append(
                f"Invalid value {tasks_max} for configuration tasks.max: Not a number of type INT"
            )
        if "Sink" in plugin and not (body.get("topics") or body.get("topics.regex")):
            errors.setdefault("topics", []).append("Must configure one of topics or topics.regex")
        if "FileStreamSource" in plugin and not body.get("topic"):
            errors.setdefault("topic", []).append(
                'Missing required configuration "topic" which has no default value.'
            )
        configs = [
            {
                "definition": {"name": key},
                "value": {
                    "name": key,
                    "value": body.get(key),
                    "recommended_values": [],
                    "errors": messages,
                    "visible": True,
                },
            }
            for key, messages in sorted(errors.items())
        ]
        count = sum(len(messages) for messages in errors.values())
        return 200, {"name": plugin, "error_count": count, "groups": ["Common"], "configs": configs}

    def _create(self, body: Any) -> tuple[int, Any]:
        """`POST /connectors`: 409 if it exists; `initial_state` (3.7+) sets its state."""
        if not isinstance(body, dict) or not isinstance(body.get("config"), dict):
            return 400, {"error_code": 400, "message": "Invalid request body"}
        name = str(body.get("name", ""))
        if name in self.connectors:
            return 409, {"error_code": 409, "message": f"Connector {name} already exists"}
        state = body.get("initial_state", "RUNNING")
        if state not in ("RUNNING", "PAUSED", "STOPPED"):
            return 400, {"error_code": 400, "message": f"Invalid initial state {state}"}
        status, answer = self._put_config(name, body["config"])
        if status == 201 and state != "RUNNING":
            self.states[name] = str(state)
        return status, answer

    def _restart(self, name: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        """Connect 3.0+ (KIP-745): with `includeTasks`, 202 and the status as it restarts; a
        plain restart of the connector alone is 204."""
        if name not in self.connectors:
            return 404, {"error_code": 404, "message": f"Unknown connector: {name}"}
        include_tasks = query.get("includeTasks") == ["true"]
        only_failed = query.get("onlyFailed") == ["true"]
        if self.restart_heals:
            self.failed_connectors.pop(name, None)
            if include_tasks:
                self.failed_tasks.pop(name, None)
        if not include_tasks and not only_failed:
            return 204, None
        return 202, self._status(name)

    def _status(self, name: str) -> dict[str, Any]:
        # Connect: a stopped connector has no tasks; a paused one's tasks are paused.
        state = self.states.get(name, "RUNNING")
        task: dict[str, Any] = {"id": 0, "state": state, "worker_id": "fake:8083"}
        if name in self.failed_tasks:  # pausing leaves a failed task failed
            task.update(state="FAILED", trace=self.failed_tasks[name])
        connector: dict[str, Any] = {"state": state, "worker_id": "fake:8083"}
        if name in self.failed_connectors and state == "RUNNING":
            connector.update(state="FAILED", trace=self.failed_connectors[name])
        return {
            "name": name,
            "connector": connector,
            "tasks": [] if state == "STOPPED" else [task],
            "type": "source",
        }

    def _expanded(self, name: str, expand: list[str]) -> dict[str, Any]:
        item: dict[str, Any] = {}
        if "info" in expand:
            item["info"] = {
                "name": name,
                "config": dict(self.connectors[name]),
                "tasks": [{"connector": name, "task": 0}],
                "type": "source",
            }
        if "status" in expand:
            item["status"] = self._status(name)
        return item


def _respond(
    fake: FakeConnect, method: str, path: str, raw: bytes, headers: Mapping[str, str]
) -> tuple[int, str, bytes]:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    status, answer = fake.handle(method, path, body, headers.get("Authorization"))
    return status, "application/json", b"" if answer is None else json.dumps(answer).encode()


@contextmanager
def serve(fake: FakeConnect) -> Iterator[FakeConnect]:
    """Serve the fake on 127.0.0.1 on a free port; `fake.url` is its base URL."""

    def respond(
        method: str, path: str, raw: bytes, headers: Mapping[str, str]
    ) -> tuple[int, str, bytes]:
        return _respond(fake, method, path, raw, headers)

    with serve_on_loopback(respond) as url:
        fake.url = url
        yield fake


@dataclass
class SharedServer:
    """One loopback server for many tests, each serving its own fresh `FakeConnect` in turn:
    starting and stopping a server costs about 10 ms, more than most tests that use one."""

    url: str = ""
    fake: FakeConnect | None = None

    @contextmanager
    def serving(self, fake: FakeConnect) -> Iterator[FakeConnect]:
        """Answer with `fake` (whose `url` becomes the server's) until the block ends."""
        fake.url = self.url
        self.fake = fake
        try:
            yield fake
        finally:
            self.fake = None


@contextmanager
def shared_server() -> Iterator[SharedServer]:
    """A `SharedServer` on a free loopback port; between two fakes it answers 503."""
    shared = SharedServer()

    def respond(
        method: str, path: str, raw: bytes, headers: Mapping[str, str]
    ) -> tuple[int, str, bytes]:
        if shared.fake is None:
            return 503, "application/json", b'{"error_code": 503, "message": "no fake served"}'
        return _respond(shared.fake, method, path, raw, headers)

    with serve_on_loopback(respond) as url:
        shared.url = url
        yield shared
