"""Build the Cython kernels of ``tinymin._ext`` (everything else is pure Python).

Metadata (name, version from ``tinymin/_version.py``, dependencies) lives in
``pyproject.toml``; this file only declares the compiled extensions.

Build
-----
``pip install -e .`` (development, in place) or ``pip install .`` both compile every
``tinymin/_ext/*.pyx`` (a C compiler is needed; ``python setup.py build_ext --inplace``
also works). Run from a source checkout that was never built, ``tinymin._ext`` warns
once and uses its numpy twins instead.

Compiler flags
--------------
* ``-O3`` always (``/O2`` with MSVC).
* ``-fno-math-errno``: ``sqrt`` never sets ``errno`` (nothing here reads it), so gcc
  can vectorise it (the fused Adam update in ``_optim.pyx``).
* OpenMP (``-fopenmp`` at compile and link time) when a tiny test program compiles
  and links with it. Otherwise the extension is built without it and every
  ``prange`` loop runs serially: slower, same results.
* ``-march=native`` by default, so gcc/clang may use AVX2/FMA (or whatever the
  building machine has) in the vectorised inner loops. The resulting binary may crash
  with "illegal instruction" on an older CPU, so for a wheel meant for other machines
  set the environment variable ``TINYMIN_PORTABLE=1``::

      TINYMIN_PORTABLE=1 pip install .

  which drops ``-march=native`` (the baseline of the target, e.g. SSE2 on x86-64).
  Every flag except ``-O3`` is tried on a test program first and silently dropped if
  the compiler rejects it.

Set ``TINYMIN_BUILD_VERBOSE=1`` to print which optional flags were accepted.

Rebuilds
--------
An in-place build (``pip install -e .``, ``python setup.py build_ext --inplace``)
compiles an extension only when it has to: a kernel whose compiled file in
``tinymin/_ext/`` is newer than its ``.pyx``/``.pxd``/``.c`` sources and this file,
and was built with the same flags, numpy and Python (recorded in
``build/tinymin-ext-flags.json``), is reused as it is. (PEP 660 editable installs
build in a fresh temporary directory each time, so without this every
``pip install -e .`` recompiled every kernel.) ``TINYMIN_FORCE_BUILD=1`` or
``build_ext --force`` rebuilds everything. A regular ``pip install .`` always compiles.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from glob import glob

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))

_OPENMP_TEST = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return omp_get_max_threads() > 0 && n > 0 ? 0 : 1;
}
"""

_PLAIN_TEST = "int main(void) { return 0; }\n"

FLAGS_STAMP = os.path.join(HERE, "build", "tinymin-ext-flags.json")


def _portable() -> bool:
    return os.environ.get("TINYMIN_PORTABLE", "").strip().lower() in {"1", "true", "yes", "on"}


def _force_build() -> bool:
    return os.environ.get("TINYMIN_FORCE_BUILD", "").strip().lower() in {"1", "true", "yes", "on"}


def _log(msg: str) -> None:
    if os.environ.get("TINYMIN_BUILD_VERBOSE"):
        print(f"tinymin setup.py: {msg}", file=sys.stderr)


def _try_flags(compiler, source: str, compile_args: list, link_args: list) -> bool:
    """Compile and link ``source`` with the given flags; True when it works."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "flagtest.c")
        with open(src, "w") as f:
            f.write(source)
        devnull = open(os.devnull, "w")
        old_out, old_err = os.dup(1), os.dup(2)
        try:
            # silence the compiler's own complaints about a rejected flag
            os.dup2(devnull.fileno(), 1)
            os.dup2(devnull.fileno(), 2)
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=compile_args)
            compiler.link_executable(objs, "flagtest", output_dir=tmp, extra_postargs=link_args)
        except Exception:
            return False
        finally:
            os.dup2(old_out, 1)
            os.dup2(old_err, 2)
            os.close(old_out)
            os.close(old_err)
            devnull.close()
    return True


class BuildExt(build_ext):
    """``build_ext`` that picks optimisation/OpenMP flags by test-compiling, and reuses
    an in-place kernel that is newer than its sources and was built with the same flags."""

    def run(self):
        # setuptools clears ``inplace`` while it compiles (and copies back afterwards), so
        # note now whether this is an in-place or editable build.
        self._in_place = bool(self.inplace or getattr(self, "editable_mode", False))
        self._reuse_inplace = self._in_place and not self.force and not _force_build()
        super().run()

    def build_extensions(self):
        compiler = self.compiler
        if compiler.compiler_type == "msvc":
            compile_args, link_args = ["/O2"], []
            if _try_flags(compiler, _OPENMP_TEST, ["/openmp"], []):
                compile_args.append("/openmp")
        else:
            compile_args, link_args = ["-O3"], []
            if not _portable() and _try_flags(compiler, _PLAIN_TEST, ["-march=native"], []):
                compile_args.append("-march=native")
            if _try_flags(compiler, _PLAIN_TEST, ["-fno-math-errno"], []):
                compile_args.append("-fno-math-errno")  # lets gcc vectorise sqrt (_optim.pyx)
            if _try_flags(compiler, _OPENMP_TEST, ["-fopenmp"], ["-fopenmp"]):
                compile_args.append("-fopenmp")
                link_args.append("-fopenmp")
            else:
                _log("OpenMP not available: prange loops will run serially")
        _log(f"compile args {compile_args}, link args {link_args}")
        for ext in self.extensions:
            ext.extra_compile_args = list(ext.extra_compile_args or []) + compile_args
            ext.extra_link_args = list(ext.extra_link_args or []) + link_args
        self._flags = {"compile": compile_args, "link": link_args, "numpy": np.__version__,
                       "python": sys.version, "platform": platform.platform()}
        self._same_flags = _read_json(FLAGS_STAMP) == self._flags
        super().build_extensions()
        if getattr(self, "_in_place", False):
            os.makedirs(os.path.dirname(FLAGS_STAMP), exist_ok=True)
            with open(FLAGS_STAMP, "w") as f:
                json.dump(self._flags, f, indent=1)

    def build_extension(self, ext):
        inplace_file = os.path.join(HERE, self.get_ext_filename(ext.name))
        if getattr(self, "_reuse_inplace", False) and self._same_flags and _newer_than_sources(
                inplace_file, ext):
            target = self.get_ext_fullpath(ext.name)
            if os.path.abspath(target) != os.path.abspath(inplace_file):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(inplace_file, target)  # setuptools copies it back in place
            print(f"tinymin setup.py: {ext.name} is up to date, not rebuilt", file=sys.stderr)
            return
        super().build_extension(ext)


def _read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _newer_than_sources(built: str, ext: Extension) -> bool:
    """True when ``built`` exists and is newer than every source of ``ext`` and setup.py."""
    if not os.path.exists(built):
        return False
    stem = os.path.splitext(ext.sources[0])[0]
    sources = [os.path.join(HERE, src) for src in ext.sources]
    sources += [os.path.join(HERE, stem + ".pyx"), os.path.join(HERE, "setup.py")]
    sources += glob(os.path.join(HERE, "tinymin", "_ext", "*.pxd"))
    sources += glob(os.path.join(HERE, "tinymin", "_ext", "*.h"))
    newest = max(os.path.getmtime(src) for src in sources if os.path.exists(src))
    return os.path.getmtime(built) > newest


def _extensions():
    sources = sorted(glob(os.path.join("tinymin", "_ext", "*.pyx")))
    exts = [
        Extension(
            "tinymin._ext." + os.path.splitext(os.path.basename(src))[0],
            [src],
            include_dirs=[np.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )
        for src in sources
    ]
    return cythonize(exts, compiler_directives={"language_level": 3}, quiet=True)


os.chdir(HERE)  # globs and cythonize work on paths relative to the project root
setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
