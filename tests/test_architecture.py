"""The numeric core never imports the edge (store, server, CLI) nor web/database libraries."""

import subprocess
import sys

CORE = ["types", "errors", "geo", "sim", "doa", "detect", "tdoa", "locate", "track"]
EDGE = ["unseen.store", "unseen.serve", "unseen.cli", "fastapi", "sqlalchemy", "uvicorn", "typer"]


def test_core_does_not_import_edge():
    code = (
        "import importlib, pkgutil, sys\n"
        "import unseen\n"
        f"for name in {CORE!r}:\n"
        "    mod = importlib.import_module('unseen.' + name)\n"
        "    if hasattr(mod, '__path__'):\n"
        "        for info in pkgutil.walk_packages(mod.__path__, mod.__name__ + '.'):\n"
        "            importlib.import_module(info.name)\n"
        f"edge = {EDGE!r}\n"
        "bad = [m for m in sys.modules if any(m == e or m.startswith(e + '.') for e in edge)]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"numeric core imports the edge: {out.stdout.strip()}"


def test_report_does_not_import_the_pipeline():
    """The report draws a HuntResult; the pipeline makes one (no report → pipeline cycle)."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import unseen.report as r\n"
        "for info in pkgutil.walk_packages(r.__path__, 'unseen.report.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(','.join(m for m in sys.modules if m.startswith('unseen.pipeline')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"report imports the pipeline: {out.stdout.strip()}"
    import ast
    from pathlib import Path

    import unseen.report

    for f in Path(unseen.report.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("unseen.pipeline"), f"{f}: {node.module}"
