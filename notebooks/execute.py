"""Build the teaching notebooks from their text sources and execute them in place.

Each notebook is kept twice, side by side:

- ``NN_name.py``, the source: a plain Python file in the "percent" format (cells start
  with ``# %%``; markdown cells with ``# %% [markdown]``, their lines commented out).
  This is the file to edit and review; jupytext and most editors open it as a notebook.
- ``NN_name.ipynb``, built from it and executed, with its outputs, so that it renders
  where the repository is browsed.

Usage (from the repository root, with the ``notebooks`` extra installed)::

    python notebooks/execute.py            # rebuild and execute every notebook
    python notebooks/execute.py 02 04      # only those whose file name contains 02 or 04
    python notebooks/execute.py --check    # only check that each .ipynb matches its .py

Execution starts a fresh Python kernel per notebook, runs it in the ``notebooks``
directory and stops at the first cell that raises.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CELL_MARK = "# %%"
MARKDOWN_MARK = "# %% [markdown]"
TIMEOUT_S = 600

def sources() -> list[Path]:
    """The notebook sources (``NN_*.py``), in order."""
    return sorted(HERE.glob("[0-9][0-9]_*.py"))


def parse_percent(text: str) -> list[tuple[str, str]]:
    """Split a percent-format file into ``(cell_type, source)`` pairs.

    Lines before the first ``# %%`` marker are ignored. Markdown lines lose their
    leading ``# `` (or a lone ``#``); code is kept verbatim. Blank lines around each
    cell are dropped.
    """
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith(CELL_MARK):
            kind = "markdown" if line.startswith(MARKDOWN_MARK) else "code"
            cells.append((kind, []))
        elif cells:
            kind, lines = cells[-1]
            if kind == "markdown":
                if line.startswith("# "):
                    line = line[2:]
                elif line.strip() in ("#", ""):
                    line = ""
                else:
                    raise ValueError(f"markdown line is not commented out: {line!r}")
            lines.append(line)
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]


def build(source: Path) -> Any:
    """An unexecuted notebook (``nbformat`` v4) with the cells of ``source``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    for kind, text in parse_percent(source.read_text(encoding="utf-8")):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(text))
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    _stable_ids(nb, source.stem)
    return nb


def _stable_ids(nb: Any, stem: str) -> None:
    # Deterministic cell ids keep re-executions from rewriting every cell.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{stem[:2]}-{i:03d}"


def execute(nb: Any, timeout: int = TIMEOUT_S) -> Any:
    """Run every cell of ``nb`` in a fresh kernel (cwd: this directory); raise on error."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            record_timing=False,
                            resources={"metadata": {"path": str(HERE)}})
    client.execute()
    nb.metadata.pop("widgets", None)
    return nb


def cell_sources(nb: Any) -> list[tuple[str, str]]:
    """``(cell_type, source)`` of each cell of a notebook."""
    return [(c["cell_type"], c["source"]) for c in nb.cells]


def out_of_date(source: Path) -> str | None:
    """Why ``source``'s .ipynb does not match it, or ``None`` if it does."""
    import nbformat

    target = source.with_suffix(".ipynb")
    if not target.exists():
        return f"{target.name} is missing"
    committed = nbformat.read(target, as_version=4)
    if cell_sources(committed) != parse_percent(source.read_text(encoding="utf-8")):
        return f"{target.name} differs from {source.name}"
    unrun = [i for i, c in enumerate(committed.cells)
             if c["cell_type"] == "code" and c.get("execution_count") is None]
    if unrun:
        return f"{target.name} has unexecuted code cells {unrun}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="substrings of the notebooks to run")
    parser.add_argument("--check", action="store_true",
                        help="only check that every .ipynb matches its .py source")
    args = parser.parse_args(argv)
    chosen = [s for s in sources() if not args.names or any(n in s.name for n in args.names)]
    if args.check:
        problems = [p for p in map(out_of_date, chosen) if p]
        print("\n".join(problems) or f"{len(chosen)} notebooks up to date")
        return 1 if problems else 0
    import nbformat

    for source in chosen:
        start = time.perf_counter()
        nb = execute(build(source))
        nbformat.write(nb, source.with_suffix(".ipynb"))
        print(f"{source.with_suffix('.ipynb').name}: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
