"""Protections at the edge: failed-authentication rate limit, request-body read timeout, and
per-connection header timeout for uvicorn (it has none of its own for a fresh connection)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque


class AuthLimiter:
    """At most `failures` unknown tokens per client address within `window_s`; then that
    address is refused (429) until its oldest failure leaves the window. Bounded memory."""

    def __init__(self, failures: int = 20, window_s: float = 60.0, max_addresses: int = 10_000):
        self.failures = failures
        self.window_s = window_s
        self.max_addresses = max_addresses
        self.seen: dict[str, deque[float]] = {}

    def _recent(self, addr: str, now: float) -> deque[float]:
        q = self.seen.get(addr)
        if q is None:
            return deque()
        while q and now - q[0] >= self.window_s:
            q.popleft()
        if not q:
            del self.seen[addr]
        return q

    def retry_after(self, addr: str) -> float | None:
        """Seconds until `addr` may try again, None when it is not blocked."""
        now = time.monotonic()
        q = self._recent(addr, now)
        if len(q) < self.failures:
            return None
        return max(self.window_s - (now - q[0]), 0.0)

    def fail(self, addr: str) -> None:
        now = time.monotonic()
        if addr not in self.seen and len(self.seen) >= self.max_addresses:
            for a in list(self.seen)[: self.max_addresses // 10]:
                self._recent(a, now)
            if len(self.seen) >= self.max_addresses:
                self.seen.pop(next(iter(self.seen)))
        q = self.seen.setdefault(addr, deque())
        q.append(now)
        if len(q) > self.failures:
            q.popleft()


class BodyTimeout:
    """Pure ASGI middleware: a request whose next body chunk takes over `timeout_s` gets 408
    and the connection is closed (one slow client holds one connection, never the server)."""

    def __init__(self, app, timeout_s: float):
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def timed_receive():
            try:
                return await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                raise _SlowBodyError from None

        async def tracked_send(msg):
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except _SlowBodyError:
            if started:
                raise
            body = json.dumps(
                {"detail": f"request body: nothing received for {self.timeout_s:g} s"}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 408,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(body)),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


class _SlowBodyError(Exception):
    pass


def header_timeout_protocol(base: type, timeout_s: float) -> type:
    """A uvicorn HTTP protocol class that closes a connection whose request headers are not
    complete within `timeout_s` of the connection opening or of the previous response.

    uvicorn's own `timeout_keep_alive` starts only after a first response, so a client that
    connects and sends nothing (or half a header) would otherwise hold its slot forever.
    """

    class HeaderTimeout(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport):
            super().connection_made(transport)
            self._header_deadline = self.loop.call_later(timeout_s, self._header_expired)

        def _header_expired(self):
            if self.cycle is None or self.cycle.response_complete:
                self.transport.close()

        def on_response_complete(self):
            super().on_response_complete()
            self._rearm()

        def _rearm(self):
            h = getattr(self, "_header_deadline", None)
            if h is not None:
                h.cancel()
            if not self.transport.is_closing():
                self._header_deadline = self.loop.call_later(timeout_s, self._header_expired)

        def handle_websocket_upgrade(self, event):
            h = getattr(self, "_header_deadline", None)
            if h is not None:
                h.cancel()  # the connection now belongs to the WebSocket protocol
            super().handle_websocket_upgrade(event)

        def connection_lost(self, exc):
            h = getattr(self, "_header_deadline", None)
            if h is not None:
                h.cancel()
            super().connection_lost(exc)

    HeaderTimeout.__name__ = f"HeaderTimeout{base.__name__}"
    return HeaderTimeout
