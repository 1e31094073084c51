"""The transport against hostile servers on loopback: redirects, gzip bombs, trickling bodies,
and a malformed status entry. Raw sockets, so the server can misbehave exactly."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import requests
import responses

from connect_operator.connect_client import ConnectClient, Deadline, RetryPolicy
from connect_operator.errors import ConnectUnavailable, DeadlineExceeded, UnsafeResponse

CANARY = "CANARY-PASSWORD-IN-A-RENDERED-CONFIG"


@contextmanager
def raw_server(answer: Callable[[socket.socket, bytes], None]) -> Iterator[tuple[str, list[bytes]]]:
    """A loopback server that hands each connection's request to `answer`; yields its URL and
    the requests it received."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(5)
                request = b""
                try:
                    while b"\r\n\r\n" not in request:
                        request += connection.recv(65536)
                    head, _, body = request.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":")[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        0,
                    )
                    while len(body) < length:
                        body += connection.recv(65536)
                    received.append(head + b"\r\n\r\n" + body)
                    answer(connection, request)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", received
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def reply(connection: socket.socket, status: str, body: bytes, *headers: str) -> None:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close", *headers]
    connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def test_a_redirect_is_not_followed_so_the_config_never_reaches_another_host() -> None:
    with raw_server(lambda c, _: reply(c, "201 Created", b"{}")) as (elsewhere, stolen):
        location = f"Location: {elsewhere}/steal"
        with raw_server(lambda c, _: reply(c, "307 Temporary Redirect", b"", location)) as (
            url,
            seen,
        ):
            client = ConnectClient(url, sleep=lambda _: None)
            with pytest.raises(UnsafeResponse, match="redirect, which is never followed"):
                client.put_connector_config("c", {"connection.password": CANARY})
    assert len(seen) == 1 and stolen == []


@pytest.mark.slow  # real CPU or wall-clock bounds: `make test`, not `make test-unit`
def test_a_gzip_bomb_is_refused_after_the_cap_without_filling_memory() -> None:
    decoded = 256 * 1024 * 1024
    bomb = gzip.compress(b"0" * decoded, compresslevel=9)  # about 250 KB on the wire

    def answer(connection: socket.socket, _: bytes) -> None:
        reply(
            connection, "200 OK", bomb, "Content-Encoding: gzip", "Content-Type: application/json"
        )

    with raw_server(answer) as (url, _):
        client = ConnectClient(url, sleep=lambda _: None, max_body_bytes=4 * 1024 * 1024)
        tracemalloc.start()
        try:
            with pytest.raises(UnsafeResponse, match="larger than 4194304 bytes"):
                client.list_connectors_expanded()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, peak


def test_a_gzip_body_within_the_cap_is_decoded() -> None:
    body = gzip.compress(json.dumps({"a": {"info": {"config": {"k": "v"}}}}).encode())

    def answer(connection: socket.socket, _: bytes) -> None:
        reply(
            connection, "200 OK", body, "Content-Encoding: gzip", "Content-Type: application/json"
        )

    with raw_server(answer) as (url, _):
        observed = ConnectClient(url, sleep=lambda _: None).list_connectors_expanded()
    assert observed["a"].config == {"k": "v"}


@pytest.mark.slow  # real CPU or wall-clock bounds: `make test`, not `make test-unit`
@pytest.mark.parametrize("trickle", ["headers", "body"])
def test_a_server_trickling_one_byte_at_a_time_cannot_hold_the_run_past_its_deadline(
    trickle: str,
) -> None:
    payload = b'{"a": {"info": {"config": {}}}}' * 1000
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(payload)}\r\n\r\n".encode()

    def answer(connection: socket.socket, _: bytes) -> None:
        slow, fast = (head + payload, b"") if trickle == "headers" else (payload, head)
        connection.sendall(fast)
        for byte in slow:
            connection.sendall(bytes([byte]))
            time.sleep(0.05)  # each read gets a byte well within any socket timeout

    with raw_server(answer) as (url, _):
        client = ConnectClient(
            url,
            sleep=lambda _: None,
            request_timeout=30,
            deadline=Deadline(2.0),
            retry=RetryPolicy(connection_attempts=2),
        )
        started = time.monotonic()
        with pytest.raises((ConnectUnavailable, DeadlineExceeded)):
            client.list_connectors_expanded()
        # The whole answer would take over 25 minutes; the 2 s deadline bounds it.
        assert time.monotonic() - started < 10.0


@responses.activate
def test_a_malformed_status_entry_fails_only_that_connectors_status() -> None:
    responses.get(
        "http://connect/connectors",
        json={
            "bad": {
                "info": {"config": {"connector.class": "X"}},
                "status": {"connector": {"state": "RUNNING"}, "tasks": [{"id": "zero"}]},
            },
            "good": {
                "info": {"config": {"connector.class": "X"}},
                "status": {
                    "connector": {"state": "RUNNING"},
                    "tasks": [{"id": 0, "state": "RUNNING"}],
                },
            },
        },
    )
    observed = ConnectClient("http://connect", sleep=lambda _: None).list_connectors_expanded()
    assert observed["bad"].status_problem and "zero" in observed["bad"].status_problem
    assert observed["bad"].config == {"connector.class": "X"} and observed["bad"].state is None
    assert observed["good"].state == "RUNNING" and observed["good"].tasks == ((0, "RUNNING"),)


REDIRECT_ADVICE = (
    "the server answered with a redirect, which is never followed: "
    "set CONNECT_URL (or CONFLUENT_CLOUD_API_URL) to the final address"
)


@responses.activate
@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
def test_every_redirect_status_is_refused_with_what_to_set_instead(status: int) -> None:
    # 300 (Multiple Choices) may carry a Location too: it is as much a redirect as 307.
    responses.put(
        "http://connect/connectors/c/config", status=status, headers={"Location": "http://x/"}
    )
    client = ConnectClient("http://connect", sleep=lambda _: None)
    with pytest.raises(UnsafeResponse) as caught:
        client.put_connector_config("c", {"connection.password": CANARY})
    assert str(caught.value) == f"PUT /connectors/c/config -> {status}: {REDIRECT_ADVICE}"
    assert CANARY not in str(caught.value)
    assert len(responses.calls) == 1


@responses.activate
def test_a_body_past_the_cap_is_refused_with_the_cap_it_passed() -> None:
    responses.get("http://connect/connectors", body=b"[" + b'"a",' * 100 + b'"a"]')
    client = ConnectClient("http://connect", sleep=lambda _: None, max_body_bytes=64)
    with pytest.raises(UnsafeResponse) as caught:
        client.list_connectors_expanded()
    # The status line was never trusted: the body was refused before the answer was used.
    assert str(caught.value) == (
        "GET /connectors -> 0: the response body is larger than 64 bytes (decoded);"
        " it was not read further"
    )
    assert len(responses.calls) == 1  # a hostile answer is not asked for again


def test_an_answer_that_does_not_finish_within_the_attempts_budget_is_abandoned() -> None:
    release = threading.Event()

    def stuck(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        release.wait(10)  # a server that holds the answer back
        return 200, {}, "{}"

    # Its own mock, not the module-wide one: the abandoned exchange finishes in its thread
    # after the test, and must not show up among the next test's calls.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, "http://connect/connectors", callback=stuck)
        # The budget of one attempt is its connect and read timeouts together: 0.1 s here.
        client = ConnectClient(
            "http://connect",
            sleep=lambda _: None,
            connect_timeout=0.05,
            request_timeout=0.05,
            retry=RetryPolicy(connection_attempts=1),
        )
        try:
            with pytest.raises(ConnectUnavailable, match=r"GET /connectors: .*timed out"):
                client.list_connectors_expanded()
        finally:
            release.set()


@responses.activate
def test_a_request_asks_only_for_encodings_the_client_decodes_whatever_the_session_says() -> None:
    responses.get("http://connect/connectors", json={})
    session = requests.Session()
    session.headers["Accept-Encoding"] = "br, zstd"  # requests' default when brotli is installed
    ConnectClient("http://connect", session=session).list_connectors_expanded()
    assert responses.calls[0].request.headers["Accept-Encoding"] == "gzip, deflate"
