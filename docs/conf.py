"""Sphinx configuration of the novograd-ref documentation (MyST Markdown, myst-nb)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import novograd_ref

project = "novograd-ref"
author = "the novograd-ref authors"
copyright = "the novograd-ref authors, Apache License 2.0"
release = version = novograd_ref.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "novograd_docs",
]
html_math_renderer = "mathml"

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
# _generated/*.md are fragments that pages include, not pages of their own
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "_ext", "_inventories", "examples",
                    "_generated/*.md"]
# html_image: an <img> with a width, so that a high-resolution PNG is shown at its size
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "html_image"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # the notebooks are rendered with their stored outputs
nb_ipywidgets_js = {}  # no widget scripts from elsewhere: the site works offline
# Markdown that a notebook cell displays (display(Markdown(...))) is GitHub-flavoured:
# its tables render as tables, not as a paragraph of pipes.
nb_render_markdown_format = "gfm"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
# The fused path's kernels need numba, which only the fast extra installs; the docs
# extra alone builds the site, so autodoc reads that module with numba mocked (its
# signatures and docstrings do not depend on it).
autodoc_mock_imports = ["numba"]
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = True

# Python's and NumPy's types link to their documentation through inventories shipped in
# docs/_inventories (the build needs no network), written by make_inventories.py there
# from the names this site references.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", "_inventories/python.inv"),
    "numpy": ("https://numpy.org/doc/stable", "_inventories/numpy.inv"),
}
nitpicky = True  # every cross-reference must resolve, except these:
nitpick_ignore = [
    # types that appear in the signatures of public functions but are not public
    # themselves (no page documents them): the result of conformance.identify, the
    # runner conformance.generated_check accepts, the factory protocol of a plug-in
    ("py:class", "novograd_ref.conformance.live._identify.Standing"),
    ("py:class", "Standing"),
    ("py:class", "novograd_ref.conformance.isolation._runner.Runner"),
    ("py:class", "novograd_ref.conformance.frameworks.MakeAdapter"),
    # hypothesis's manual is not among the offline inventories (docs/_inventories)
    ("py:class", "hypothesis.strategies.SearchStrategy"),
    # the vectors module's alias of a path argument, str | os.PathLike[str]
    ("py:class", "vectors.PathLike"),
]

html_theme = "furo"
html_title = f"novograd-ref {release}"
html_static_path = ["_static"]
html_css_files = ["tables.css"]
html_show_sourcelink = False
