"""Pages of the documentation that are generated from the code at build time.

Nothing here is copied by hand: the preset reference and the variant matrix come from
calling every preset, the CLI reference from ``novograd_ref.cli.build_parser``, the
tolerance table from ``novograd_ref.testing``, the benchmark plots from the tables of
``benchmarks/RESULTS.md``, and the notebooks are the executed ``notebooks/*.ipynb``.
Math is rendered as MathML by docutils, so the site needs no script from elsewhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import re
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.utils.math import latex2mathml
from sphinx.application import Sphinx

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
OUT = DOCS / "_generated"

# Extra rows of the variant matrix: preset keywords that switch a convention.
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("openseq2seq", {"mode": "eager"}),
    ("clara", {"use_nesterov": True}),
    ("apex", {"init_zero": True}),
    ("apex", {"norm_type": 0}),
    ("apex", {"reg_inside_moment": True, "bias_correction": False, "grad_averaging": False}),
    ("tfa", {"amsgrad": True}),
    ("nemo", {"luc": True}),
    ("timm", {"weight_decay": 0.01, "decoupled_decay": True}),
    ("pytorch_optimizer", {"weight_decay": 0.01, "weight_decouple": True,
                           "fixed_decay": True}),
    ("pytorch_optimizer", {"adam_debias": True}),
]


def _preset_call(name: str, extra: dict[str, Any] | None = None) -> Any:
    """The optimizer of preset ``name`` at its defaults (learning rate 0.01 where the
    signature has no default)."""
    from novograd_ref import presets

    spec = presets.spec(name)
    keyword = spec.learning_rate_keyword
    kwargs = dict(extra or {})
    if inspect.signature(spec.function).parameters[keyword].default is inspect.Parameter.empty:
        kwargs[keyword] = 0.01
    return spec.function(**kwargs)


def _show(config: Any, field: str) -> str:
    """A field's value as ``Config`` prints it (a float32-rounded hyperparameter as the
    shortest decimal that rounds to it)."""
    from novograd_ref._config import ROUNDED_BY_HYPER_DTYPE
    from novograd_ref._config import _show as show

    value = getattr(config, field)
    return f"`{show(value, config.hyper_dtype if field in ROUNDED_BY_HYPER_DTYPE else None)}`"


def variant_matrix() -> str:
    """Two tables, rows: presets (and keyword variants). The first has a column for each
    number of ``Config`` that some row sets away from its default; the second lists, per
    row, the convention switches and dtypes it sets away from their defaults. A cell is
    empty where the row keeps the default."""
    from novograd_ref import Config, presets

    rows: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in presets.names()]
    rows += VARIANTS
    configs = [(name, extra, _preset_call(name, extra).config) for name, extra in rows]
    changed = [f for f in dataclasses.fields(Config)
               if f.name != "learning_rate"
               and any(getattr(c, f.name) != f.default for _, _, c in configs)]
    numbers = [f for f in changed if isinstance(f.default, float)]
    switches = [f for f in changed if f not in numbers]  # conventions and dtypes

    def label(name: str, extra: dict[str, Any]) -> str:
        return " ".join([f"`{name}`", *(f"`{k}={v!r}`" for k, v in extra.items())])

    header = ["preset", *[f"`{f.name}`" for f in numbers]]
    numeric = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    conventions = ["| preset | switches and dtypes away from their defaults |", "|---|---|"]
    for name, extra, cfg in configs:
        cells = [_show(cfg, f.name) if getattr(cfg, f.name) != f.default else ""
                 for f in numbers]
        numeric.append("| " + " | ".join([label(name, extra), *cells]) + " |")
        set_here = [f"`{f.name}={getattr(cfg, f.name)!r}`" for f in switches
                    if getattr(cfg, f.name) != f.default]
        conventions.append(f"| {label(name, extra)} | {', '.join(set_here)} |")
    defaults = ", ".join(f"`{f.name}={f.default!r}`" for f in numbers)
    switch_defaults = ", ".join(f"`{f.name}={f.default!r}`" for f in switches)
    return ("Each row is `presets.<name>(**keywords).config` at the preset's default "
            "keywords (learning rate 0.01 where it has no default).\n\n"
            "## Hyperparameters\n\n"
            f"An empty cell keeps the `Config` default ({defaults}). On a narrow screen "
            "the table scrolls sideways and its first column stays in place.\n\n"
            + "\n".join(numeric) + "\n\n## Conventions and dtypes\n\n"
            f"A row names only the switches it sets; every other switch keeps its default "
            f"({switch_defaults}).\n\n" + "\n".join(conventions) + "\n")


def preset_reference() -> str:
    """One section per preset: what it reproduces, the signature, the resolved config and
    the framework versions its bundled records were recorded from."""
    from novograd_ref import presets, vectors

    recorded: dict[str, set[str]] = {}
    for entry in vectors.record_entries():
        version = entry.get("provenance", {}).get("framework_version", "?")
        recorded.setdefault(entry["preset"], set()).add(f"{entry['framework']} {version}")
    out = []
    for name in presets.names():
        fn = presets.get(name)
        doc = inspect.getdoc(fn) or ""
        summary = doc.split("\n\n")[0].replace("\n", " ")
        frameworks = ", ".join(sorted(recorded.get(name, ()))) or (
            "none bundled: checked through the equivalences and hand-derived vectors")
        out += [f"## `{name}`", "", summary, "",
                f"- signature: `{name}{inspect.signature(fn)}`".replace(" -> 'NovoGrad'", ""),
                f"- learning-rate keyword: `{presets.spec(name).learning_rate_keyword}`",
                (f"- switches (`presets.spec({name!r}).space()`): "
                 f"`{presets.spec(name).space()}`"),
                f"- resolved at its defaults: `{_preset_call(name).config!r}`",
                f"- golden records from: {frameworks}", ""]
    return "\n".join(out)


def tolerance_table() -> str:
    """Every tolerance kind for every dtype, as ``novograd_ref.testing.rtol`` gives it."""
    from novograd_ref import testing

    dtypes = ["float64", "float32", "float16", "bfloat16"]
    lines = ["| kind | " + " | ".join(dtypes) + " |", "|---|" + "---|" * len(dtypes)]
    for kind in testing.KINDS:
        cells = []
        for d in dtypes:
            value = testing.rtol(d, kind)
            cells.append(f"{value:.2g} ({value / testing.eps(d):g} eps)")
        lines.append(f"| `{kind}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cli_reference() -> str:
    """``--help`` of the command and of every sub-command, as the parser prints it."""
    from novograd_ref.cli import build_parser

    os.environ["COLUMNS"] = "90"  # argparse wraps to the terminal width
    parser = build_parser()
    out = ["## `novograd-ref`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += [f"## `novograd-ref {name}`", "", "```text",
                        sub.format_help().rstrip(), "```", ""]
    return "\n".join(out)


def example_run() -> tuple[str, str]:
    """Run ``novograd-ref verify`` on the example port from its own folder, as the
    porting guide tells a user to: its output (shortened) and its report (the first
    comparison only), both as Markdown."""
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        result = subprocess.run(
            [sys.executable, "-m", "novograd_ref", "verify", "--impl", "numpy_port:make",
             "--preset", "optax", "--report", str(report)],
            cwd=DOCS / "examples", capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"the example port failed (exit {result.returncode}):\n"
                               f"{result.stdout}{result.stderr}")
        data = json.loads(report.read_text())
    lines = result.stdout.rstrip().splitlines()
    table_end = next(i for i, line in enumerate(lines) if not line.strip())
    shown = [*lines[:6], "...", *lines[table_end:]] if table_end > 7 else lines
    data["comparisons"] = data["comparisons"][:1]
    return ("```text\n" + "\n".join(shown) + "\n```\n",
            "```json\n" + json.dumps(data, indent=1) + "\n```\n")


def bundled_run() -> tuple[str, str]:
    """Run ``novograd-ref verify`` as the first minute of the guide does: its output as
    Markdown, the table's first rows and its last lines as printed, and a summary (the
    table's size and the last line). A failing run fails the build."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "novograd_ref", "verify"],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"novograd-ref verify failed (exit {result.returncode}):\n"
                           f"{result.stdout}{result.stderr}")
    lines = result.stdout.rstrip().splitlines()
    table_end = next(i for i, line in enumerate(lines) if not line.strip())
    shown = [*lines[:8], f"... ({table_end - 8} more rows)", *lines[table_end:]]
    summary = [(f"... (a table of {table_end - 2} rows: preset, framework, dtype, worst "
               "error, tolerance, result)"), lines[-1]]
    return ("```text\n$ novograd-ref verify\n" + "\n".join(shown) + "\n```\n",
            "```text\n$ novograd-ref verify\n" + "\n".join(summary) + "\n```\n")


def exit_statuses() -> str:
    from novograd_ref.cli import EXIT_STATUSES

    return "```text\n" + EXIT_STATUSES.rstrip() + "\n```\n"


def _markdown_tables(text: str) -> list[list[list[str]]]:
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            tables.append([r for r in current if not set("".join(r)) <= set("-: ")])
            current = []
    return tables


def _number(text: str) -> float:
    match = re.search(r"[0-9.]+", text)
    if match is None:
        raise ValueError(f"no number in {text!r}")
    return float(match.group())


def benchmark_headline() -> str:
    """The benchmarks page's opening: the machine, and the table of targets with what
    was measured, both from ``benchmarks/RESULTS.md`` (a missing one fails the build)."""
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    machine = next((p for p in text.split("\n\n") if p.startswith("Machine")), None)
    start = text.find("| target | measured | verdict |")
    if machine is None or start < 0:
        raise RuntimeError("benchmarks/RESULTS.md has no 'Machine' paragraph or no table "
                           "'| target | measured | verdict |'")
    table = text[start:].split("\n\n")[0]
    machine = machine.split(". ")[0].replace("Machine for everything below:", "Measured on")
    return (f"{machine}.\n\nThe targets of the fused step and the reference core on the "
            "CPU, as measured in the latest run (details below):\n\n" + table + "\n")


def benchmark_plots() -> list[str]:
    """Bar charts of the CPU step benchmark from its table in ``benchmarks/RESULTS.md``:
    time per step over the one-thread bandwidth floor (ResNet-50 tree), and time per leaf
    (small tree). A missing table fails the build rather than dropping the plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    table = next((t for t in _markdown_tables(text)
                  if any("x floor" in c for c in t[0])), None)
    if table is None:
        raise RuntimeError("benchmarks/RESULTS.md has no CPU step table (a column 'x floor')")
    head = table[0]
    col = {name: head.index(next(c for c in head if c.startswith(name)))
           for name in ("tree", "implementation", "threads", "time", "x floor")}
    large: list[tuple[str, str, float, float, float]] = []
    small: list[tuple[str, float]] = []
    tree = ""
    for row in table[1:]:
        tree = row[col["tree"]] or tree
        impl = re.sub(r"[*`]|\(.*?\)", "", row[col["implementation"]]).strip() or large[-1][0]
        if "per leaf" in tree:
            small.append((impl, _number(row[col["time"]])))
        elif row[col["x floor"]]:
            ratio = row[col["x floor"]]
            spread = re.search(r"\(([0-9.]+)-([0-9.]+)\)", ratio)
            low, high = (float(spread.group(1)), float(spread.group(2))) if spread else (
                _number(ratio), _number(ratio))
            label = f"{impl}, {row[col['threads']]} thread(s)"
            large.append((impl, label, _number(ratio), low, high))
    names = []
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(large) + 1))
    labels = [r[1] for r in large][::-1]
    values = [r[2] for r in large][::-1]
    errors = [[r[2] - r[3] for r in large][::-1], [r[4] - r[2] for r in large][::-1]]
    ax.barh(labels, values, xerr=errors, color="#4a7ab5", capsize=3)
    ax.set_xlabel("time per step / one-thread bandwidth floor\n(median and range of the runs)")
    ax.set_title("One step on a ResNet-50-shaped float32 tree (CPU)")
    fig.tight_layout()
    fig.savefig(OUT / "bench_large.svg", bbox_inches="tight")
    names.append("bench_large.svg")
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(small) + 1))
    ax.barh([s[0] for s in small][::-1], [s[1] for s in small][::-1], color="#4a7ab5")
    ax.set_xlabel("microseconds per leaf (one thread, median)")
    ax.set_title("One step on 200 leaves of 100 values (CPU)")
    fig.tight_layout()
    fig.savefig(OUT / "bench_small.svg", bbox_inches="tight")
    names.append("bench_small.svg")
    plt.close("all")
    return names


def api_summary(module_name: str, mocked: list[str]) -> str:
    """A summary table of everything ``module_name`` exports (its ``__all__``), so that
    an API page opens with what it holds and cannot miss a public name: functions and
    classes in an autosummary (linked to their entries below it), constants in a table
    of their values."""
    import importlib

    from sphinx.ext.autodoc.mock import mock

    with mock(mocked):  # as autodoc imports it: the fused path without numba
        module = importlib.import_module(module_name)
    names = [n for n in module.__all__ if not n.startswith("_")]
    documented = [n for n in names if callable(getattr(module, n))]
    constants = [n for n in names if n not in documented]
    out = ("```{eval-rst}\n" f".. currentmodule:: {module_name}\n\n.. autosummary::\n\n"
           + "".join(f"   {name}\n" for name in documented) + "```\n")
    if constants:
        rows = []
        for name in constants:
            value = repr(getattr(module, name))
            value = value if len(value) <= 70 else value[:66] + " ..."
            rows.append(f"| `{name}` | `{_cell(value)}` |")
        out += ("\nConstants:\n\n| name | value |\n|---|---|\n" + "\n".join(rows) + "\n")
    return out


def _field_docs() -> dict[str, str]:
    """Each ``Config`` field's ``#:`` comment, as one line of Markdown."""
    from sphinx.pycode import ModuleAnalyzer

    docs = ModuleAnalyzer.for_module("novograd_ref._config").find_attr_docs()
    return {name: " ".join(line.strip() for line in lines if line.strip()).replace("``", "`")
            for (owner, name), lines in docs.items() if owner == "Config"}


def _field_values(annotation: Any, default: Any) -> str:
    """The values a field takes, from its annotation (the choices of a ``Literal``,
    ``False, True`` for a flag, else a number, or a schedule for the learning rate), its
    default marked."""
    import typing

    args = typing.get_args(annotation)
    literal = next((a for a in (annotation, *args) if typing.get_origin(a) is typing.Literal),
                   None)
    if literal is not None or annotation is bool:
        choices = [*(typing.get_args(literal) if literal is not None else (False, True)),
                   *([None] if type(None) in args else [])]
        return ", ".join(f"`{v!r}`" + (" (default)" if v == default else "")
                         for v in choices)
    schedule = any(typing.get_origin(a) is not None for a in args)  # a Callable
    kind = "a number" + (" or `None`" if type(None) in args else "") + (
        " or a schedule" if schedule else "")
    return kind + (" (required)" if default is dataclasses.MISSING
                   else f", default `{default!r}`")


def config_fields() -> str:
    """Every ``Config`` field: its values, its default and what it does (its ``#:``
    comment). A field without a comment fails the build."""
    import typing

    from novograd_ref import Config

    hints = typing.get_type_hints(Config)
    docs = _field_docs()
    missing = [f.name for f in dataclasses.fields(Config) if f.name not in docs]
    if missing:
        raise RuntimeError(f"Config fields without a #: comment: {missing}")
    lines = ["| field | values | what it does |", "|---|---|---|"]
    for f in dataclasses.fields(Config):
        lines.append(f"| {{py:attr}}`~novograd_ref.Config.{f.name}` | "
                     f"{_field_values(hints[f.name], f.default)} | {_cell(docs[f.name])} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a ``|`` would end the cell, so it is escaped."""
    return text.replace("|", "\\|")


def _changed_fields(before: Any, after: Any) -> list[str]:
    from novograd_ref import Config

    return [f.name for f in dataclasses.fields(Config)
            if getattr(before, f.name) != getattr(after, f.name)]


def _other_values(spec: Any, keyword: str, default: Any) -> list[Any]:
    """Values of ``keyword`` other than its default to call the preset with."""
    vocabulary = spec.vocabulary
    known = [*vocabulary.flags.get(keyword, ()), *vocabulary.settings.get(keyword, ())]
    values: list[Any] = [v for v in known if v != default]
    if isinstance(default, bool):
        values.append(not default)
    elif isinstance(default, tuple):
        values.append(tuple(0.5 for _ in default))
    elif isinstance(default, (int, float)):
        values += [default * 0.5 if default else 0.01, 0.01]
    elif default is None or isinstance(default, str):
        values += ["float32", 0.5, 0.01]
    return values


def _schedule(step: Any) -> float:
    """A learning-rate schedule, for the keywords that only act on one."""
    return 0.01


def _keyword_effect(spec: Any, keyword: str, default: Any) -> str:
    """What a preset keyword sets, found by calling the preset with another value of it
    (with one or two switches turned on, or a schedule as the rate, where the keyword
    requires it) and comparing the configuration with the same call without it."""
    import itertools

    base = _preset_call(spec.name).config
    switches = [k for k, v in _defaults(spec.function).items() if v is False and k != keyword]
    extras: list[dict[str, Any]] = [
        {}, *(dict.fromkeys(pair, True) for n in (1, 2)
              for pair in itertools.combinations(switches, n)),
        {spec.learning_rate_keyword: _schedule}]
    refusal = ""
    for value in _other_values(spec, keyword, default):
        for extra in extras:
            try:
                config = _preset_call(spec.name, {keyword: value, **extra}).config
            except (ValueError, TypeError) as exc:
                refusal = refusal or (f"only `{default!r}`: `{keyword}={value!r}` raises "
                                      f"`{type(exc).__name__}` ({exc})" if not extra else "")
                continue
            # against the same call without this keyword: what the keyword itself sets
            reference = _preset_call(spec.name, extra).config if extra else base
            changed = _changed_fields(reference, config)
            if changed:
                fields = ", ".join(f"{{py:attr}}`~novograd_ref.Config.{c}`" for c in changed)
                needs = ", ".join("a schedule as the learning rate" if v is _schedule
                                  else f"`{k}={v!r}`" for k, v in extra.items())
                return fields + (f" (with {needs})" if needs else "")
    return refusal


def _defaults(function: Any) -> dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.kind is not inspect.Parameter.VAR_KEYWORD}


def preset_api() -> str:
    """Each preset's function (autodoc) and a table of its keywords: the default and the
    ``Config`` fields it sets. A keyword whose effect cannot be found fails the build,
    unless it is one of the keywords the presets accept without numerical meaning."""
    from novograd_ref import presets

    ignored = ("name", "use_locking", "set_grad_none", "foreach")
    out = []
    for name in presets.names():
        spec = presets.spec(name)
        keywords = _defaults(spec.function)
        for setting, values in spec.vocabulary.settings.items():
            keywords.setdefault(setting, values[0])
        rows = ["| keyword | default | sets |", "|---|---|---|"]
        for keyword, default in keywords.items():
            shown = "required" if default is inspect.Parameter.empty else f"`{default!r}`"
            if keyword == spec.learning_rate_keyword:
                effect = "{py:attr}`~novograd_ref.Config.learning_rate`"
            elif keyword in ignored:
                effect = "accepted and ignored (no numerical meaning)"
            else:
                effect = _keyword_effect(spec, keyword, default)
            if not effect:
                raise RuntimeError(f"preset {name}: no effect found for keyword {keyword!r}")
            rows.append(f"| `{keyword}` | {_cell(shown)} | {effect} |")
        out += [f"### `{name}`", "", "```{eval-rst}",
                f".. autofunction:: novograd_ref.presets.{name}", "```", "",
                f"Keywords of `presets.{name}`:", "", *rows, ""]
    return "\n".join(out)


def copy_notebooks() -> None:
    target = OUT / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copyfile(notebook, target / notebook.name)


def _write_if_changed(path: Path, text: str) -> None:
    """Sphinx rebuilds a page whose source changed; unchanged text keeps its mtime."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def generate(app: Sphinx) -> None:
    OUT.mkdir(exist_ok=True)
    _write_if_changed(OUT / "variant_matrix.md", variant_matrix())
    _write_if_changed(OUT / "presets.md", preset_reference())
    _write_if_changed(OUT / "tolerances.md", tolerance_table())
    _write_if_changed(OUT / "cli.md", cli_reference())
    verify_output, report = example_run()
    _write_if_changed(OUT / "example_verify.md", verify_output)
    bundled, summary = bundled_run()
    _write_if_changed(OUT / "bundled_verify.md", bundled)
    _write_if_changed(OUT / "bundled_verify_summary.md", summary)
    _write_if_changed(OUT / "example_report.md", report)
    _write_if_changed(OUT / "exit_statuses.md", exit_statuses())
    _write_if_changed(OUT / "config_fields.md", config_fields())
    _write_if_changed(OUT / "preset_api.md", preset_api())
    for area in ("conformance", "vectors", "fused", "backends"):
        _write_if_changed(OUT / f"summary_{area}.md", api_summary(f"novograd_ref.{area}",
                                                               app.config.autodoc_mock_imports))
    benchmark_plots()
    _write_if_changed(OUT / "bench_headline.md", benchmark_headline())
    copy_notebooks()


def source_tags(app: Sphinx, modname: str) -> tuple[str, dict[str, tuple[str, int, int]]] | None:
    """The source of a module and where each of its functions and classes (and their
    methods) starts and ends, for the links to the source: Sphinx's own parser of it
    fails on a dict display with ``**`` in it (``presets``), which left its page out.

    >>> code, tags = source_tags(None, "novograd_ref.presets")
    >>> tags["PresetSpec.keywords"][0], tags["nemo"][0]
    ('def', 'def')
    """
    import ast
    import importlib.util

    if not modname.startswith("novograd_ref"):
        return None
    spec = importlib.util.find_spec(modname)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    code = Path(spec.origin).read_text(encoding="utf-8")
    tags: dict[str, tuple[str, int, int]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kind = "class" if isinstance(node, ast.ClassDef) else "def"
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                tags[prefix + node.name] = (kind, start, node.end_lineno or node.lineno)
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{prefix}{node.name}.")

    visit(ast.parse(code).body, "")
    return code, tags


_IMAGE = re.compile(r'(<a\b[^>]*>\s*)?(<img\b[^>]*?\bsrc="([^"]+)"[^>]*>)')


def link_images(html: str) -> str:
    """Each image not already in a link wrapped in a link to itself, so that a reader
    can open a figure at its full size.

    >>> link_images('<p><img alt="" src="_images/a.png" /></p>')
    '<p><a class="image-full-size" href="_images/a.png"><img alt="" src="_images/a.png" /></a></p>'
    >>> link_images('<a href="x"><img src="a.png"/></a>')
    '<a href="x"><img src="a.png"/></a>'
    """
    def wrap(match: re.Match[str]) -> str:
        if match.group(1) or match.group(3).startswith("data:"):
            return match.group(0)
        return f'<a class="image-full-size" href="{match.group(3)}">{match.group(2)}</a>'

    return _IMAGE.sub(wrap, html)


def link_images_of_the_site(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        linked = link_images(text)
        if linked != text:
            page.write_text(linked, encoding="utf-8")


def _mathml(self: Any, node: nodes.Element, block: bool) -> None:
    latex = node.astext()
    if "as_block" in inspect.signature(latex2mathml.tex2mathml).parameters:  # docutils 0.22+
        mathml = latex2mathml.tex2mathml(latex, as_block=block)
    else:
        mathml = latex2mathml.tex2mathml(latex, inline=not block)
    self.body.append(f'<div class="math">{mathml}</div>' if block else mathml)
    raise nodes.SkipNode


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    app.connect("build-finished", link_images_of_the_site)
    app.connect("viewcode-find-source", source_tags)
    app.add_html_math_renderer(
        "mathml",
        inline_renderers=(lambda self, node: _mathml(self, node, False), None),
        block_renderers=(lambda self, node: _mathml(self, node, True), None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
