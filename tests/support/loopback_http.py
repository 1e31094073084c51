"""Serve one function as an HTTP server on a free loopback port, for the test doubles."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (method, path with query, body, headers) -> (status, content type, payload[, headers])
Responder = Callable[
    [str, str, bytes, Mapping[str, str]],
    tuple[int, str, bytes] | tuple[int, str, bytes, Mapping[str, str]],
]


@contextmanager
def serve_on_loopback(respond: Responder) -> Iterator[str]:
    """Answer every request with `respond`, one call at a time; yields the base URL."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold each body back by 40 ms.
        disable_nagle_algorithm = True

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                answer = respond(self.command, self.path, body, dict(self.headers.items()))
            status, content_type, payload = answer[:3]
            extra_headers: Mapping[str, str] = answer[3] if len(answer) > 3 else {}
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in extra_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _answer  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # serve_forever polls for shutdown every poll_interval: 0.5 s by default, paid by every
    # test that stops a server.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
