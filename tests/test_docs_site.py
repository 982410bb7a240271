"""The documentation site builds with warnings as errors (nitpicky: every cross-reference
resolves), its internal links resolve, nothing on it is garbled (no Markdown table left as
a paragraph of pipes, no table row with more or fewer cells than its header, no sentence
read as a type), and the README's and the porting guide's pytest example runs."""

from __future__ import annotations

import html.parser
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
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


class _Garbled(html.parser.HTMLParser):
    """Text of one HTML page that shows it was rendered wrong: paragraphs that are a
    Markdown table left unparsed, table rows whose cell count differs from the header's,
    and the values of "Type" / "Return type" fields that are not types."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._stack: list[str] = []
        self._paragraph: list[str] | None = None
        self._skipped = 0  # depth inside code or math, whose text is not prose
        self._tables: list[dict[str, Any]] = []
        self._field: str | None = None  # the name of the field list entry being read
        self._field_text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self._stack.append(tag)
        if tag in ("code", "math", "pre"):
            self._skipped += 1
        elif tag == "p" and not self._tables and self._field_text is None:
            self._paragraph = []
        elif tag == "table":
            self._tables.append({"header": None, "row": None})
        elif tag == "tr" and self._tables:
            self._tables[-1]["row"] = 0
        elif tag in ("td", "th") and self._tables and self._tables[-1]["row"] is not None:
            self._tables[-1]["row"] += int(attributes.get("colspan") or 1)
        elif tag == "dt" and "field" in (attributes.get("class") or ""):
            self._field = ""
        elif tag == "dd" and (self._field or "").strip() in ("Type", "Return type"):
            self._field_text = []

    def handle_endtag(self, tag: str) -> None:
        while self._stack and self._stack.pop() != tag:
            pass
        if tag in ("code", "math", "pre"):
            self._skipped -= 1
        elif tag == "p" and self._paragraph is not None:
            text = "".join(self._paragraph).strip()
            if (text.startswith("|") and text.count("|") >= 2) or re.search(
                    r"\|\s*:?-{3,}:?\s*\|", text):
                self.problems.append(f"a Markdown table shown as a paragraph: {text[:80]!r}")
            self._paragraph = None
        elif tag == "tr" and self._tables:
            table = self._tables[-1]
            if table["header"] is None:
                table["header"] = table["row"]
            elif table["row"] != table["header"]:
                self.problems.append(f"a table row of {table['row']} cells under a header "
                                     f"of {table['header']}")
            table["row"] = None
        elif tag == "table" and self._tables:
            self._tables.pop()
        elif tag == "dt" and self._field is not None:
            self._field = self._field.strip().rstrip(":").strip()
        elif tag == "dd" and self._field_text is not None:
            text = " ".join("".join(self._field_text).split())
            if not is_a_type(text):
                self.problems.append(f"a {self._field.strip()} field that is not a type: "
                                     f"{text!r}")
            self._field_text = self._field = None

    def handle_data(self, data: str) -> None:
        if self._field is not None and self._field_text is None:
            self._field += data
        if self._field_text is not None:
            self._field_text.append(data)
        elif self._paragraph is not None and not self._skipped:
            self._paragraph.append(data)


def is_a_type(text: str) -> bool:
    """Whether a field's value reads as a type: names (dotted, with subscripts and
    literals) joined by ``|``, ``,``, "or", "of" or "optional", not a sentence.

    >>> [is_a_type(t) for t in ("str | None", "list[Mapping[str, Any]]", "int, optional",
    ...                         "Literal['a', 'b']", "tuple[str, …]", "The ulps as printed")]
    [True, True, True, True, True, False]
    """
    words = re.sub(r"…|\.\.\.", "x", text)  # an ellipsis stands for types
    words = re.sub(r"'[^']*'|\"[^\"]*\"", "x", words)  # a literal is one name
    words = re.sub(r"[\[\](),|]|\b(or|of|optional|None)\b", " | ", words)
    return all(len(part.split()) <= 1 and re.fullmatch(r"[\w.~*-]*", part.strip())
               for part in words.split("|"))


def garbled(site: Path) -> list[str]:
    """Every garbled paragraph, table row or field of every page (see :class:`_Garbled`)."""
    problems = []
    for page in sorted(site.rglob("*.html")):
        parser = _Garbled()
        parser.feed(page.read_text(encoding="utf-8"))
        problems += [f"{page.relative_to(site)}: {p}" for p in parser.problems]
    return problems


def table_rows_with_wrong_cell_count(text: str) -> list[str]:
    """Every row of a Markdown table in ``text`` whose cell count (split at each ``|``
    not escaped as ``\\|``, as GFM splits it even inside backticks) differs from its
    table's header; GFM silently drops the extra cells."""
    problems, header = [], None
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("|") and not line.startswith("    "):
            cells = len(re.split(r"(?<!\\)\|", line.strip().strip("|")))
            if header is None:
                header = cells
            elif cells != header:
                problems.append(f"{cells} cells under a header of {header}: {line.strip()}")
        else:
            header = None
    return problems


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
    for page in ("index.html", "api/index.html", "api/configuration.html", "cli.html",
                 "porting.html",
                 "user-guide/variant-matrix.html",
                 "_generated/notebooks/04_novograd_at_work.html"):
        assert (site / page).is_file(), page
    assert broken_links(site) == []


@pytest.mark.slow
@needs_sphinx
def test_nothing_on_the_site_is_garbled(site: Path) -> None:
    assert garbled(site) == []


@pytest.mark.parametrize("page", sorted(str(p.relative_to(ROOT / "docs"))
                                        for p in (ROOT / "docs").rglob("*.md")
                                        if "_generated" not in p.parts))
def test_markdown_table_rows_have_the_header_s_cells(page: str) -> None:
    assert table_rows_with_wrong_cell_count((ROOT / "docs" / page).read_text()) == []


@pytest.mark.parametrize(("html", "problem"), [
    ("<p>| a | b |\n|---|---|\n| 1 | 2 |</p>", "a Markdown table shown as a paragraph"),
    ("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td><td>3</td></tr></table>",
     "a table row of 3 cells under a header of 2"),
    (('<dl class="field-list"><dt class="field-odd">Type<span class="colon">:</span></dt>'
     "<dd><p>The ulps as printed</p></dd></dl>"), "a Type field that is not a type"),
])
def test_the_garbled_check_finds_each_kind(html: str, problem: str, tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(html)
    (found,) = garbled(tmp_path)
    assert problem in found
    clean = ('<p>a | b</p><table><tr><th colspan="2">a</th></tr><tr><td>1</td><td>2</td>'
             '</tr></table><dl><dt class="field-odd">Type:</dt><dd><p>str | None</p></dd></dl>'
             "<p>(<code>g/|g|</code>)</p>")
    (tmp_path / "page.html").write_text(clean)
    assert garbled(tmp_path) == []


def test_the_table_check_counts_cells_as_gfm_does() -> None:
    assert table_rows_with_wrong_cell_count("| a | b |\n|---|---|\n| `g/\\|g\\|` | x |\n") == []
    (problem,) = table_rows_with_wrong_cell_count("| a | b |\n|---|---|\n| `g/|g|` | x |\n")
    assert problem.startswith("4 cells under a header of 2")


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
    # no private module in the API reference: every documented object's name is public
    for page in (site / "api").glob("*.html"):
        private = re.findall(r'<dt class="sig[^>]* id="(novograd_ref[^"]*\._[a-z][^"]*)"',
                             page.read_text())
        assert private == [], (page.name, private)
    # every Config field described, every preset keyword in its preset's table
    import dataclasses
    import inspect

    configuration = (site / "api" / "configuration.html").read_text()
    for field in dataclasses.fields(ngr.Config):
        assert f'href="#novograd_ref.Config.{field.name}"' in configuration, field.name
    optimizer = (site / "api" / "optimizer.html").read_text()
    for name in ngr.presets.names():
        table = optimizer.split(f'<span class="pre">presets.{name}</span></code>:')[1]
        table = table[:table.index("</table>")]
        for keyword in inspect.signature(ngr.presets.get(name)).parameters:
            if keyword != "kwargs":
                assert f'<span class="pre">{keyword}</span>' in table, (name, keyword)


# pip's words for a package index it cannot reach (no network), as opposed to a
# requirement that cannot be met
UNREACHABLE = ("NewConnectionError", "Network is unreachable", "name resolution",
               "Failed to establish a new connection", "ProxyError")


@pytest.mark.slow
def test_the_docs_extra_alone_builds_the_site(tmp_path: Path) -> None:
    """The build .readthedocs.yaml configures: a fresh virtual environment with only
    ``pip install ".[docs]"`` (no numba, no test extra), then
    ``python -m sphinx -W -b html docs OUT``. Skipped only where pip cannot reach a
    package index."""
    config = (ROOT / ".readthedocs.yaml").read_text()
    assert "fail_on_warning: true" in config
    assert re.search(r"extra_requirements:\n\s+- docs\n", config), "the docs extra alone"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run([python, "-m", "pip", "install", "-q", ".[docs]"], cwd=ROOT,
                             env=env, capture_output=True, text=True, check=False)
    if install.returncode != 0 and any(w in install.stderr for w in UNREACHABLE):
        pytest.skip(f"no package index reachable: {install.stderr[-300:]}")
    assert install.returncode == 0, install.stderr[-3000:]
    build = subprocess.run([python, "-m", "sphinx", "-W", "-b", "html", str(ROOT / "docs"),
                            str(tmp_path / "out")], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stderr[-4000:]
    assert (tmp_path / "out" / "api" / "fused.html").is_file()
    assert "from_optimizer" in (tmp_path / "out" / "api" / "fused.html").read_text()


def docs_module(relative: str) -> Any:
    """A Python file of docs/ (not a package), imported from its path."""
    import importlib.util

    path = ROOT / "docs" / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_inventories_are_what_their_script_writes() -> None:
    """docs/_inventories/*.inv, the offline parts of Python's and NumPy's inventories,
    are exactly what make_inventories.py writes from its table of names."""
    script = docs_module("_inventories/make_inventories.py")
    for name, (project, version, entries) in script.INVENTORIES.items():
        shipped = (ROOT / "docs" / "_inventories" / name).read_bytes()
        assert shipped == script.inventory(project, version, entries), name


@needs_sphinx
def test_the_site_extension_s_examples_run() -> None:
    """The doctest examples of docs/_ext/novograd_docs.py (the build's own helpers)."""
    import doctest

    result = doctest.testmod(docs_module("_ext/novograd_docs.py"))
    assert result.attempted > 0
    assert result.failed == 0


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


def paragraphs(text: str) -> list[str]:
    """The prose paragraphs of a Markdown text: blocks of lines between blank lines,
    headings, table rows, code blocks and list items (each list item is one)."""
    found, current, inside = [], [], False
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("```"):
            inside = not inside
        item = re.match(r"\s*([-*+]|\d+\.)\s", line)
        if inside or line.lstrip().startswith("```") or not line.strip() or item or \
                line.lstrip().startswith(("|", "#")):
            if current:
                found.append(" ".join(current))
            current = [line] if item and not inside else []
        else:
            current.append(line)
    return found


# Words a paragraph may have on the site before a reader loses its thread.
LONGEST_PARAGRAPH = 120


@pytest.mark.parametrize("page", ["benchmarks/RESULTS.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md")
    if "_generated" not in p.parts)])
def test_no_paragraph_of_the_site_is_too_long(page: str) -> None:
    long = [f"{len(p.split())} words: {p[:60]}..."
            for p in paragraphs((ROOT / page).read_text())
            if len(p.split()) > LONGEST_PARAGRAPH]
    assert long == []


def test_paragraphs_are_split_at_blank_lines_items_and_code() -> None:
    text = "a b\nc\n\n- d e\n  f\n- g\n\n```\nh i\n```\n| j |\n# k\nl\n"
    assert paragraphs(text) == ["a b c", "- d e   f", "- g", "l"]


def installs_by_name(text: str) -> list[str]:
    """The ``pip install`` commands of the code blocks of a Markdown text that ask the
    package index for novograd-ref by name (bare, with extras or a version)."""
    code, inside = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside:
            code.append(line)
    commands = [m.group(1) for line in code
                for m in re.finditer(r"pip install([^&;]*)", line)]
    return [c for c in commands
            if re.search(r"""(^|\s)["']?novograd-ref($|[\s\[=<>~"'])""", c)]


@pytest.mark.parametrize("page", ["README.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md")
    if "_generated" not in p.parts)])
def test_no_install_command_asks_the_index_for_novograd_ref(page: str) -> None:
    """novograd-ref is not on the package index yet: every command a page tells a reader
    to run installs it from a checkout (``.``, ``./path``) or an sdist, never by name."""
    assert installs_by_name((ROOT / page).read_text()) == []


def test_the_install_check_finds_an_install_by_name() -> None:
    text = ("```bash\npip install novograd-ref\npip install . && x\n```\n"
            '```yaml\n- run: pip install . "novograd-ref[fast]==0.1"\n'
            "- run: pip install ./third_party/novograd-ref\n```\n")
    assert installs_by_name(text) == [" novograd-ref", ' . "novograd-ref[fast]==0.1"']


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
    section = guide[guide.index("## 6. The report"):guide.index("## 7.")]
    documented = set(re.findall(r"`([a-z_]+)`", section.split("The report of the run")[0]))
    assert keys <= documented, f"keys the guide does not explain: {sorted(keys - documented)}"
