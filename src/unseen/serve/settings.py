"""Server settings, built explicitly (never at import time), and the admin-token policy."""

from __future__ import annotations

import math
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
MIN_BITS = 128.0


def token_bits(token: str) -> float:
    """log2 of the guesses zxcvbn needs for `token` (keyboard walks, sequences, repeats, words
    and dates are guessed in their own few tries; random characters cost 10 guesses each)."""
    import zxcvbn

    return float(zxcvbn.zxcvbn(token, max_length=256)["guesses_log10"]) * math.log2(10.0)


def check_admin_token(token: str, *, source: str = "UNSEEN_ADMIN_TOKEN") -> str:
    """Return `token` if it is strong; raise ConfigError naming the weakness otherwise.

    Strong: at least 24 characters, no whitespace, no placeholder word (changeme, admin,
    secret...), and at least 2^128 guesses by zxcvbn's estimate (Dropbox's attacker model:
    dictionaries, keyboard walks, sequences, repeats; 10 guesses per random character), so
    `secrets.token_urlsafe(32)` (43 characters, ≈ 2^138 by this estimate) passes and
    'abcdefghijklmnopqrstuvwxyz…', 'qwertyuiop…' or a phrase do not.
    """
    t = token.strip()
    if len(t) < MIN_LENGTH:
        raise ConfigError(f"{source}: too short ({len(t)} characters); need at least {MIN_LENGTH}")
    if any(c.isspace() for c in t):
        raise ConfigError(f"{source}: contains whitespace (a phrase?); use a random token")
    low = t.lower()
    for word in PLACEHOLDERS:
        if word in low:
            raise ConfigError(
                f"{source}: contains the placeholder word {word!r}; use a random token"
            )
    bits = token_bits(t)
    if bits < MIN_BITS:
        raise ConfigError(
            f"{source}: guessable (about 2^{bits:.0f} guesses by zxcvbn, need "
            f"2^{MIN_BITS:.0f}); use e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`"
        )
    return t


@dataclass(frozen=True)
class Settings:
    """What the server needs; `db` is a path or URL (None: the default SQLite file).

    Limits (see the README's server policy): a client must send its request headers within
    `header_timeout_s` and each part of its body within `body_timeout_s`; an idle keep-alive
    connection is closed after `keep_alive_s`; at most `max_connections` connections and
    requests are served at once (503 beyond); a WebSocket subscriber's backlog holds
    `ws_queue` messages (older ones are dropped with a `lagged` marker); `auth_failures`
    unknown tokens from one address within `auth_window_s` block that address (429) for the
    rest of the window.
    """

    db: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    admin_token: str | None = None
    max_body_bytes: int = 2 * 1024 * 1024
    fix_debounce_s: float = 0.2
    fix_window: int = 400
    heatmap_size: int = 60
    solve_fix: bool = True
    warm_up: bool = True
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_s: float = 5.0
    max_connections: int = 200
    ws_queue: int = 256
    auth_failures: int = 20
    auth_window_s: float = 60.0
    secret_file: str | None = None
