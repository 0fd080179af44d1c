"""Live updates: a per-hunt publish/subscribe hub and the background fix worker.

The fix worker keeps each hunt's fix current without refitting everything on every insert:
inserts only mark a hunt dirty; the worker waits `debounce_s` so bursts coalesce into one solve,
fuses the latest `window` observations (bounded cost), and warm-starts from the previous fix
(checked against a cold start, `locating.solve_rows`). When the newest observations cannot be
fused, the last good fix stays, marked `stale` with the `reason`. At start-up it solves the
hunts whose newest observations are not in their latest fix (e.g. after a kill mid-solve).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from unseen.errors import UnseenError
from unseen.store import Repo

log = logging.getLogger("unseen.serve")


class Subscription:
    """One subscriber's bounded backlog: when full, the oldest message is dropped and counted;
    the reader then gets `{"type": "lagged", "dropped": n}` where the gap is, before the rest.
    Publishing never blocks and never fails, whatever any one reader does."""

    def __init__(self, size: int):
        self.size = size
        self.items: deque[dict[str, Any]] = deque()
        self.dropped = 0
        self.ready = asyncio.Event()

    def put(self, msg: dict[str, Any]) -> None:
        if len(self.items) >= self.size:
            self.items.popleft()
            self.dropped += 1
        self.items.append(msg)
        self.ready.set()

    async def get(self) -> dict[str, Any]:
        while not self.items and not self.dropped:
            self.ready.clear()
            await self.ready.wait()
        if self.dropped:
            n, self.dropped = self.dropped, 0
            return {"type": "lagged", "dropped": n}
        return self.items.popleft()


class Hub:
    """Fan-out of JSON messages to the WebSocket subscribers of each hunt."""

    def __init__(self, queue_size: int = 256):
        self.queue_size = queue_size
        self.subs: dict[str, set[Subscription]] = defaultdict(set)
        self.loop: asyncio.AbstractEventLoop | None = None

    def subscribe(self, hunt: str) -> Subscription:
        q = Subscription(self.queue_size)
        self.subs[hunt].add(q)
        return q

    def unsubscribe(self, hunt: str, q: Subscription) -> None:
        self.subs[hunt].discard(q)
        if not self.subs[hunt]:
            del self.subs[hunt]

    def publish(self, hunt: str, msg: dict[str, Any]) -> None:
        for q in list(self.subs.get(hunt, ())):
            q.put(msg)

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
        self.failed_seq: dict[str, int] = {}

    def stale(self, hunt: str, fix: dict | None) -> tuple[bool, str | None]:
        """Whether observations newer than `fix` could not be fused, and why."""
        why = self.errors.get(hunt)
        if why is None or (fix is not None and self.failed_seq.get(hunt, 0) <= fix["last_seq"]):
            return False, None
        return True, why

    def behind(self) -> list[str]:
        """Hunts whose newest observation is not in their latest fix."""
        out = []
        for hunt in self.repo.hunts():
            fix = self.repo.latest_fix(hunt)
            if self.repo.last_seq(hunt) > (fix["last_seq"] if fix else 0):
                out.append(hunt)
        return out

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
        try:
            for hunt in await asyncio.to_thread(self.behind):
                self._mark(hunt)
        except Exception:
            log.exception("could not list the hunts to bring up to date")
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
            self.failed_seq[hunt] = last_seq
            msg = {"type": "status", "message": str(exc), "stale": prev is not None,
                   "reason": str(exc), "last_seq": last_seq}  # fmt: skip
            self.hub.publish_threadsafe(hunt, msg)
            return None
        self.errors.pop(hunt, None)
        self.failed_seq.pop(hunt, None)
        self.solves += 1
        stored = self.repo.add_fix(hunt, fix, last_seq=last_seq, n_obs=len(rows))
        self.hub.publish_threadsafe(hunt, {"type": "fix", **stored})
        from unseen.serve.routes.tracks import publish

        publish(self.repo, self.hub, hunt)
        return stored
