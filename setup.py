"""Build the compiled core: every ``src/_core/<name>.pyx`` becomes ``lvsfast._core.<name>``.

A pure-Python install is an explicit opt-out (``LVSFAST_NO_EXTENSIONS=1`` at build time),
never a silent fallback: if Cython or the C compiler fails, the build fails.
"""
import os
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).parent
CORE = Path("src") / "_core"

# Cython directives live here and nowhere else.
DIRECTIVES = {
    "language_level": 3,
    "embedsignature": True,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}


def _extensions() -> list:
    if os.environ.get("LVSFAST_NO_EXTENSIONS", "") not in ("", "0"):
        return []
    from Cython.Build import cythonize

    debug = os.environ.get("LVSFAST_CYTHON_TRACE", "") not in ("", "0")
    directives = dict(DIRECTIVES)
    macros = [("_GNU_SOURCE", None)]  # recvmmsg and struct mmsghdr
    if debug:
        directives.update(linetrace=True, profile=True)
        macros.append(("CYTHON_TRACE_NOGIL", "1"))
    exts = [
        Extension(
            f"lvsfast._core.{pyx.stem}",
            [str(pyx)],
            include_dirs=[str(CORE)],
            define_macros=macros,
            # -g0: Python's default CFLAGS carry -g, which makes each module ~1 MB of symbols.
            extra_compile_args=["-O2"] if debug else ["-O2", "-g0"],
        )
        for pyx in sorted((HERE / CORE).glob("*.pyx"))
        for pyx in [pyx.relative_to(HERE)]
    ]
    return cythonize(exts, compiler_directives=directives, include_path=[str(CORE)])


setup(ext_modules=_extensions())
