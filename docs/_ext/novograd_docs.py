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
    from novograd_ref._config import _ROUNDED
    from novograd_ref._config import _show as show

    value = getattr(config, field)
    return f"`{show(value, config.hyper_dtype if field in _ROUNDED else None)}`"


def variant_matrix() -> str:
    """Rows: presets (and keyword variants); columns: every ``Config`` field that some row
    sets away from its default; a cell is empty where the row keeps the default."""
    from novograd_ref import Config, presets

    rows = [(name, {}) for name in presets.names()] + VARIANTS
    configs = [(name, extra, _preset_call(name, extra).config) for name, extra in rows]
    fields = [f for f in dataclasses.fields(Config)
              if f.name != "learning_rate"
              and any(getattr(c, f.name) != f.default for _, _, c in configs)]
    header = ["preset", *[f"`{f.name}`" for f in fields]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, extra, cfg in configs:
        label = f"`{name}` " + ", ".join(f"{k}={v!r}" for k, v in extra.items())
        cells = [_show(cfg, f.name) if getattr(cfg, f.name) != f.default else ""
                 for f in fields]
        lines.append("| " + " | ".join([label.strip(), *cells]) + " |")
    defaults = ", ".join(f"`{f.name}={f.default!r}`" for f in fields)
    return ("Each row is `presets.<name>(**keywords).config` at the preset's default "
            "keywords (learning rate 0.01 where it has no default); an empty cell keeps the "
            f"`Config` default ({defaults}).\n\n" + "\n".join(lines) + "\n")


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
    large, small, tree = [], [], ""
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
    _write_if_changed(OUT / "example_report.md", report)
    _write_if_changed(OUT / "exit_statuses.md", exit_statuses())
    benchmark_plots()
    copy_notebooks()


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
    app.add_html_math_renderer(
        "mathml",
        inline_renderers=(lambda self, node: _mathml(self, node, False), None),
        block_renderers=(lambda self, node: _mathml(self, node, True), None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
