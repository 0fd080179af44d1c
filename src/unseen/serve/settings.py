"""Server settings, built explicitly (never at import time), and the admin-token policy."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from unseen.errors import ConfigError

PLACEHOLDERS = (
    "changeme",
    "change-me",
    "change_me",
    "admin",
    "secret",
    "password",
    "passw0rd",
    "token",
    "default",
    "example",
    "test",
    "letmein",
    "qwerty",
    "12345",
    "unseen",
    "xxxx",
    "todo",
)
MIN_LENGTH = 24
MIN_BITS = 96.0


def token_bits(token: str) -> float:
    """Estimated entropy in bits: length × Shannon entropy per character of its own histogram."""
    n = len(token)
    if n == 0:
        return 0.0
    counts = Counter(token)
    h = sum(c / n * math.log2(n / c) for c in counts.values())
    return n * h


def check_admin_token(token: str, *, source: str = "UNSEEN_ADMIN_TOKEN") -> str:
    """Return `token` if it is strong; raise ConfigError naming the weakness otherwise.

    Strong: at least 24 characters, no placeholder word (changeme, admin, secret...), and at
    least 96 bits by the per-character Shannon estimate (a 43-character url-safe random token
    has about 230).
    """
    t = token.strip()
    if len(t) < MIN_LENGTH:
        raise ConfigError(f"{source}: too short ({len(t)} characters); need at least {MIN_LENGTH}")
    low = t.lower()
    for word in PLACEHOLDERS:
        if word in low:
            raise ConfigError(
                f"{source}: contains the placeholder word {word!r}; use a random token"
            )
    bits = token_bits(t)
    if bits < MIN_BITS:
        raise ConfigError(
            f"{source}: low entropy (about {bits:.0f} bits, need {MIN_BITS:.0f}); "
            "use e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return t


@dataclass(frozen=True)
class Settings:
    """What the server needs; `db` is a path or URL (None: the default SQLite file)."""

    db: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    admin_token: str | None = None
    max_body_bytes: int = 2 * 1024 * 1024
    fix_debounce_s: float = 0.2
    fix_window: int = 400
    heatmap_size: int = 60
    solve_fix: bool = True
