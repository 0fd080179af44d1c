"""Delivery to the server: POST batches, back off exponentially with jitter while it is away."""

from __future__ import annotations

import random

import httpx

from unseen.errors import ConfigError


class TransientError(Exception):
    """The server is unreachable or busy: keep the rows and retry later."""


class RejectedError(Exception):
    """The server refused the batch as invalid (4xx other than auth): retrying will not help."""


class StuckError(Exception):
    """Delivery cannot go on as configured (no observation endpoint at the URL, an answer that
    is not the API's, every row refused): the rows stay spooled and the operator must act."""


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
            try:
                body = r.json()
                return int(body["accepted"]), int(body["duplicates"])
            except (ValueError, TypeError, KeyError):
                kind = r.headers.get("content-type", "?").split(";")[0]
                raise StuckError(
                    f"{self.url}: HTTP 200 but not the API's answer ({kind}: "
                    f"{r.text[:60]!r}): a proxy or captive portal?"
                ) from None
        detail = _detail(r)
        if r.status_code in (404, 405):
            raise StuckError(
                f"{self.url}: HTTP {r.status_code} ({detail}): no unseen observation endpoint "
                "there; check [server] url"
            )
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
    """The server's reason, on one line."""
    try:
        d = r.json().get("detail")
        if isinstance(d, list):
            d = "; ".join(
                f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}"
                if isinstance(e, dict) else str(e)
                for e in d[:3]
            )  # fmt: skip
        return " ".join(str(d).split())[:300]
    except (ValueError, AttributeError):
        return " ".join(r.text.split())[:200]
