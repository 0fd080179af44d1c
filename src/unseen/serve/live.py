"""Live updates: a per-hunt publish/subscribe hub and the background fix worker.

The fix worker keeps each hunt's fix current without refitting everything on every insert:
inserts only mark a hunt dirty; the worker waits `debounce_s` so bursts coalesce into one solve,
fuses the latest `window` observations (bounded cost), and warm-starts from the previous fix.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from unseen.errors import UnseenError
from unseen.store import Repo

log = logging.getLogger("unseen.serve")


class Hub:
    """Fan-out of JSON messages to the WebSocket subscribers of each hunt."""

    def __init__(self, queue_size: int = 256):
        self.queue_size = queue_size
        self.subs: dict[str, set[asyncio.Queue]] = defaultdict(set)
        self.loop: asyncio.AbstractEventLoop | None = None

    def subscribe(self, hunt: str) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(self.queue_size)
        self.subs[hunt].add(q)
        return q

    def unsubscribe(self, hunt: str, q: asyncio.Queue) -> None:
        self.subs[hunt].discard(q)

    def publish(self, hunt: str, msg: dict[str, Any]) -> None:
        for q in list(self.subs.get(hunt, ())):
            if q.full():
                q.get_nowait()
                q.put_nowait({"type": "lagged"})
            q.put_nowait(msg)

    def publish_threadsafe(self, hunt: str, msg: dict[str, Any]) -> None:
        if self.loop is not None and self.subs.get(hunt):
            self.loop.call_soon_threadsafe(self.publish, hunt, msg)


class FixWorker:
    """Recomputes a hunt's fix in the background after new observations (see module doc)."""

    def __init__(
        self,
        repo: Repo,
        hub: Hub,
        solve_rows: Callable[[list[dict], tuple[float, float] | None, str], dict],
        *,
        debounce_s: float = 0.2,
        window: int = 400,
    ):
        self.repo = repo
        self.hub = hub
        self.solve_rows = solve_rows
        self.debounce_s = debounce_s
        self.window = window
        self.dirty: set[str] = set()
        self.event: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.solves = 0
        self.errors: dict[str, str] = {}

    def mark(self, hunt: str) -> None:
        """Note that `hunt` has new observations (safe from any thread)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._mark, hunt)

    def _mark(self, hunt: str) -> None:
        self.dirty.add(hunt)
        if self.event is not None:
            self.event.set()

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()
        while True:
            await self.event.wait()
            await asyncio.sleep(self.debounce_s)
            self.event.clear()
            hunts, self.dirty = self.dirty, set()
            for hunt in hunts:
                try:
                    await asyncio.to_thread(self.update, hunt)
                except Exception:  # the worker must outlive any one bad solve
                    log.exception("fix update failed for hunt %r", hunt)

    def update(self, hunt: str) -> dict | None:
        """Solve `hunt` from its latest observations, store and publish the fix."""
        rows = self.repo.observations(hunt, latest=True, limit=self.window)
        if not rows:
            return None
        last_seq = rows[-1]["seq"]
        prev = self.repo.latest_fix(hunt)
        if prev is not None and prev["last_seq"] >= last_seq:
            return prev
        initial = (prev["lat"], prev["lon"]) if prev else None
        try:
            fix = self.solve_rows(rows, initial, hunt)
        except UnseenError as exc:
            self.errors[hunt] = str(exc)
            self.hub.publish_threadsafe(hunt, {"type": "status", "message": str(exc)})
            return None
        self.errors.pop(hunt, None)
        self.solves += 1
        stored = self.repo.add_fix(hunt, fix, last_seq=last_seq, n_obs=len(rows))
        self.hub.publish_threadsafe(hunt, {"type": "fix", **stored})
        from unseen.serve.routes.tracks import publish

        publish(self.repo, self.hub, hunt)
        return stored
