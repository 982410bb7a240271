"""The documentation site builds with warnings as errors, its internal links resolve, and
the README's and the porting guide's pytest example runs."""

from __future__ import annotations

import html.parser
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
from .conftest import DOCS_MISSING as MISSING

needs_sphinx = pytest.mark.skipif(
    bool(MISSING), reason=f"the docs extra is not installed (missing: {', '.join(MISSING)}); "
                          'pip install -e ".[docs]"')


class _Links(html.parser.HTMLParser):
    """The ``href``/``src`` targets and the element ids of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("href", "src"):
                self.targets.append(value)
            elif name in ("id", "name"):
                self.ids.add(value)


def parse(page: Path) -> _Links:
    links = _Links()
    links.feed(page.read_text(encoding="utf-8"))
    return links


def broken_links(site: Path) -> list[str]:
    """Every internal link of every page whose file or anchor does not exist."""
    pages = {p: parse(p) for p in site.rglob("*.html")}
    broken = []
    for page, links in pages.items():
        for target in links.targets:
            if urlparse(target).scheme or target.startswith(("//", "mailto:", "data:")):
                continue
            address, fragment = urldefrag(target)
            path = urlparse(address).path  # without ?v=... cache busters
            file = (page.parent / unquote(path)).resolve() if path else page
            if file.is_dir():
                file = file / "index.html"
            if not file.exists():
                broken.append(f"{page.relative_to(site)}: {target} (no such file)")
            elif fragment and file.suffix == ".html" and unquote(fragment) not in (
                    pages[file] if file in pages else parse(file)).ids:
                broken.append(f"{page.relative_to(site)}: {target} (no such anchor)")
    return broken


@pytest.mark.slow
@needs_sphinx
def test_site_builds_without_warnings_and_links_resolve(site: Path) -> None:
    for page in ("index.html", "api.html", "cli.html", "porting.html",
                 "user-guide/variant-matrix.html",
                 "_generated/notebooks/04_novograd_at_work.html"):
        assert (site / page).is_file(), page
    assert broken_links(site) == []


@pytest.mark.slow
@needs_sphinx
def test_generated_pages_say_what_the_code_says(site: Path) -> None:
    import novograd_ref as ngr
    from novograd_ref.cli import build_parser

    matrix = (site / "user-guide" / "variant-matrix.html").read_text()
    for name in ngr.presets.names():
        assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{name}</span>" \
            in matrix, name
    assert "first_step_blend" in matrix
    assert "when_zero" in matrix
    cli = (site / "cli.html").read_text()
    for action in build_parser()._actions:
        for choice in getattr(action, "choices", None) or {}:
            assert f"novograd-ref {choice}" in cli, choice
    notebook = (site / "_generated" / "notebooks" / "04_novograd_at_work.html").read_text()
    assert "data:image/png" in notebook or re.search(r'<img[^>]+_images/', notebook), \
        "the notebook page shows no stored figure"
    assert "<math" in (site / "user-guide" / "conventions.html").read_text()


def test_the_pytest_example_of_the_readme_runs(tmp_path: Path) -> None:
    """The README's pytest example is the porting guide's, and it passes."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    (example,) = [b for b in blocks if "def test_" in b]
    guide = (ROOT / "docs" / "porting.md").read_text()
    assert example in guide
    (tmp_path / "test_example.py").write_text(example)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), "-c", os.devnull, str(tmp_path / "test_example.py")],
        cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 passed" in result.stdout


def test_the_readme_preset_table_lists_every_preset() -> None:
    import novograd_ref as ngr

    rows = re.findall(r"^\| `(\w+)` \|", (ROOT / "README.md").read_text(), re.MULTILINE)
    assert sorted(rows) == ngr.presets.names()


@pytest.mark.parametrize("page", sorted(str(p.relative_to(ROOT / "docs"))
                                        for p in (ROOT / "docs").rglob("*.md")
                                        if "_generated" not in p.parts))
def test_doctest_examples_of_the_pages_run(page: str) -> None:
    """Every ``>>>`` example in a page's code blocks gives the output the page shows."""
    import doctest

    text = (ROOT / "docs" / page).read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if ">>>" in b]
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for i, block in enumerate(blocks):
        runner.run(parser.get_doctest(block, {}, f"{page}[{i}]", page, 0))
    assert runner.failures == 0, f"{runner.failures} example(s) of {page} failed"


def test_the_porting_guide_names_every_key_of_the_report() -> None:
    """The report keys the guide explains are the keys a report has."""
    from novograd_ref.conformance import implementation, verify_implementation

    report = verify_implementation(implementation("preset:optax"), "optax", ["float64"], 0)
    data = report.to_json()
    keys = set(data) | set(data["comparisons"][0])
    guide = (ROOT / "docs" / "porting.md").read_text()
    section = guide[guide.index("## 5. The report"):guide.index("## 6.")]
    documented = set(re.findall(r"`([a-z_]+)`", section.split("The report of the run")[0]))
    assert keys <= documented, f"keys the guide does not explain: {sorted(keys - documented)}"
