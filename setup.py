"""Build the ahead-of-time DOA kernels (`unseen.doa._kernels_aot`, see src/unseen/doa/_aot_build.py)
at install; everything else is in pyproject.toml. Without a C compiler, Python headers or
numba.pycc the install still succeeds and the kernels compile just in time on first use."""

import importlib.util
import sys
import time
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NAME = "unseen.doa._kernels_aot"


class BuildAot(build_ext):
    """build_ext whose one extension is compiled by numba.pycc; a failure is a warning."""

    def build_extensions(self) -> None:
        for ext in list(self.extensions):
            if ext.name != NAME:
                self.build_extension(ext)
                continue
            path = Path(self.get_ext_fullpath(ext.name))
            t0 = time.perf_counter()
            try:
                here = Path(__file__).resolve().parent / "src" / "unseen" / "doa" / "_aot_build.py"
                spec = importlib.util.spec_from_file_location("unseen_aot_build", here)
                mod = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(mod)
                path.parent.mkdir(parents=True, exist_ok=True)
                mod.build(path.parent, path.name)
            except Exception as e:  # any failure leaves the JIT path
                self.extensions.remove(ext)
                print(
                    f"unseen: ahead-of-time DOA kernels not built ({type(e).__name__}: {e}); "
                    "they will compile just in time on first use (needs no compiler)",
                    file=sys.stderr,
                )
            else:
                print(
                    f"unseen: built {path.name} in {time.perf_counter() - t0:.0f} s",
                    file=sys.stderr,
                )


setup(ext_modules=[Extension(NAME, sources=[])], cmdclass={"build_ext": BuildAot})
