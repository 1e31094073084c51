"""A recording HTTP proxy in front of a real Connect worker.

The integration suite points the hook at this proxy, which forwards every request unchanged to
the worker and records method, path and status. That is how a test proves that an unchanged
state makes zero writes, or that 409s during a rebalance were retried, against the real thing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests

from tests.support.loopback_http import serve_on_loopback


@dataclass(frozen=True)
class Exchange:
    """One forwarded request and the status the worker answered (0: no answer)."""

    method: str
    path: str
    status: int

    @property
    def is_write(self) -> bool:
        """True for requests that change Connect (a config validation changes nothing)."""
        if self.path.split("?")[0].endswith("/config/validate"):
            return False
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


@contextmanager
def recording_proxy(upstream: str) -> Iterator[RecordingProxy]:
    """Serve a recording proxy to `upstream` on a free loopback port."""
    proxy = RecordingProxy(upstream=upstream.rstrip("/"))
    session = requests.Session()

    def forward(
        method: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, str, bytes]:
        sent = {k: v for k, v in headers.items() if k.lower() != "host"}
        try:
            answer = session.request(
                method, proxy.upstream + path, data=body or None, headers=sent, timeout=120
            )
        except requests.RequestException:
            proxy.exchanges.append(Exchange(method, path, 0))
            return 502, "text/plain", b""
        proxy.exchanges.append(Exchange(method, path, answer.status_code))
        content_type = answer.headers.get("Content-Type", "application/json")
        return answer.status_code, content_type, answer.content

    with serve_on_loopback(forward) as url:
        proxy.url = url
        yield proxy
