"""A recording HTTP proxy in front of a real Connect worker.

The integration suite points the hook at this proxy, which forwards every request unchanged to
the worker and records method, path and status. That is how a test proves that an unchanged
state makes zero writes, or that 409s during a rebalance were retried, against the real thing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


@dataclass(frozen=True)
class Exchange:
    """One forwarded request and the status the worker answered (0: no answer)."""

    method: str
    path: str
    status: int

    @property
    def is_write(self) -> bool:
        """True for requests that change Connect."""
        return self.method in ("PUT", "POST", "DELETE", "PATCH")


@dataclass
class RecordingProxy:
    """Forwards to `upstream`; `url` is where to send requests; `exchanges` what happened."""

    upstream: str
    url: str = ""
    exchanges: list[Exchange] = field(default_factory=list)

    def writes(self) -> list[Exchange]:
        """Every forwarded request that changes Connect."""
        return [e for e in self.exchanges if e.is_write]

    def statuses(self) -> list[int]:
        """The statuses answered, in order."""
        return [e.status for e in self.exchanges]


def _handler_for(proxy: RecordingProxy) -> type[BaseHTTPRequestHandler]:
    session = requests.Session()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
            try:
                answer = session.request(
                    self.command,
                    proxy.upstream + self.path,
                    data=body,
                    headers=headers,
                    timeout=120,
                )
            except requests.RequestException:
                with lock:
                    proxy.exchanges.append(Exchange(self.command, self.path, 0))
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with lock:
                proxy.exchanges.append(Exchange(self.command, self.path, answer.status_code))
            payload = answer.content
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _forward  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def recording_proxy(upstream: str) -> Iterator[RecordingProxy]:
    """Serve a recording proxy to `upstream` on a free loopback port."""
    proxy = RecordingProxy(upstream=upstream.rstrip("/"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(proxy))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
