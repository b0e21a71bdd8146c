"""Sphinx configuration for the tinymin documentation.

Build (from the repository root, warnings as errors)::

    sphinx-build -W --keep-going -b html docs docs/_build/html        # full mode
    TINYMIN_QUICK=1 sphinx-build -W --keep-going -b html docs docs/_build/html  # quick
    sphinx-build -W -b doctest docs docs/_build/doctest

No network is needed to build or to read the docs: no intersphinx, no remote images,
and MathJax is served from the built site (``_static/mathjax``, copied there by
sphinx-mathjax-offline) instead of a CDN. ``python tools/check_docs_offline.py`` opens
pages in headless Chromium with the network blocked and checks that every equation
renders and that nothing is requested from outside the site.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

# Tutorial chapters read TINYMIN_QUICK. By default the docs run every chapter in full
# mode, so the published pages show the real numbers; ``TINYMIN_QUICK=1 sphinx-build ...``
# makes the quick build (small data, few epochs: smoke-test numbers) that CI uses. Each
# chapter prints its mode at the top of its output.
os.environ.setdefault("TINYMIN_QUICK", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

with warnings.catch_warnings():
    # An unbuilt checkout warns that it falls back to the numpy kernels: fine for docs.
    warnings.simplefilter("ignore")
    import tinymin  # noqa: E402

# -- Project -------------------------------------------------------------------------
project = "tinymin"
author = "the tinymin authors"
copyright = "the tinymin authors"  # noqa: A001 (Sphinx's name)
release = tinymin.__version__
version = ".".join(release.split(".")[:2])

# -- Extensions ----------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
    # MathJax 3 from the built site, never from a CDN: the maths must render offline
    # (a classroom lab, a train). The extension copies its bundled MathJax into
    # _static/mathjax and points mathjax_path at it. Its import name has hyphens.
    "sphinx-mathjax-offline",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
templates_path: list[str] = []
nitpicky = False
default_role = "literal"  # `x` renders as code, never as a broken cross-reference

# -- API pages: only for modules that import now -------------------------------------
# docs/api/<module>.rst documents one module. Some modules are still being written;
# a page whose module does not import is excluded (the API index uses a glob toctree,
# so nothing points at a missing page).
API_MISSING: list[str] = []
for page in sorted((DOCS / "api").glob("tinymin*.rst")):
    module = page.stem
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 (any failure: leave the page out)
        API_MISSING.append(module)
        exclude_patterns.append(f"api/{page.name}")
        print(f"tinymin docs: leaving out api/{page.name} ({type(exc).__name__}: {exc})")

# -- autodoc / autosummary / numpydoc ------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_default_options = {"show-inheritance": True}
autosummary_generate = False  # tables only; every object is documented on its module page

numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False

# -- doctest -------------------------------------------------------------------------
doctest_global_setup = """
import warnings
warnings.simplefilter("ignore")
import numpy as np
np.set_printoptions(precision=8, suppress=False)  # numpy's defaults, whatever ran before
import tinymin as tm
tm.manual_seed(0)
"""

# -- sphinx-gallery (only once tutorials/ has its gallery header) --------------------
TUTORIALS = ROOT / "tutorials"
HAVE_TUTORIALS = any((TUTORIALS / name).is_file()
                     for name in ("README.txt", "README.rst", "GALLERY_HEADER.rst"))
if HAVE_TUTORIALS:
    extensions.append("sphinx_gallery.gen_gallery")
    sphinx_gallery_conf = {
        "examples_dirs": ["../tutorials"],
        "gallery_dirs": ["auto_tutorials"],
        "filename_pattern": r"/.*\.py$",  # run every chapter, not only plot_*.py
        "ignore_pattern": r"(__init__|_utils?|conftest)\.py$",
        "within_subsection_order": "FileNameSortKey",  # 01_..., 02_..., by file name
        "download_all_examples": False,
        "matplotlib_animations": False,
        "image_scrapers": ("matplotlib",),
        "reset_modules": ("matplotlib",),
        "abort_on_example_error": False,
        "plot_gallery": "True",
        "remove_config_comments": True,
        # The computation-times pages load jQuery, Bootstrap and DataTables from CDNs
        # (raw HTML that sphinx-gallery writes): the docs must load nothing from outside
        # the site. Each chapter's page still shows its own running time.
        "write_computation_times": False,
    }
    exclude_patterns += ["sg_execution_times.rst", "auto_tutorials/sg_execution_times.rst"]
else:
    exclude_patterns.append("auto_tutorials")
    print("tinymin docs: tutorials/README.txt not found; building without the gallery")

# -- HTML ----------------------------------------------------------------------------
html_theme = "furo"
html_title = f"tinymin {release}"
html_static_path: list[str] = []
html_show_sourcelink = True
html_context = {"have_tutorials": HAVE_TUTORIALS}


# -- The Tutorials entry of the landing page's toctree -------------------------------
# index.rst holds the line "   @TUTORIALS@" in its toctree. It becomes the gallery's
# index when tutorials/ exists, and disappears otherwise (a toctree entry pointing at
# a page that is not built would be a warning, and -W makes warnings errors).
TUTORIALS_MARKER = "   @TUTORIALS@\n"


def _tutorials_entry(app, docname, source):
    if docname == "index":
        entry = "   Tutorials <auto_tutorials/index>\n" if HAVE_TUTORIALS else ""
        source[0] = source[0].replace(TUTORIALS_MARKER, entry)


# -- Docstring examples run in their module's namespace -------------------------------
# A docstring example may use the names of its own module (``SGD([w], lr=0.1)`` in
# tinymin.optim.sgd), as ``pytest --doctest-modules`` allows. Each API page holds the
# docstrings of exactly one module, so its doctests get that module's globals.
_MODULE_GLOBALS = """
.. testsetup:: *

   import importlib as _importlib
   globals().update({{_k: _v for _k, _v in vars(_importlib.import_module("{module}")).items()
                     if not _k.startswith("__")}})

"""


def _module_namespace(app, docname, source):
    if docname.startswith("api/tinymin"):
        source[0] = _MODULE_GLOBALS.format(module=docname[len("api/"):]) + source[0]


def setup(app):
    app.connect("source-read", _tutorials_entry)
    app.connect("source-read", _module_namespace)
    if HAVE_TUTORIALS:
        app.tags.add("tutorials")
