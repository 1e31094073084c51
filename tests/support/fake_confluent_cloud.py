"""A stateful fake of Confluent Cloud's managed-connector API, `connect/v1`, over loopback HTTP.

Written from the OpenAPI description (`confluentinc/ccloud-sdk-go-v2`,
`connect/v1/api/openapi.yaml`, tags "Connectors", "Lifecycle" and "Status (connect/v1)"), not
from our client. What it takes from that description:

- Paths live under `/connect/v1/environments/{environment_id}/clusters/{kafka_cluster_id}`.
- Security: HTTP basic auth with a Cloud API key; otherwise 401
  `{"error": {"code": 401, "message": "Unauthorized"}}` (`connect.v1.ConnectorError`).
- `GET /connectors`: an array of names. With `expand` (one value, comma-joined:
  `?expand=info,status,id`) an object keyed by connector name holding the asked-for `id`
  (`{"id": "lcc-...", "id_type": "ID"}`), `info` (`name`, `config`) and `status`.
- `GET /connectors/{name}/config`: the flat config.
- `PUT /connectors/{name}/config`: a flat map of strings that must carry `connector.class`,
  `kafka.api.key`, `kafka.api.secret` and `name`; answers **200** with the connector, on create
  as on update (the spec lists no 201 for it). A plugin it does not have: 500
  `{"error_code": 500, "message": "Failed to find any class that implements Connector ..."}`
  (`inline_response_500`).
- What it shows back: sensitive values masked as `****************` (`x-redact`:
  `kafka.api.secret`; the examples mask `kafka.api.key` too) and the keys it adds
  (`cloud.environment`, `cloud.provider`, `kafka.endpoint`, `kafka.region`).
- States (`NONE PROVISIONING RUNNING DEGRADED FAILED PAUSED DELETED`): a new connector is
  `PROVISIONING` with no tasks (the status example), then `RUNNING`; `FAILED` carries a
  `trace`; `PAUSED` after `PUT .../pause`.
- `DELETE /connectors/{name}`: 200 `{"error": null}` (`inline_response_200`, `error` nullable
  object); 404 `{"error": {"code": 404, "message": "resource not found"}}`.
- `PUT /connectors/{name}/pause` and `/resume`: 202, no body.
- Any operation: 429 with `Retry-After` (integer seconds) and no body.
- Error shapes: `{"error": {"code", "message"}}`, `{"error_code", "message"}` and `{"code",
  "message"}` (`inline_response_400`), each on demand through `fail_next`.

ASSUMPTION marks what the description does not say and only a live organisation could confirm.
It is for speed only; it is not Confluent Cloud.
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

MASK = "****************"
REQUIRED_PUT_KEYS = ("connector.class", "kafka.api.key", "kafka.api.secret", "name")
SERVER_ADDED = {
    "cloud.environment": "prod",
    "cloud.provider": "aws",
    "kafka.endpoint": "SASL_SSL://pkc-xxxxx.us-west-2.aws.confluent.cloud:9092",
    "kafka.region": "us-west-2",
}
MANAGED_PLUGINS = {"DatagenSource", "GcsSink", "S3_SINK", "PostgresSource", "HttpSink"}
EXPANSIONS = ("id", "info", "status")


def cloud_error(status: int, message: str) -> dict[str, Any]:
    """`connect.v1.ConnectorError`, the shape of most error answers in the spec."""
    return {"error": {"code": status, "message": message}}


@dataclass
class CloudRequest:
    """One request the fake received; `path` is relative to the cluster's base path."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str | None

    @property
    def is_write(self) -> bool:
        """True for requests that change something."""
        return self.method in ("PUT", "POST", "DELETE", "PATCH")


@dataclass
class ManagedConnector:
    """One connector as the fake keeps it."""

    config: dict[str, str]
    id: str
    state: str = "PROVISIONING"
    trace: str = ""
    tasks_max: int = 1
    # Observations (listing or status) left before PROVISIONING turns RUNNING; None: never.
    provisioning_polls: int | None = 1


@dataclass
class FakeConfluentCloud:
    """State and behaviour of the fake; `serve_cloud()` puts it on a loopback port."""

    environment_id: str = "env-123"
    cluster_id: str = "lkc-456"
    api_key: tuple[str, str] = ("CLOUDKEY", "cloud-secret")
    sensitive_keys: frozenset[str] = frozenset({"kafka.api.key", "kafka.api.secret"})
    plugins: frozenset[str] = frozenset(MANAGED_PLUGINS)
    # How many observations a new connector stays PROVISIONING for (None: for good).
    provisioning_polls: int | None = 1
    # A server that ignores `expand` and lists names only (the fail-closed case).
    ignores_expand: bool = False
    # ASSUMPTION: whether the expanded listing carries a FAILED connector's trace; the spec's
    # schema has the field, the issue reports listings without it.
    listing_omits_trace: bool = False
    connectors: dict[str, ManagedConnector] = field(default_factory=dict)
    requests: list[CloudRequest] = field(default_factory=list)
    # (method, path prefix) -> [(status, body)] answered before normal behaviour
    failures: dict[tuple[str, str], list[tuple[int, Any]]] = field(default_factory=dict)
    # Retry-After values of the 429s still to answer, whatever the request.
    rate_limits: list[int] = field(default_factory=list)
    # connector -> the non-null `error` its DELETE answers with 200 (and the connector stays)
    delete_errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""
    _next_id: int = 1

    @property
    def base_path(self) -> str:
        """The cluster's path, as the spec spells it."""
        return f"/connect/v1/environments/{self.environment_id}/clusters/{self.cluster_id}"

    # -- test controls ---------------------------------------------------------------------

    def writes(self) -> list[CloudRequest]:
        """The requests that changed something."""
        return [r for r in self.requests if r.is_write]

    def fail_next(self, method: str, path_prefix: str, *answers: tuple[int, Any]) -> None:
        """Answer the next matching requests with these (status, JSON body) pairs."""
        self.failures.setdefault((method, path_prefix), []).extend(answers)

    def rate_limit_next(self, *retry_after: int) -> None:
        """Answer the next requests with 429 and these `Retry-After` seconds."""
        self.rate_limits.extend(retry_after)

    def fail_connector(self, name: str, trace: str) -> None:
        """Make a connector FAILED with this trace, its tasks failed."""
        connector = self.connectors[name]
        connector.state, connector.trace, connector.provisioning_polls = "FAILED", trace, 0

    def visible_config(self, name: str) -> dict[str, str]:
        """The config as the API shows it: sensitive values masked."""
        return {
            key: (MASK if key in self.sensitive_keys else value)
            for key, value in self.connectors[name].config.items()
        }

    # -- the API -------------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, body: Any, authorization: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        """Answer one request as the spec describes: (status, JSON body or None, headers)."""
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        relative = (
            parts.path[len(self.base_path) :] if parts.path.startswith(self.base_path) else None
        )
        self.requests.append(
            CloudRequest(method, relative or parts.path, query, body, authorization)
        )
        token = base64.b64encode(":".join(self.api_key).encode()).decode()
        if authorization != f"Basic {token}":
            return 401, cloud_error(401, "Unauthorized"), {}
        if self.rate_limits:
            return 429, None, {"Retry-After": str(self.rate_limits.pop(0))}
        if relative is None:
            return 404, cloud_error(404, "account not found"), {}
        for (fail_method, prefix), answers in self.failures.items():
            if fail_method == method and relative.startswith(prefix) and answers:
                status, answer = answers.pop(0)
                return status, answer, {}
        segments = [unquote(s) for s in relative.strip("/").split("/")]
        if segments == ["connectors"] and method == "GET":
            return self._list(query)
        if segments[:1] == ["connectors"] and len(segments) in (2, 3):
            name = segments[1]
            rest = segments[2:]
            if method == "PUT" and rest == ["config"]:
                return self._put_config(name, body)
            if name not in self.connectors:
                return 404, cloud_error(404, "resource not found"), {}
            if method == "GET" and rest == ["config"]:
                return 200, self.visible_config(name), {}
            if method == "GET" and rest == ["status"]:
                return 200, self._status(name), {}
            if method == "DELETE" and not rest:
                if name in self.delete_errors:
                    return 200, {"error": self.delete_errors[name]}, {}
                del self.connectors[name]
                return 200, {"error": None}, {}
            if method == "PUT" and rest in (["pause"], ["resume"]):
                self.connectors[name].state = "PAUSED" if rest == ["pause"] else "RUNNING"
                return 202, None, {}
        return 404, cloud_error(404, "resource not found"), {}

    def _list(self, query: Mapping[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        values = query.get("expand")
        if not values or self.ignores_expand:
            return 200, sorted(self.connectors), {}
        # ASSUMPTION: a repeated key (Apache Connect's `expand=info&expand=status`) is read as
        # Go's url.Values.Get reads it: the first value only.
        wanted = values[0].split(",")
        if any(item not in EXPANSIONS for item in wanted):
            return 400, cloud_error(400, f"invalid expand value {values[0]!r}"), {}
        answer: dict[str, Any] = {}
        for name in sorted(self.connectors):
            item: dict[str, Any] = {}
            if "id" in wanted:
                item["id"] = {"id": self.connectors[name].id, "id_type": "ID"}
            if "info" in wanted:
                item["info"] = {"name": name, "config": self.visible_config(name)}
            if "status" in wanted:
                status = self._status(name)
                if self.listing_omits_trace:
                    status["connector"].pop("trace", None)
                item["status"] = status
            answer[name] = item
        return 200, answer, {}

    def _put_config(self, name: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
            return 400, cloud_error(400, "config values must be strings"), {}
        missing = [key for key in REQUIRED_PUT_KEYS if key not in body]
        if missing:
            return 400, cloud_error(400, f"missing required configs: {', '.join(missing)}"), {}
        if body["name"] != name:  # ASSUMPTION: the spec does not say what a mismatch answers
            return 400, cloud_error(400, "name in config does not match the connector name"), {}
        plugin = body["connector.class"]
        if plugin not in self.plugins:
            return (
                500,
                {
                    "error_code": 500,
                    "message": "Failed to find any class that implements Connector and which "
                    f"name matches {plugin}",
                },
                {},
            )
        stored = {**SERVER_ADDED, **body}
        existing = self.connectors.get(name)
        if existing is None:
            self.connectors[name] = ManagedConnector(
                config=stored,
                id=f"lcc-{self._next_id:05d}",
                provisioning_polls=self.provisioning_polls,
                tasks_max=int(body.get("tasks.max", "1")),
            )
            self._next_id += 1
        else:
            existing.config = stored
            existing.tasks_max = int(body.get("tasks.max", "1"))
        tasks = [{"connector": name, "task": i} for i in range(self.connectors[name].tasks_max)]
        return 200, {"name": name, "config": self.visible_config(name), "tasks": tasks}, {}

    def _status(self, name: str) -> dict[str, Any]:
        connector = self.connectors[name]
        if connector.state == "PROVISIONING" and connector.provisioning_polls is not None:
            if connector.provisioning_polls <= 0:
                connector.state = "RUNNING"
            else:
                connector.provisioning_polls -= 1
        task_state = {"PROVISIONING": None, "FAILED": "FAILED", "PAUSED": "PAUSED"}.get(
            connector.state, "RUNNING"
        )
        tasks = (
            []
            if task_state is None
            else [
                {"id": i, "msg": "", "state": task_state, "worker_id": name}
                for i in range(connector.tasks_max)
            ]
        )
        return {
            "name": name,
            "connector": {"state": connector.state, "trace": connector.trace, "worker_id": name},
            "tasks": tasks,
            "type": "source"
            if connector.config.get("connector.class", "").endswith("Source")
            else "sink",
        }


@contextmanager
def serve_cloud(fake: FakeConfluentCloud) -> Iterator[FakeConfluentCloud]:
    """Serve the fake on 127.0.0.1 on a free port; `fake.url` is the API's base URL."""

    def respond(
        method: str, path: str, raw: bytes, headers: Mapping[str, str]
    ) -> tuple[int, str, bytes, Mapping[str, str]]:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        status, answer, extra = fake.handle(method, path, body, headers.get("Authorization"))
        payload = b"" if answer is None else json.dumps(answer).encode()
        return status, "application/json", payload, extra

    with serve_on_loopback(respond) as url:
        fake.url = url
        yield fake
