"""A small, strict client for the Kafka Connect REST API and Confluent Cloud's `connect/v1`.

One method per endpoint, named after it; each docstring starts with the HTTP call. Every call
has a timeout bounded by the run's `Deadline`. Only what is safe and brief is retried: 409 and
Connect's "rebalance is expected" 500 (a rebalance is under way), 502/503/504, connection
failures, with exponential backoff, and 429 after the `Retry-After` the server asked for, when
that wait fits in the run deadline. Errors carry the method, path, status and the server's own
message (Connect's `{"error_code", "message"}`, Confluent Cloud's `{"error": {"code",
"message"}}` or `{"code", "message"}`), scrubbed of secrets; never the request body. 401/403 say
which credentials to check, never their values. No `requests` exception escapes.

The transport trusts no server: redirects are not followed (a 3xx is an `UnsafeResponse`), a
body is read as a stream and refused past `max_body_bytes` once decoded (a gzip bomb is stopped
after that many bytes, not after it has filled the memory), and each attempt runs against a
wall clock bounded by the run deadline, so a server that trickles one byte a second cannot hold
the hook past its deadline (socket timeouts bound each read, not the whole answer).

The two dialects (`TargetKind`) differ where the client must know: the expanded listing's query,
`name` in the PUT body, and DELETE's `{"error": ...}` answer. Whether a PUT created or updated a
connector comes from the plan, never from the status code (Confluent Cloud answers 200 to both).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any
from urllib.parse import quote

import requests

from connect_operator.errors import (
    ConnectHTTPError,
    ConnectOperatorError,
    ConnectRejected,
    ConnectServerError,
    ConnectUnavailable,
    DeadlineExceeded,
    UnsafeResponse,
    classify_http_error,
)
from connect_operator.normalize import normalise
from connect_operator.redaction import Redactor
from connect_operator.settings import Settings
from connect_operator.targets import Target, TargetKind

log = logging.getLogger(__name__)

# The most a response body may hold once decoded: an expanded listing of 20 000 connectors
# is a few tens of MB.
MAX_BODY_BYTES = 128 * 1024 * 1024

_RETRY_STATUSES = frozenset({409, 502, 503, 504})
# 500s that say the cluster is moving, not that the request is wrong: a rebalance is expected,
# or the leader this worker forwards to has just died (until the group notices, ~10 s).
_RETRY_500_MARKERS = ("rebalance", "IO Error trying to forward REST request")
# Apache Connect repeats the key and ignores `info,status`; Confluent Cloud documents one
# comma-joined value (its OpenAPI path is literally `/connectors?expand=info,status,id`).
_LIST_EXPAND = {
    TargetKind.SELF_MANAGED: [("expand", "info"), ("expand", "status")],
    TargetKind.CONFLUENT_CLOUD: [("expand", "info,status,id")],
}


@dataclass(frozen=True)
class ConnectorStatus:
    """`GET /connectors/{name}/status`: the connector's state, its trace if FAILED (redacted),
    and its tasks' states."""

    state: str | None
    trace: str | None
    tasks: tuple[tuple[int, str], ...] = ()
    type: str | None = None
    # The trace of the first FAILED task (by id), when a task failed.
    task_trace: str | None = None


@dataclass(frozen=True)
class ConfigValidation:
    """`PUT /connector-plugins/{plugin}/config/validate`: how many errors the plugin found in a
    config, and each error as (config key, message), messages redacted."""

    error_count: int
    errors: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ObservedConnector:
    """A connector as the target's expanded `GET /connectors` reports it.

    `config` is None when the listing carried none (a server that ignores `expand`): such a
    connector must never be planned from it. `status_problem` says why its status could not be
    read (a malformed entry): then `state` and `tasks` are unknown, and only this connector's
    report suffers. `id` is Confluent Cloud's `lcc-` id; `trace` the reason of a FAILED
    connector, already redacted.
    """

    name: str
    config: Mapping[str, str] | None
    state: str | None = None
    tasks: tuple[tuple[int, str], ...] = ()
    type: str | None = None
    status_problem: str | None = None
    id: str | None = None
    trace: str | None = None
    # The first FAILED task's trace, redacted (a task can fail while its connector runs).
    task_trace: str | None = None

    @cached_property
    def normalised_config(self) -> dict[str, str] | None:
        """`normalise(config)`, worked out once: the render cache and the plan both use it."""
        return None if self.config is None else normalise(self.config)


class Deadline:
    """The time left for the whole run; shell-operator has no hook timeout of its own."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ends_at = clock() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._ends_at - self._clock())

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self.remaining() <= 0.0

    def share(self, seconds: float) -> Deadline:
        """A deadline `seconds` from now, never later than this one."""
        return Deadline(min(seconds, self.remaining()), self._clock)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry (Strimzi uses 200 ms, x2, 10 tries)."""

    attempts: int = 10
    first_delay: float = 0.2
    factor: float = 2.0
    max_delay: float = 5.0
    # Connection failures: a worker restarting. Fewer tries, they are slow.
    connection_attempts: int = 3

    def delay(self, attempt: int) -> float:
        """Seconds to sleep after the given (1-based) failed attempt."""
        return float(min(self.max_delay, self.first_delay * self.factor ** (attempt - 1)))


class ConnectClient:
    """Talks to one Connect REST endpoint."""

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        auth: tuple[str, str] | None = None,
        connect_timeout: float = 5.0,
        request_timeout: float = 30.0,
        deadline: Deadline | None = None,
        retry: RetryPolicy = RetryPolicy(),
        redactor: Redactor | None = None,
        sleep: Callable[[float], None] = time.sleep,
        kind: TargetKind = TargetKind.SELF_MANAGED,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.kind = kind
        self._session = session or requests.Session()
        self._auth = auth
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._deadline = deadline or Deadline(3600.0)
        self._retry = retry
        self._redact = redactor or Redactor(frozenset())
        self._sleep = sleep
        self._max_body_bytes = max_body_bytes
        self._initial_state: bool | None = None
        self.requests_sent = 0

    # -- endpoints ---------------------------------------------------------------------------

    def list_connectors_expanded(self) -> dict[str, ObservedConnector]:
        """`GET /connectors?expand=...`: every connector with its config and state, in one call.

        The query is the target's own form (see `_LIST_EXPAND`); Confluent Cloud also gives each
        connector's `lcc-` id. A server that ignores `expand` answers names only: those come back
        with `config=None`, and must not be compared before `get_connector_config`.
        """
        body = self._call("GET", "/connectors", params=_LIST_EXPAND[self.kind])
        if isinstance(body, list):  # a server that ignores expand: names only
            return {str(name): ObservedConnector(name=str(name), config=None) for name in body}
        if not isinstance(body, dict):
            raise ConnectServerError("GET", "/connectors", 200, "response is not a JSON object")
        return {str(name): self._observed(str(name), item) for name, item in body.items()}

    def get_connector_config(self, name: str) -> dict[str, str]:
        """`GET /connectors/{name}/config`: the connector's config as the server shows it."""
        path = f"/connectors/{_segment(name)}/config"
        body = self._call("GET", path)
        if not isinstance(body, dict):
            raise ConnectServerError("GET", path, 200, "config is not a JSON object")
        return {str(key): str(value) for key, value in body.items()}

    def get_connector_status(self, name: str) -> ConnectorStatus:
        """`GET /connectors/{name}/status`: state, traces (redacted) and task states."""
        path = f"/connectors/{_segment(name)}/status"
        try:
            status = _status(self._call("GET", path))
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConnectServerError("GET", path, 200, f"malformed status: {exc}") from None
        return replace(
            status,
            trace=self._redact(status.trace) if status.trace else None,
            task_trace=self._redact(status.task_trace) if status.task_trace else None,
        )

    def put_connector_config(
        self, name: str, config: Mapping[str, str], secrets: frozenset[str] = frozenset()
    ) -> None:
        """`PUT /connectors/{name}/config`: create or update.

        On Confluent Cloud the flat config must carry `name` (the spec requires it). Whether this
        created or updated the connector is for the caller's plan to say: Confluent Cloud
        answers 200 to both, Apache Connect 201 and 200.
        """
        body = dict(config)
        if self.kind is TargetKind.CONFLUENT_CLOUD:
            body["name"] = name
        self._request("PUT", f"/connectors/{_segment(name)}/config", json=body, secrets=secrets)

    def create_connector(
        self,
        name: str,
        config: Mapping[str, str],
        initial_state: str,
        secrets: frozenset[str] = frozenset(),
    ) -> None:
        """`POST /connectors` with `{"name", "config", "initial_state"}`: create a connector
        directly in `RUNNING`, `PAUSED` or `STOPPED` (Kafka Connect 3.7+, KIP-980), so it never
        runs when it should not. 201; 409 when it exists already."""
        body = {"name": name, "config": dict(config), "initial_state": initial_state}
        self._request("POST", "/connectors", json=body, secrets=secrets)

    def server_version(self) -> str:
        """`GET /`: the worker's version (`"version": "4.1.2"`, or Confluent Platform's
        `"7.7.0-ccs"`), "" when it says none."""
        body = self._call("GET", "/")
        version = _object(body).get("version")
        return str(version) if isinstance(version, str) else ""

    def supports_initial_state(self) -> bool:
        """True when `POST /connectors` takes `initial_state` (KIP-980): Apache Kafka 3.7+, or
        Confluent Platform 7.7+ (which ships Kafka 3.7). Asked once per client; a version it
        cannot read counts as False (then a connector is created, then paused or stopped)."""
        if self._initial_state is None:
            self._initial_state = self.kind is TargetKind.SELF_MANAGED and _has_initial_state(
                self.server_version()
            )
        return self._initial_state

    def delete_connector(self, name: str) -> bool:
        """`DELETE /connectors/{name}`: True when it existed, False when it was already gone.

        Confluent Cloud answers 200 with `{"error": null}`; a non-null `error` means the delete
        failed (the connector is still there), and is raised as `ConnectRejected`.
        """
        path = f"/connectors/{_segment(name)}"
        try:
            response = self._request("DELETE", path)
        except ConnectHTTPError as exc:
            if exc.status == 404:
                return False
            raise
        error = _body_field(response, "error")
        if error is not None:
            message = _describe_error_value(error)
            raise ConnectRejected(
                "DELETE", path, response.status_code, self._redact(f"delete failed: {message}")
            )
        return True

    def pause_connector(self, name: str) -> None:
        """`PUT /connectors/{name}/pause`: asynchronous (202); the state follows later."""
        self._request("PUT", f"/connectors/{_segment(name)}/pause")

    def resume_connector(self, name: str) -> None:
        """`PUT /connectors/{name}/resume`: asynchronous (202); the state follows later."""
        self._request("PUT", f"/connectors/{_segment(name)}/resume")

    def stop_connector(self, name: str) -> None:
        """`PUT /connectors/{name}/stop`: self-managed Connect 3.5+ only (204); Confluent Cloud
        has no such endpoint."""
        self._request("PUT", f"/connectors/{_segment(name)}/stop")

    def restart_connector(self, name: str) -> None:
        """`POST /connectors/{name}/restart?includeTasks=true&onlyFailed=true`: restart the
        connector and its tasks, only those that are FAILED (Kafka 3.0+, KIP-745); 202 or 204."""
        self._request(
            "POST",
            f"/connectors/{_segment(name)}/restart",
            params=[("includeTasks", "true"), ("onlyFailed", "true")],
        )

    def list_connector_plugins(self) -> tuple[tuple[str, str], ...]:
        """`GET /connector-plugins?connectorsOnly=true`: each installed connector plugin's class
        and version, sorted."""
        body = self._call("GET", "/connector-plugins", params=[("connectorsOnly", "true")])
        if not isinstance(body, list):
            raise ConnectServerError("GET", "/connector-plugins", 200, "answer is not a list")
        return tuple(
            sorted(
                (str(_object(item).get("class", "")), str(_object(item).get("version", "")))
                for item in body
            )
        )

    def validate_connector_plugin_config(
        self, plugin: str, config: Mapping[str, str], secrets: frozenset[str] = frozenset()
    ) -> ConfigValidation:
        """`PUT /connector-plugins/{plugin}/config/validate`: check a config, change nothing.

        Connect answers 200 with `error_count` and, per config key, `value.errors`; a plugin it
        does not have is a 500 (`ConnectRejected`, as for a PUT of its config). Messages may echo
        values, so they are scrubbed of secrets like any error.
        """
        path = f"/connector-plugins/{_segment(plugin)}/config/validate"
        answer = _object(self._call("PUT", path, json=dict(config), secrets=secrets))
        redact = self._redact.extended(secrets) if secrets else self._redact
        errors: list[tuple[str, str]] = []
        for item in answer.get("configs") or []:
            value = _object(_object(item).get("value"))
            for message in value.get("errors") or []:
                errors.append((str(value.get("name", "")), redact(str(message))))
        count = answer.get("error_count")
        if isinstance(count, bool) or not isinstance(count, int):
            raise ConnectServerError("PUT", path, 200, "answer has no error_count")
        return ConfigValidation(error_count=count, errors=tuple(errors))

    # -- parsing -----------------------------------------------------------------------------

    def _observed(self, name: str, item: Any) -> ObservedConnector:
        # Built in one go (no `replace`): a listing has one entry per connector, every run.
        if not isinstance(item, dict):
            return ObservedConnector(
                name=name, config=None, status_problem="entry is not an object"
            )
        info = _object(item.get("info"))
        config = info.get("config")
        connector_type = info.get("type")
        connector_id = _object(item.get("id")).get("id")
        try:
            status = _status(item.get("status") or {})
        except (TypeError, ValueError, AttributeError) as exc:
            status, problem = None, f"malformed status: {exc}"
        return ObservedConnector(
            name=name,
            config=_strings(config) if isinstance(config, dict) else None,
            type=str(connector_type)
            if connector_type
            else (status.type if status is not None else None),
            id=str(connector_id) if connector_id else None,
            state=status.state if status is not None else None,
            tasks=status.tasks if status is not None else (),
            status_problem=None if status is not None else problem,
            trace=self._redact(status.trace) if status is not None and status.trace else None,
            task_trace=self._redact(status.task_trace)
            if status is not None and status.task_trace
            else None,
        )

    # -- transport ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ConnectServerError(
                method, path, response.status_code, "response is not JSON"
            ) from None

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json: Any = None,
        secrets: frozenset[str] = frozenset(),
    ) -> requests.Response:
        redact = self._redact.extended(secrets) if secrets else self._redact
        attempt = 0
        connection_failures = 0
        while True:
            attempt += 1
            remaining = self._deadline.remaining()
            if remaining <= 0:
                raise DeadlineExceeded(f"run deadline passed before {method} {path}")
            timeout = (min(self._connect_timeout, remaining), min(self._request_timeout, remaining))
            # The whole attempt, headers and body, must finish within this wall-clock budget.
            budget = min(self._connect_timeout + self._request_timeout, remaining)
            try:
                self.requests_sent += 1
                response = self._send(
                    budget,
                    method,
                    self.base_url + path,
                    params=params,
                    json=json,
                    auth=self._auth,
                    timeout=timeout,
                    headers={"Accept": "application/json", "Accept-Encoding": "gzip, deflate"},
                    allow_redirects=False,
                    stream=True,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                connection_failures += 1
                problem = _describe_transport_error(exc)
                if connection_failures >= self._retry.connection_attempts:
                    raise ConnectUnavailable(
                        f"{method} {path}: cannot reach {self._safe_base_url()}: {problem}"
                    ) from None
                self._pause(connection_failures, f"{method} {path}: {problem}")
                continue
            except requests.RequestException as exc:
                raise ConnectUnavailable(
                    f"{method} {path}: request failed: {type(exc).__name__}"
                ) from None
            except _BodyTooLarge:
                raise UnsafeResponse(
                    method,
                    path,
                    0,
                    f"the response body is larger than {self._max_body_bytes} bytes (decoded);"
                    " it was not read further",
                ) from None
            if 300 <= response.status_code < 400:
                # Following it would re-send this request, a rendered config with its
                # passwords included, to wherever the server points.
                raise UnsafeResponse(
                    method,
                    path,
                    response.status_code,
                    "the server answered with a redirect, which is never followed: "
                    "set CONNECT_URL (or CONFLUENT_CLOUD_API_URL) to the final address",
                )
            if response.status_code < 400:
                return response
            message = redact(_error_message(response))
            if response.status_code == 429:
                delay = _retry_after(response)
                wait = self._retry.delay(attempt) if delay is None else delay
                if attempt < self._retry.attempts and wait <= self._deadline.remaining():
                    log.info("%s %s: rate limited, retrying in %.1fs", method, path, wait)
                    if wait > 0:
                        self._sleep(wait)
                    continue
                raise ConnectServerError(
                    method,
                    path,
                    429,
                    f"rate limited: retry after {wait:.0f}s does not fit in the run deadline"
                    if attempt < self._retry.attempts
                    else f"rate limited {attempt} times in a row",
                )
            if response.status_code in (401, 403):
                raise classify_http_error(
                    method, path, response.status_code, self._credentials_problem(message)
                )
            starting = _is_worker_starting(response)
            error = classify_http_error(
                method, path, response.status_code, message, from_connect=not starting
            )
            if (starting or _retryable(response.status_code, message)) and (
                attempt < self._retry.attempts
            ):
                self._pause(attempt, str(error))
                continue
            raise error

    def _send(self, budget: float, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP exchange, body read and capped, within `budget` seconds of wall clock.

        The exchange runs in a daemon thread; if it has not finished in time, the connection is
        shut down and the thread left behind (it holds nothing the run needs)."""
        outcome: list[requests.Response | BaseException] = []
        pending: list[requests.Response] = []
        finished = threading.Event()

        def exchange() -> None:
            try:
                response = self._session.request(method, url, **kwargs)
                pending.append(response)
                body = _read_capped(response, self._max_body_bytes)
                # requests keeps a read body in _content; .json() and .text read it from there.
                response._content = body
                setattr(response, "_content_consumed", True)  # noqa: B010 - not in the stubs
                outcome.append(response)
            except BaseException as exc:  # handed to the caller's thread
                outcome.append(exc)
            finally:
                finished.set()

        threading.Thread(target=exchange, name="connect-request", daemon=True).start()
        if not finished.wait(budget):
            for response in pending:
                _shut_down(response)
            raise requests.Timeout(f"no complete answer within {budget:.1f}s")
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def _pause(self, attempt: int, why: str) -> None:
        delay = min(self._retry.delay(attempt), self._deadline.remaining())
        log.debug("retrying in %.1fs after %s", delay, why)
        if delay > 0:
            self._sleep(delay)

    def _credentials_problem(self, message: str) -> str:
        if self.kind is TargetKind.CONFLUENT_CLOUD:
            return (
                f"Confluent Cloud refused the Cloud API key ({message}): check that "
                "CONNECT_REST_KEY and CONNECT_REST_SECRET hold a Cloud API key (not a Kafka "
                "cluster key) that may manage connectors on this cluster"
            )
        return f"Connect refused our credentials ({message}): check CONNECT_URL's authentication"

    def _safe_base_url(self) -> str:
        # Drop user-info: a URL such as http://user:pass@host must not reach a log line.
        scheme, _, rest = self.base_url.partition("://")
        return f"{scheme}://{rest.rsplit('@', 1)[-1]}"


_CHUNK = 64 * 1024


class _BodyTooLarge(Exception):
    """The decoded body passed the cap."""


def _read_capped(response: requests.Response, cap: int) -> bytes:
    """The body, decoded (gzip or deflate) as it streams in, refused past `cap` bytes."""
    try:
        return _read_and_decode(response, cap)
    except zlib.error as exc:
        raise requests.exceptions.ContentDecodingError(f"cannot decode the body: {exc}") from None


def _read_and_decode(response: requests.Response, cap: int) -> bytes:
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    decoder: Any = None
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding not in ("", "identity"):
        raise requests.exceptions.ContentDecodingError(f"unsupported Content-Encoding {encoding!r}")
    body = bytearray()
    while True:
        chunk = response.raw.read(_CHUNK, decode_content=False)
        if not chunk:
            break
        if decoder is None:
            body += chunk
        else:
            # max_length keeps one compressed chunk from expanding past the cap in memory.
            body += decoder.decompress(chunk, cap + 1 - len(body))
            while decoder.unconsumed_tail and len(body) <= cap:
                body += decoder.decompress(decoder.unconsumed_tail, cap + 1 - len(body))
        if len(body) > cap:
            response.close()
            raise _BodyTooLarge
    if decoder is not None:
        body += decoder.flush()
        if len(body) > cap:
            raise _BodyTooLarge
    return bytes(body)


def _shut_down(response: requests.Response) -> None:
    """Interrupt a read blocked on this response's socket (close alone may not)."""
    try:
        connection = getattr(response.raw, "_connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        response.close()
    except OSError:
        pass


def client_for_target(
    target: Target,
    settings: Settings,
    deadline: Deadline,
    *,
    session: requests.Session | None = None,
    redactor: Redactor | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ConnectClient:
    """The client of one target, with the timeouts the settings name."""
    return ConnectClient(
        target.base_url,
        session=session,
        auth=target.auth,
        connect_timeout=settings.connect_timeout,
        request_timeout=settings.request_timeout,
        deadline=deadline,
        redactor=redactor,
        sleep=sleep,
        kind=target.kind,
    )


def _retryable(status: int, message: str) -> bool:
    if status in _RETRY_STATUSES:
        return True
    return status == 500 and any(marker in message for marker in _RETRY_500_MARKERS)


def _is_worker_starting(response: requests.Response) -> bool:
    """A worker answers 404 with no JSON before its REST resources exist (Jetty is up first);
    Connect's own 404s always carry `{"error_code": 404, ...}`."""
    if response.status_code != 404:
        return False
    try:
        return not isinstance(response.json(), dict)
    except ValueError:
        return True


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] if text else response.reason or "no message"
    if isinstance(body, dict):
        for field in ("message", "error", "detail"):
            value = body.get(field)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("detail") or errors[0].get("title") or errors[0])
    return str(body)[:300]


def _retry_after(response: requests.Response) -> float | None:
    """`Retry-After` in seconds (Confluent Cloud sends an integer); None when absent or a date."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _body_field(response: requests.Response, field: str) -> Any:
    """One field of a JSON object body; None when there is no body, or it is not an object."""
    if not response.content:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get(field) if isinstance(body, dict) else None


def _describe_error_value(error: Any) -> str:
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail")
        code = error.get("code") or error.get("error_code")
        if message:
            return f"{message} (code {code})" if code else str(message)
        return json.dumps(error, sort_keys=True)[:300] if error else "error {}"
    return str(error)[:300]


def _has_initial_state(version: str) -> bool:
    """Kafka 3.7+ (`3.7.0`, `4.1.2`), or Confluent Platform 7.7+ (`7.7.0-ccs`: 5 and above)."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match:
        return False
    major, minor = int(match.group(1)), int(match.group(2))
    if major >= 5:  # Confluent Platform numbers its releases on: CP 7.7 ships Kafka 3.7
        return (major, minor) >= (7, 7)
    return (major, minor) >= (3, 7)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_ONLY_STRINGS = frozenset({str})


def _strings(config: dict[Any, Any]) -> dict[str, str]:
    """A JSON object's values as strings (Connect sends them so: then the object itself)."""
    if _ONLY_STRINGS.issuperset(map(type, config.values())):
        return config  # JSON object keys are always strings
    return {str(key): str(value) for key, value in config.items()}


def _segment(name: str) -> str:
    return quote(name, safe="")


def _describe_transport_error(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return "connection failed" if "refused" not in str(exc) else "connection refused"


def _status(status: Any) -> ConnectorStatus:
    """State, trace (not yet redacted), tasks and type from a status object; TypeError or
    ValueError when it is malformed."""
    if not isinstance(status, dict):
        raise TypeError("status is not an object")
    connector = status.get("connector") or {}
    if not isinstance(connector, dict):
        raise TypeError("status.connector is not an object")
    state = connector.get("state")
    trace = connector.get("trace")
    tasks: list[tuple[int, str]] = []
    task_traces: list[tuple[int, str]] = []
    raw_tasks = status.get("tasks") or []
    if not isinstance(raw_tasks, list):
        raise TypeError("status.tasks is not a list")
    for task in raw_tasks:
        if not isinstance(task, dict):
            raise TypeError("a task is not an object")
        task_id = task.get("id", len(tasks))
        if isinstance(task_id, bool) or not isinstance(task_id, int | str):
            raise TypeError(f"task id {task_id!r} is not a number")
        tasks.append((int(task_id), str(task.get("state", "UNKNOWN"))))
        if task.get("state") == "FAILED" and task.get("trace"):
            task_traces.append((int(task_id), str(task["trace"])))
    status_type = status.get("type")
    return ConnectorStatus(
        state=str(state) if state else None,
        trace=str(trace) if trace else None,
        tasks=tuple(sorted(tasks)),
        type=str(status_type) if status_type else None,
        task_trace=min(task_traces)[1] if task_traces else None,
    )


__all__ = [
    "ConfigValidation",
    "ConnectClient",
    "ConnectOperatorError",
    "ConnectorStatus",
    "Deadline",
    "ObservedConnector",
    "RetryPolicy",
]
