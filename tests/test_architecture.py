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
