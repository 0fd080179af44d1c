"""The documentation builds offline and strict, and every example in it runs as printed."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import gen_outputs  # noqa: E402

FENCE_LANG = re.compile(r"^```(\w+)", re.M)
CODE_LANGS = {"bash", "sh", "shell", "console", "zsh", "python", "py", "pycon"}


def test_site_builds_strict_and_loads_nothing_from_the_internet(tmp_path):
    site = tmp_path / "site"
    p = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    html = {f: f.read_text(encoding="utf-8", errors="replace") for f in site.rglob("*.html")}
    assert len(html) >= 20
    cli = (site / "reference" / "cli" / "index.html").read_text()
    for command in ("unseen detect", "unseen tdoa", "unseen calibrate-rss", "unseen station"):
        assert command in cli
    assert "/api/v1/observations" in (site / "reference" / "http" / "index.html").read_text()
    assert "estimate_frames" in (site / "reference" / "python" / "index.html").read_text()
    # what a browser would fetch when showing a page: scripts, styles, images, fonts
    fetched = re.compile(r"""(?:src=|<link[^>]*href=|url\()["']?(https?://[^"')\s>]+)""")
    for f, text in html.items():
        assert not fetched.findall(text), f"{f} loads {fetched.findall(text)[:3]}"
    for css in site.rglob("*.css"):
        assert "fonts.googleapis" not in css.read_text(errors="replace"), css


def test_every_code_block_runs_or_says_why_not():
    unmarked = []
    for page in gen_outputs.pages():
        text = page.read_text(encoding="utf-8")
        for m in FENCE_LANG.finditer(text):
            lang = m.group(1).lower()
            if lang in CODE_LANGS and lang not in gen_outputs.RUN_LANGS:
                unmarked.append(f"{page.name}: ```{lang} (use bash or python)")
        runnable = [b for b in gen_outputs.blocks(text) if b.skip is None]
        skipped = [b for b in gen_outputs.blocks(text) if b.skip is not None]
        assert all(b.skip.strip() for b in skipped)
        for b in runnable:
            assert b.code.strip(), page
    assert not unmarked, unmarked
    assert sum(len(gen_outputs.blocks(p.read_text())) for p in gen_outputs.pages()) >= 15


PAGES = [
    p
    for p in gen_outputs.pages()
    if any(b.skip is None for b in gen_outputs.blocks(p.read_text(encoding="utf-8")))
]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_examples_print_what_the_page_shows(page):
    """Seeds are fixed, so the figures are deterministic up to floating-point summation order
    (BLAS, numba fastmath): figures must agree within 0.1 % or one unit of their last digit."""
    if (
        "UNSEEN_DATA" in page.read_text()
        and not Path(gen_outputs.environment(ROOT)["UNSEEN_DATA"]).is_dir()
    ):
        pytest.skip("the real-data folder ../shared/data is not here")
    for block, out in gen_outputs.run_page(page):
        if block.output is not None:
            why = gen_outputs.same(block.output[2], out)
            assert why is None, f"{page.name}: {why}\n(run python docs/gen_outputs.py)"


def test_shipped_example_files_are_valid(tmp_path, monkeypatch):
    from unseen.agent.config import load_config

    monkeypatch.setenv("UNSEEN_STATION_TOKEN", "t" * 43)
    from unseen.examples import names, text

    assert {
        "station.toml",
        "kraken-station.toml",
        "dcf77-stations.csv",
        "tdoa-reference.toml",
    } <= set(names())
    for name in ("station.toml", "kraken-station.toml"):
        tomllib.loads(text(name))
        path = tmp_path / name
        path.write_text(text(name))
        cfg = load_config(path)
        assert cfg is not None
    rows = text("dcf77-stations.csv").splitlines()
    assert rows[0] == "station,lat,lon" and len(rows) == 4


def test_same_tolerates_the_last_digit_but_not_a_changed_figure():
    assert gen_outputs.same("fix 1.54 km", "fix 1.55 km") is None
    assert gen_outputs.same("fix 1.54 km", "fix 1.60 km") is not None
    assert gen_outputs.same("fix 1.54 km", "fix 1.54 m") is not None
    assert gen_outputs.same("│ run time │ 7.1 s  │", "│ run time │ 23.8 s │") is None
    assert gen_outputs.same("│ CEP50 │ 7.1 m  │", "│ CEP50 │ 23.8 m │") is not None
