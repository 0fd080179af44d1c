"""The station.toml the agent tests write: one builder (test_agent_iq, _robust, _soapy).

Imported as `from _station import station_config`: pytest's default (prepend) import mode puts
tests/ on sys.path.
"""

from __future__ import annotations

from pathlib import Path

from unseen.agent import load_config


def station_config(
    tmp_path: Path,
    source: str,
    *,
    url: str = "http://127.0.0.1:9",
    token: str = "t",
    hunt: str = "h",
    lat: float = 48.6325,
    lon: float = -2.06,
    spool: str = "",
    retry: str = "",
    extra: str = "",
):
    """`load_config` of tmp_path/station.toml for station "dinard": [server] (url, token, hunt),
    [spool] (spool.sqlite, then the `spool` lines), [retry] when `retry` has lines, [source]
    (the `source` lines, then `extra`)."""
    p = tmp_path / "station.toml"
    p.write_text(
        f'[station]\nname = "dinard"\nlat = {lat}\nlon = {lon}\n'
        f'[server]\nurl = "{url}"\ntoken = "{token}"\nhunt = "{hunt}"\n'
        f'[spool]\npath = "spool.sqlite"\n{spool}\n'
        + (f"[retry]\n{retry}\n" if retry else "")
        + f"[source]\n{source}\n{extra}\n"
    )
    return load_config(p)
