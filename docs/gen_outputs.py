"""Run the examples of the documentation; write (or check) the output blocks they print.

Every ```bash / ```python block in docs/ runs, page by page, top to bottom, in a fresh temporary
directory (one shell state per block: a page's blocks share files, not variables), unless the
line before it is `<!-- not-run: REASON -->`. A block followed by `<!-- output -->` and a
```text block shows what it printed (stdout and stderr, as a terminal shows them): this script
writes those blocks, and tests/test_docs.py runs the examples again and compares.

    python docs/gen_outputs.py            # rewrite every output block
    python docs/gen_outputs.py --check    # exit 1 when an output block differs

Figures are compared with a tolerance (see `same`), the temporary directory is shown as $PWD,
and a line with `run time` keeps its words but not its numbers (wall time varies).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
RUN_LANGS = {"bash", "sh", "python"}
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
DROP = ("compiling kernels",)
VOLATILE = ("run time",)


@dataclass
class Block:
    lang: str
    code: str
    start: int  # offset of the fence in the page
    end: int
    skip: str | None  # the not-run reason
    output: tuple[int, int, str] | None  # (start, end, text) of the output block's body


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a page that are code to run or skip, with their output blocks."""
    fences = list(FENCE.finditer(text))
    out: list[Block] = []
    for i, m in enumerate(fences):
        lang = m.group(1).lower()
        before = text[: m.start()].rstrip().rsplit("\n", 1)[-1].strip()
        if before == "<!-- output -->" or lang not in RUN_LANGS:
            continue
        skip = None
        ms = re.fullmatch(r"<!--\s*not-run:\s*(.+?)\s*-->", before)
        if ms:
            skip = ms.group(1)
        output = None
        if i + 1 < len(fences):
            n = fences[i + 1]
            between = text[m.end() : n.start()].strip()
            if between == "<!-- output -->":
                output = (n.start(2), n.end(2), n.group(2))
        out.append(Block(lang, m.group(2), m.start(), m.end(), skip, output))
    return out


def environment(workdir: Path) -> dict[str, str]:
    """PATH with this Python's scripts first, the source tree importable, the data folder."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("UNSEEN_DATA", str((ROOT / ".." / "shared" / "data").resolve()))
    env["HOME"] = str(workdir / "home")
    env["XDG_DATA_HOME"] = str(workdir / "home" / "data")
    env.pop("COLUMNS", None)
    return env


def normalise(text: str, workdir: Path) -> str:
    data = os.environ.get("UNSEEN_DATA") or str((ROOT / ".." / "shared" / "data").resolve())
    text = text.replace(data, "$UNSEEN_DATA")
    text = text.replace(str(workdir.resolve()), "$PWD").replace(str(workdir), "$PWD")
    lines = [ln.rstrip() for ln in text.splitlines() if not any(d in ln for d in DROP)]
    return "\n".join(lines).strip("\n") + "\n"


def run_block(block: Block, workdir: Path, env: dict[str, str], timeout_s: float = 300) -> str:
    """What `block` prints (stdout and stderr together), run in `workdir`; raises on failure."""
    if block.lang == "python":
        cmd = [sys.executable, "-c", block.code]
    else:
        cmd = ["bash", "-eo", "pipefail", "-c", block.code]
    p = subprocess.run(
        cmd,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout_s,
    )
    if p.returncode != 0:
        raise RuntimeError(f"example failed (exit {p.returncode}):\n{block.code}\n---\n{p.stdout}")
    return normalise(p.stdout, workdir)


def run_page(page: Path) -> list[tuple[Block, str]]:
    """(block, output) of every runnable block of `page`, run in a fresh temporary directory."""
    text = page.read_text(encoding="utf-8")
    done = []
    with tempfile.TemporaryDirectory(prefix="unseen-docs-") as tmp:
        work = Path(tmp)
        (work / "home").mkdir()
        env = environment(work)
        for b in blocks(text):
            if b.skip is None:
                done.append((b, run_block(b, work, env)))
    return done


def same(expected: str, actual: str, rel: float = 1e-3) -> str | None:
    """None when the texts agree: the same words (spacing aside: table columns widen with their
    figures) and figures within `rel` or one unit of their last printed digit."""
    e_lines, a_lines = expected.strip("\n").splitlines(), actual.strip("\n").splitlines()
    if len(e_lines) != len(a_lines):
        return f"{len(a_lines)} lines printed, {len(e_lines)} documented"
    for e, a in zip(e_lines, a_lines, strict=True):
        if NUMBER.sub("#", e).split() != NUMBER.sub("#", a).split():
            return f"documented: {e!r}\nprinted:    {a!r}"
        if any(v in e for v in VOLATILE):
            continue
        for x, y in zip(NUMBER.findall(e), NUMBER.findall(a), strict=True):
            fx, fy = float(x), float(y)
            digits = len(x.split(".")[1].split("e")[0].split("E")[0]) if "." in x else 0
            unit = 10.0**-digits
            if abs(fx - fy) > max(rel * abs(fx), 1.01 * unit):
                return f"documented: {e!r}\nprinted:    {a!r}\n({x} vs {y})"
    return None


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    only = [a for a in argv if not a.startswith("--")]
    bad = 0
    for page in pages():
        if only and not any(o in str(page) for o in only):
            continue
        results = run_page(page)
        if not results:
            continue
        text = page.read_text(encoding="utf-8")
        for b, out in reversed(results):
            if b.output is None:
                continue
            s, e, old = b.output
            if check:
                why = same(old, out)
                if why:
                    bad += 1
                    print(f"{page.relative_to(ROOT)}: {why}")
            else:
                text = text[:s] + out + text[e:]
        if not check:
            page.write_text(text, encoding="utf-8")
            print(f"{page.relative_to(ROOT)}: {len(results)} examples run")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
