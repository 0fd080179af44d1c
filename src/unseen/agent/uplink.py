"""Delivery to the server: POST batches, back off exponentially with jitter while it is away."""

from __future__ import annotations

import random

import httpx

from unseen.errors import ConfigError


class TransientError(Exception):
    """The server is unreachable or busy: keep the rows and retry later."""


class RejectedError(Exception):
    """The server refused the batch as invalid (4xx other than auth): retrying will not help."""


def backoff_s(attempt: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Delay before retry `attempt` (0-based): d = min(max_s, initial_s·2^attempt), drawn
    uniformly in [d/2, d] ("equal jitter": never zero, never past the cap)."""
    d = min(max_s, initial_s * 2.0 ** min(attempt, 60))
    return d / 2.0 + rng.random() * d / 2.0


class Uplink:
    """A station's connection to the server's observation endpoint."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 10.0):
        self.url = url.rstrip("/") + "/api/v1/observations"
        self.client = httpx.Client(
            timeout=timeout_s, headers={"Authorization": f"Bearer {token}"}, trust_env=False
        )

    def post(self, rows: list[dict]) -> tuple[int, int]:
        """Deliver `rows`; returns (accepted, duplicates) once the server acknowledged them."""
        try:
            r = self.client.post(self.url, json={"observations": rows})
        except httpx.HTTPError as exc:
            raise TransientError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        if r.status_code == 200:
            body = r.json()
            return int(body["accepted"]), int(body["duplicates"])
        detail = _detail(r)
        if r.status_code in (401, 403):
            raise ConfigError(
                f"{self.url}: server refused the station token ({r.status_code}): {detail}"
            )
        if r.status_code in (408, 429) or r.status_code >= 500:
            raise TransientError(f"{self.url}: HTTP {r.status_code}: {detail}")
        raise RejectedError(f"HTTP {r.status_code}: {detail}")

    def close(self) -> None:
        self.client.close()


def _detail(r: httpx.Response) -> str:
    try:
        return str(r.json().get("detail"))
    except ValueError:
        return r.text[:200]
