"""The station's outbox: a local SQLite queue that survives crashes and outages.

Rows are committed (`synchronous=FULL`) before delivery is attempted and deleted only after the
server acknowledged them, so nothing acknowledged is lost; observation ids are deterministic and
the server is idempotent by id, so a re-delivery after a crash is never a duplicate.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path


class Spool:
    """A durable FIFO of observation rows keyed by id; safe to use from several threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS outbox ("
                "seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, row TEXT NOT NULL)"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS rejected ("
                "id TEXT PRIMARY KEY, row TEXT NOT NULL, reason TEXT NOT NULL)"
            )
            c.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT)")

    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=30.0)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=FULL")
            self._local.conn = c
        return c

    def put(self, rows: list[dict]) -> int:
        """Enqueue rows (ignoring ids already queued); returns how many were new. Durable."""
        if not rows:
            return 0
        with self._conn() as c:
            before = c.total_changes
            c.executemany(
                "INSERT OR IGNORE INTO outbox (id, row) VALUES (?, ?)",
                [(str(r["id"]), json.dumps(r)) for r in rows],
            )
            return c.total_changes - before

    def peek(self, n: int) -> list[dict]:
        """The oldest `n` rows, not removed."""
        cur = self._conn().execute("SELECT row FROM outbox ORDER BY seq LIMIT ?", (n,))
        return [json.loads(r[0]) for r in cur.fetchall()]

    def ack(self, ids: list[str]) -> None:
        """Remove delivered rows."""
        with self._conn() as c:
            c.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def reject(self, rows: list[dict], reason: str) -> None:
        """Move rows the server refused as invalid aside (kept for inspection, not retried)."""
        with self._conn() as c:
            c.executemany(
                "INSERT OR REPLACE INTO rejected (id, row, reason) VALUES (?, ?, ?)",
                [(str(r["id"]), json.dumps(r), reason) for r in rows],
            )
            c.executemany("DELETE FROM outbox WHERE id = ?", [(str(r["id"]),) for r in rows])

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def rejected(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM rejected").fetchone()[0])

    def get_state(self, key: str, default: str | None = None) -> str | None:
        row = self._conn().execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_state(self, key: str, value: str) -> None:
        with self._conn() as c:
            c.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None
