"""The teaching notebooks: each runs from a clean kernel without error, and each
committed ``.ipynb`` is built from its text source (``notebooks/NN_*.py``) and executed.

Executing needs the ``notebooks`` extra (nbclient, nbformat, ipykernel, matplotlib,
scikit-learn); without it these tests are skipped with that reason. To refresh the
committed outputs after editing a source: ``python notebooks/execute.py``.

Budgets: every cell must finish within ``CELL_TIMEOUT_S``; each notebook states its own
running time in its first cell ("Time: ..."), which is checked to be there. On one free
CPU core: 01 about 10 s, 02 about 10 s, 03 about 20 s, 04 about 90 s (its longest cell,
the learning-rate sweep, about 40 s), 05 about 50 s.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
NEEDED = ("nbformat", "nbclient", "ipykernel", "matplotlib", "sklearn")
CELL_TIMEOUT_S = 300


def _tools() -> ModuleType:
    """``notebooks/execute.py``, which builds and runs the notebooks."""
    spec = importlib.util.spec_from_file_location("notebooks_execute", NOTEBOOKS / "execute.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _require(*modules: str) -> None:
    for name in modules:
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"{name} is not installed; the notebooks need the 'notebooks' extra "
                        "(pip install -e '.[notebooks]')")


def test_at_least_four_notebooks() -> None:
    assert len(SOURCES) >= 4, [s.name for s in SOURCES]


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_notebook_opens_with_what_you_will_do_learn_need(source: Path) -> None:
    kind, text = _tools().parse_percent(source.read_text(encoding="utf-8"))[0]
    assert kind == "markdown"
    for heading in ("What you will do", "What you will learn", "What you will need"):
        assert heading in text, f"{source.name}: the first cell lacks {heading!r}"


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_notebook_states_its_running_time(source: Path) -> None:
    _, text = _tools().parse_percent(source.read_text(encoding="utf-8"))[0]
    assert "Time:" in text, f"{source.name}: the first cell does not state its running time"


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_committed_notebook_matches_its_source(source: Path) -> None:
    _require("nbformat")
    problem = _tools().out_of_date(source)
    assert problem is None, f"{problem}; run: python notebooks/execute.py {source.stem[:2]}"


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_notebook_runs_from_a_clean_kernel(source: Path) -> None:
    _require(*NEEDED)
    import nbformat
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    try:
        _tools().execute(notebook, timeout=CELL_TIMEOUT_S)  # the committed file is untouched
    except CellExecutionError as exc:
        pytest.fail(f"{source.with_suffix('.ipynb').name} failed:\n{exc}", pytrace=False)
