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
    "novograd_docs",
]
html_math_renderer = "mathml"

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
# _generated/*.md are fragments that pages include, not pages of their own
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "_ext", "examples", "_generated/*.md"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # the notebooks are rendered with their stored outputs
nb_ipywidgets_js = {}  # no widget scripts from elsewhere: the site works offline

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = True

intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
nitpicky = False

html_theme = "furo"
html_title = f"novograd-ref {release}"
html_static_path = ["_static"]
html_css_files = ["tables.css"]
html_show_sourcelink = False
