"""Where the documentation lives, for messages that send the user there."""

from __future__ import annotations

#: The documentation site (also ``[project.urls] Documentation`` in pyproject.toml).
DOCS_URL = "https://novograd-ref.readthedocs.io/en/latest/"


def docs_url(page: str = "") -> str:
    """The address of ``page`` (e.g. ``"vectors.html"``) on the documentation site.

    >>> docs_url("vectors.html")
    'https://novograd-ref.readthedocs.io/en/latest/vectors.html'
    """
    return DOCS_URL + page
