#!/usr/bin/env python
"""Mutation testing of the reference core: ``novograd_ref/_core.py`` and ``_config.py``.

Each mutant changes one thing in one of the two modules:

- an arithmetic operator swapped (``+ -``, ``* /``, ``**`` to ``*``, also in ``+=``);
- a unary minus or a ``not`` dropped;
- a comparison flipped (``== !=``, ``< <=``, ``> >=``, ``in`` / ``not in``,
  ``is`` / ``is not``);
- a numeric constant changed (``c`` to ``c + 1``) or a boolean constant negated;
- a string a switch is compared with replaced (the branch it selects is lost);
- a condition negated (``if``, conditional expression) or ``and`` / ``or`` swapped.

Docstrings, annotations and the text of error messages (everything under ``raise``)
are left alone. Each mutant runs in a forked child of a process that has already
imported NumPy, pytest, hypothesis and Dask; the child imports ``novograd_ref`` with
the mutated module (an import hook hands over its source). Two phases:

1. Does the mutant change a result? The child computes a fixed battery
   (:func:`battery`: every preset case of the backend tests in float64 and float32
   and with a zero first gradient, a few on Dask, the switch probe under 80 sampled
   configurations, and good and bad configurations) and the parent compares it, bit
   for bit, with the unmutated battery. A mutant that changes nothing there is
   listed as equivalent, to be checked by hand (a cast that is a no-op, a branch
   that only saves work).
2. Do the tests kill it? For each mutant that changes a result, the child runs a
   fast targeted subset of the suite (``TESTS``, one group at a time, ``-x``, NumPy
   only, a hypothesis profile of 8 examples). A failure kills the mutant. A child
   past the time limit is stopped and listed with the survivors (on a loaded
   machine a slow run is not a kill; rerun it with ``--only`` and a larger
   ``--timeout``). Survivors are gaps.

The unmutated modules go through both phases first and must pass.

Usage::

    python scripts/mutate_core.py               # every mutant of both modules
    python scripts/mutate_core.py --list        # list the mutants, run nothing
    python scripts/mutate_core.py --module _core --only 3 17
    python scripts/mutate_core.py --timeout 30 --jobs 1 --report mutants.txt

Exit status: 0 when every mutant that changes a result is killed, 1 when some
survived, 2 when the unmutated code fails. The whole run (391 mutants) took 18 minutes
with ``--jobs 1`` on two cores shared with other work (0.3-15 s a mutant killed in
phase 2, most near 1 s).

Last whole run (``python scripts/mutate_core.py --jobs 1``, 1092 s on two cores shared
with other work): 391 mutants; 338 change a result, all killed: 335 at once, and the
three stopped at the time limit (34, 149, 158, about 27 s there) with ``--only 34 149
158 --timeout 450`` (62-225 s each). The 53 mutants that change no battery result
(mutant number, then module and line of that run):

- Same values, only work saved: 172 (``_core`` 96, ``m_new + u`` or ``+=``: with
  casts ``m_in`` already has ``u``'s dtype), 223 (``_core`` 206, ``_select``'s
  shortcut for a concrete ``False``: ``where`` gives the same), 182, 184, 185
  (``_core`` 104: the decoupled decay also with ``wd = 0`` or in the ``inside`` and
  ``apex`` modes, where ``decoupled_decay_factor`` is 0: a zero term, which only an
  infinite parameter, ``0 * inf``, or the sign of a zero update could show).
- Casts kept for NumPy 1.x, where a 0-d result can widen to float64: 186, 187
  (``_core`` 109: ``v_max`` already in ``v``'s dtype under NumPy 2), 257 (``_core``
  250: ``blend`` already in ``v``'s dtype under NumPy 2, with casts or without).
- Reached only where the namespace has no float64 (JAX without x64): 156 (``_core``
  78: ``wide`` negated is None exactly when the step is lazy, the one time it is read,
  and only ``_one_minus_pow``'s path without float64 reads it; computed eagerly, it is
  unused), 376, 377, 383, 384 (``_core`` 373, 376: ``base == 0.0`` and
  ``_one_minus_pow``'s ``expm1`` path).
- ``repr`` and messages: 16 (``_config`` 268: ``learning_rate`` has no default and is
  printed anyway), 28 (285: the shortest-digits search ending at 10 digits: 9 always
  read a float32 back), 31 (287: ``round_to`` rounds through float32 for every name
  but ``"float64"``), 54, 110 (337, 531: a default of ``upper_open`` that calls leave
  out only with an infinite ``high``, open anyway), 116, 117 (545: ``<`` for ``<=`` in
  a closed range, which no call reaches: each has ``upper_open=True`` or an infinite
  ``high``), 138, 141 (582: ``_digits`` changed only at 0, and at 8 and 9; it is
  called only for ints too long to print, thousands of digits).
- Not equivalent, pinned by tests phase 2 does not run for them (no battery result
  changes): 6 (``_config`` 59, ``frozen=True`` of ``Config``;
  ``test_config_is_frozen_and_checks_bounds_and_types`` in ``tests/test_switches.py``),
  45 (319: a learning rate not made a Python float, a callable taken for any
  hyperparameter; ``test_numpy_scalars_are_hyperparameters_like_python_floats`` in
  ``tests/test_errors.py``, ``test_each_novograd_keyword_alone_with_each_odd_value`` in
  ``tests/test_api_fuzz.py``), 51, 53 (329: the rounding note of a range error lost
  for 0.99999999 and 1e39 rounded to float32; ``test_bad_arguments_are_refused_by_name``
  in ``tests/test_api_fuzz.py``), 108 (521: a bool or a string taken as a real number;
  the doctest of ``real_number``, ``tests/test_switches.py``, ``tests/test_errors.py``),
  125 (564: an int too long to print described as a broken repr; the doctest of
  ``describe_value``, ``test_integers_too_long_to_print_are_described_by_their_size``
  in ``tests/test_errors.py``), 131-137, 139, 140, 142-145 (581, 582: ``_digits``
  wrong for -999, 1000 or 10**5000 - 1; its doctest and the same test fail with
  each), 188 (``_core`` 118, ``root`` of ``one_minus_power``, which
  ``novograd_ref/fused/_plan.py`` leaves out; its doctest fails), 217 (``_core`` 199,
  ``decoupled_decay_factor`` of the ``inside`` and ``apex`` modes, read only by the
  fused plan; its doctest fails), 233 (``_core`` 235, ``1 in g.shape``: a side of 1
  summed, an empty layer's max raises;
  ``test_an_empty_layer_under_the_inf_norm_steps_with_norm_zero`` in
  ``tests/test_errors.py``), 280 (``_core`` 268, ``w < 0.5`` or ``<= 0.5`` in torch's
  ``lerp``: differs only at ``b2 = 0.5``, which the battery does not draw;
  ``test_torch_lerp_at_weight_one_half_takes_its_second_branch`` in
  ``tests/test_pinned_rules.py``), 381, 382 (``_core`` 374: the lazy bias correction
  in the layer's dtype ``wide``, not float64: the same only on float64 layers, which
  the battery's Dask cases are; the doctest of ``_one_minus_pow`` fails with either).
- Found by this run and pinned since by tests of ``tests/test_errors.py`` that phase 2
  does not run for them (each fails with its mutant applied by hand): 41 (``_config``
  318: a ``max_learning_rate`` kept as given, not made a Python float;
  ``test_every_given_hyperparameter_is_checked_and_stored_as_a_python_float``), 52
  (329: the rounding note also for a value rounding left as it was;
  ``test_the_rounding_note_appears_only_where_rounding_changed_the_value``), 74 (373,
  ``frozen=True`` of ``Rule``; ``test_switch_rules_are_frozen_and_hashable``), 124, 127
  (552, 567: a repr cut from 61 characters on, or at 60 already;
  ``test_a_bad_value_is_shown_whole_up_to_sixty_characters``). 27 (285: the search for
  the shortest float32 text from 2 digits) found that a float32-rounded 20.0 printed
  as ``2e+01``: the repr now prints the shortest float that reads back (``20.0``), and
  starting the search at 2 digits finds the same float (only work saved).
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import importlib
import importlib.abc
import importlib.util
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODULES = {"_core": ROOT / "novograd_ref" / "_core.py",
           "_config": ROOT / "novograd_ref" / "_config.py"}

#: The fast subset, in the order that kills most mutants soonest; each entry is
#: collected and run on its own, the first failure ends the run.
TESTS = [
    "tests/test_pinned_rules.py",
    "tests/test_hand_vectors.py",
    "tests/test_scalar_oracle.py",
    "tests/test_switches.py",
    "tests/test_errors.py",
    "tests/test_equivalence.py",
    ("tests/test_properties.py::test_first_step_closed_form "
     "tests/test_properties.py::test_amsgrad_state_adds_one_scalar_per_layer"),
    "--doctest-modules novograd_ref/_config.py novograd_ref/_core.py",
]

#: Libraries the children share, imported once by the parent (never novograd_ref).
PRELOAD = ["numpy", "pytest", "hypothesis", "hypothesis.extra.numpy", "array_api_compat",
           "array_api_strict", "dask.array"]

_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
         ast.Pow: ast.Mult}
_FLIP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt,
         ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In,
         ast.Is: ast.IsNot, ast.IsNot: ast.Is}


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One change: the node (by its index in ``ast.walk`` order) and what to do."""

    module: str
    index: int
    line: int
    change: str
    apply: Callable[[ast.AST], ast.AST | None]  # returns a replacement node, or None

    def source(self, tree: ast.Module) -> str:
        """The module's source with this one change."""
        mutated = copy.deepcopy(tree)
        parents = {child: node for node in ast.walk(mutated)
                   for child in ast.iter_child_nodes(node)}
        target = list(ast.walk(mutated))[self.index]
        replacement = self.apply(target)
        if replacement is not None:
            _replace(parents[target], target, replacement)
        return ast.unparse(ast.fix_missing_locations(mutated))


def _replace(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for field, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, field, new)
            return
        if isinstance(value, list) and any(v is old for v in value):
            value[next(i for i, v in enumerate(value) if v is old)] = new
            return
    raise LookupError("node not found under its parent")


def _skipped(tree: ast.Module) -> set[int]:
    """Ids of nodes left alone: docstrings, annotations, raise statements, f-strings."""
    skip: set[int] = set()

    def all_of(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Raise, ast.JoinedStr)):
            all_of(node)
        elif isinstance(node, (ast.AnnAssign, ast.arg)):
            all_of(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            all_of(node.returns)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                all_of(first)
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__doc__" for t in node.targets):
            all_of(node)
    return skip


def mutants(module: str) -> Iterator[Mutant]:
    """Every mutant of ``module`` (a key of ``MODULES``), in source order."""
    tree = ast.parse(MODULES[module].read_text())
    skip = _skipped(tree)
    compared = {id(n) for node in ast.walk(tree) if isinstance(node, ast.Compare)
                for n in ast.walk(node)}
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        line = getattr(node, "lineno", 0)

        def make(change: str, apply: Callable[[ast.AST], ast.AST | None],
                 index: int = index, line: int = line) -> Mutant:
            return Mutant(module, index, line, change, apply)

        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _SWAP:
            new_op = _SWAP[type(node.op)]
            yield make(f"{type(node.op).__name__} -> {new_op.__name__}",
                       lambda n, op=new_op: setattr(n, "op", op()))  # type: ignore[func-returns-value]
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
            yield make(f"drop unary {type(node.op).__name__}", lambda n: n.operand)
        elif isinstance(node, ast.Compare):
            for k, op in enumerate(node.ops):
                if type(op) in _FLIP:
                    new = _FLIP[type(op)]
                    yield make(f"{type(op).__name__} -> {new.__name__}",
                               lambda n, k=k, new=new: _set_op(n, k, new()))
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                yield make(f"{value} -> {not value}", lambda n: ast.Constant(not n.value))
            elif isinstance(value, (int, float)):
                yield make(f"{value!r} -> {value + 1!r}", lambda n: ast.Constant(n.value + 1))
            elif isinstance(value, str) and id(node) in compared:
                yield make(f"{value!r} -> 'MUTANT'", lambda n: ast.Constant("MUTANT"))
        elif isinstance(node, (ast.If, ast.IfExp, ast.While)):
            yield make(f"negate {type(node).__name__} condition",
                       lambda n: _negate(n))
        elif isinstance(node, ast.BoolOp):
            new_op = ast.Or if isinstance(node.op, ast.And) else ast.And
            yield make(f"{type(node.op).__name__} -> {new_op.__name__}",
                       lambda n, op=new_op: setattr(n, "op", op()))  # type: ignore[func-returns-value]


def _set_op(node: ast.Compare, k: int, op: ast.cmpop) -> None:
    node.ops[k] = op


def _negate(node: ast.If | ast.IfExp | ast.While) -> None:
    node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``name`` from ``source`` instead of its file (in the child only)."""

    def __init__(self, name: str, source: str, path: Path) -> None:
        self.name, self.source, self.path = name, source, path

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=str(self.path))

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        module.__file__ = str(self.path)
        exec(compile(self.source, str(self.path), "exec"), module.__dict__)  # noqa: S102


class _MutationProfile:
    """A pytest plugin registering the small hypothesis profile before the conftest
    loads it (hypothesis must be imported after pytest starts, to be rewritten)."""

    def pytest_load_initial_conftests(self, early_config: Any, parser: Any, args: Any
                                      ) -> None:
        import hypothesis

        hypothesis.settings.register_profile(
            "mutation", max_examples=8, derandomize=True, database=None, deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck))


def battery() -> list[tuple[str, bytes]]:
    """Results of the imported ``novograd_ref`` on a fixed set of inputs: every preset
    case of the backend tests (NumPy float64 and float32, Dask for some), the switch
    probe under sampled configurations, and construction of good and bad configs.
    Each result is ``(what, bytes)``; an exception is recorded as its text."""
    import random

    import numpy as np

    import novograd_ref as ngr
    from novograd_ref._config import Config
    from novograd_ref._tree import flatten
    from tests import test_backends as B
    from tests import test_switches as W

    out: list[tuple[str, bytes]] = []

    def record(what: str, compute: Callable[[], Any]) -> None:
        try:
            with np.errstate(all="ignore"):
                value = compute()
            data = b"".join(np.asarray(x).tobytes() + str(np.asarray(x).dtype).encode()
                            for x in flatten(value)[0])
        except Exception as exc:  # noqa: BLE001  (a raised error is a result too)
            data = f"{type(exc).__name__}: {exc}".encode()
        out.append((what, data))

    def steps(opt: Any, params: Any, grads: list[Any]) -> Any:
        state, trail = opt.init(params), []
        for g in grads:
            updates, state = opt.update(g, state, params)
            params = ngr.apply_updates(params, updates)
            trail.append((updates, params))
        return trail, state

    params, grads = B.inputs(seed=5)
    grads = [*grads, {**grads[0], "b": np.zeros(5)}]
    first_zero = [{**grads[1], "w": np.zeros((4, 5))}, *grads]
    f32 = B.tree_map(lambda a: a.astype(np.float32), params)
    g32 = [B.tree_map(lambda a: a.astype(np.float32), g) for g in grads]
    for case in B.CASES:
        name = B.case_id(case)
        record(f"{name} float64", lambda c=case: steps(B.make(*c), params, grads))
        record(f"{name} zero first", lambda c=case: steps(B.make(*c), params, first_zero))
        record(f"{name} float32", lambda c=case: steps(B.make(*c), f32, g32))
        record(f"{name} repr", lambda c=case: np.frombuffer(
            repr(B.make(*c).config).encode(), np.uint8))
    try:
        dask = B.backends.get("dask")
    except ImportError:
        dask = None
    if dask is not None:  # the lazy paths: first-step selection, bias corrections
        small = {"w": params["w"], "s": params["scale"]}
        small_grads = [{"w": g["w"], "s": g["scale"]} for g in grads[:3]]
        for case in [("apex", {"weight_decay": 1e-3}), ("tfa", {
                "grad_averaging": True, "amsgrad": True, "weight_decay": 0.01}), (
                "pytorch_optimizer", {"adam_debias": True, "lr": B.lr_schedule})]:
            def lazy(c: Any = case) -> Any:
                import dask as dask_lib

                d_params = B.tree_map(dask.from_numpy, small)
                trail, state = steps(B.make(*c), d_params, [B.tree_map(dask.from_numpy, g)
                                                            for g in small_grads])
                return dask_lib.compute(*flatten((trail, state))[0], scheduler="synchronous")
            record(f"{B.case_id(case)} dask", lazy)
    rng = random.Random(1)
    values = {**W.SWITCH_VALUES, **W.DTYPE_VALUES}
    for k in range(80):
        switches = W.repair({n: rng.choice(v) for n, v in values.items()},
                            lambda choices: rng.choice(list(choices)), values)
        b2 = rng.choice([0.8, 0.3])
        record(f"probe {k}", lambda s=switches, b2=b2: W.run_all(Config(
            b2=b2, **W.PROBE_HYPER, **s)))
    bad: list[dict[str, Any]] = [
        {"b1": 1.0}, {"b1": -0.0}, {"b2": 0.9999}, {"b2": 1.0}, {"eps": -1e-9}, {"eps_root": 1e-3,
        "norm": "apex_l2", "second_moment_init": "zero"}, {"weight_decay": -1e-9},
        {"learning_rate": -1e-9}, {"learning_rate": 0.0}, {"luc_trust": -1.0},
        {"max_learning_rate": 0.0, "weight_decay_mode": "corrected"},
        {"max_learning_rate": 1e-9, "weight_decay_mode": "corrected"},
        {"hyper_dtype": "float16"}, {"state_dtype": "float16"}, {"mu_dtype": "int32"},
        {"maximize": 0}, {"nesterov": None}, {"learning_rate": True},
        {"learning_rate": np.float32(0.1), "hyper_dtype": "float32", "b1": 0.9},
        {"learning_rate": 1e-3, "hyper_dtype": "float32", "weight_decay": 0.1},
        {"learning_rate": 1e-3, "hyper_dtype": "float64", "b2": 0.1},
    ]
    for k, kw in enumerate(bad):
        kw = {"learning_rate": 0.1, **kw}
        record(f"config {k}", lambda kw=kw: np.frombuffer(repr(Config(**kw)).encode(),
                                                           np.uint8))
    record("config docstring", lambda: np.frombuffer((Config.__doc__ or "").encode(),
                                                     np.uint8))
    return out


def start_child(module: str, source: str, results: Path | None) -> int:
    """Fork a child that imports the mutated module and either writes the
    :func:`battery` results to ``results`` or runs the ``TESTS`` (exit status 0: all
    passed); returns its pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 3
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        sys.meta_path.insert(0, _Finder(f"novograd_ref.{module}", source, MODULES[module]))
        if results is not None:
            results.write_bytes(pickle.dumps(battery()))
            code = 0
        else:
            code = _run_tests()
    finally:
        os._exit(code)


def _run_tests() -> int:
    """Each group of ``TESTS`` in turn (collecting one at a time), stopping at the
    first failure: 0 if all pass."""
    import pytest

    for group in TESTS:
        code = int(pytest.main(
            ["-x", "-q", "-p", "no:cacheprovider",
             "-W", "ignore::pytest.PytestAssertRewriteWarning", *group.split()],
            plugins=[_MutationProfile()]))
        if code:
            return code
    return 0


def run_all(jobs: list[tuple[str, str, Path | None]], timeout: float, workers: int,
            report: Callable[[int, int, float], None]) -> None:
    """Run ``(module, source, results)`` jobs, ``workers`` at a time; ``report(i, exit
    status, seconds)``, the status ``None`` after a timeout (the child is killed)."""
    pending = list(enumerate(jobs))
    running: dict[int, tuple[int, float]] = {}  # pid -> (job index, start)
    while pending or running:
        while pending and len(running) < workers:
            i, job = pending.pop(0)
            running[start_child(*job)] = (i, time.monotonic())
        for pid, (i, start) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            seconds = time.monotonic() - start
            if done:
                del running[pid]
                report(i, os.waitstatus_to_exitcode(status), seconds)
            elif seconds > timeout:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                del running[pid]
                report(i, -1, seconds)
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--module", choices=sorted(MODULES), action="append",
                        help="mutate only this module (repeatable; default: both)")
    parser.add_argument("--only", type=int, nargs="*", help="run only these mutant numbers")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--timeout", type=float, default=0.0,
                        help="seconds per mutant (default: 4x the unmutated run, >= 20)")
    parser.add_argument("--report", type=Path, help="also write the results to this file")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    args = parser.parse_args(argv)

    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))  # the tests package
    os.environ["NOVOGRAD_REF_BACKENDS"] = '["numpy"]'
    os.environ["NOVOGRAD_REF_HYPOTHESIS_PROFILE"] = "mutation"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for name in PRELOAD:  # imported once here, shared by every child
        importlib.import_module(name)

    chosen = args.module or sorted(MODULES)
    every = sorted((m for name in chosen for m in mutants(name)),
                   key=lambda m: (m.module, m.line, m.index))
    numbered = list(enumerate(every, start=1))
    if args.only:
        numbered = [(i, m) for i, m in numbered if i in set(args.only)]
    if args.list:
        for i, m in numbered:
            print(f"{i:4d}  {m.module}.py:{m.line}  {m.change}")
        return 0

    trees = {name: ast.parse(MODULES[name].read_text()) for name in chosen}
    work = Path(tempfile.mkdtemp(prefix="mutate_core_"))
    started = time.monotonic()
    try:
        return _mutate(chosen, numbered, trees, work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print(f"{time.monotonic() - started:.0f} s in all")


def _mutate(chosen: list[str], numbered: list[tuple[int, Mutant]],
            trees: dict[str, ast.Module], work: Path, args: argparse.Namespace) -> int:
    """Phase 1: which mutants change a battery result; phase 2: the tests on those."""
    baseline: dict[str, Any] = {}
    jobs = [(name, ast.unparse(trees[name]), work / f"base_{name}") for name in chosen]
    run_all(jobs, 600, 1, lambda i, code, s: baseline.__setitem__(chosen[i], (code, s)))
    run_all([(n, src, None) for n, src, _ in jobs], 900, 1,
            lambda i, code, s: baseline.__setitem__(chosen[i] + " tests", (code, s)))
    for what, (code, seconds) in baseline.items():  # by the same path, must pass
        print(f"unmutated {what}: exit {code} in {seconds:.1f} s", flush=True)
        if code != 0:
            print("the unmutated modules fail: fix that first")
            return 2
    expected = {n: pickle.loads((work / f"base_{n}").read_bytes()) for n in chosen}
    timeout = args.timeout or max(20.0, 4 * max(s for _, s in baseline.values()))

    changes: dict[int, str] = {}

    def classify(k: int, code: int, seconds: float) -> None:
        i, m = numbered[k]
        path = work / f"m{i}"
        if code != 0:
            changes[i] = "crashed" if code > 0 else "timed out"
            return
        got = pickle.loads(path.read_bytes())
        differ = [w for (w, a), (_, b) in zip(got, expected[m.module]) if a != b]
        if differ:
            changes[i] = f"changes {len(differ)} results, e.g. {differ[0]}"

    run_all([(m.module, m.source(trees[m.module]), work / f"m{i}") for i, m in numbered],
            timeout, args.jobs, classify)
    equivalent = [(i, m) for i, m in numbered if i not in changes]
    print(f"phase 1: {len(changes)} of {len(numbered)} mutants change a result", flush=True)

    lines, survivors = [], []

    def verdict(k: int, code: int, seconds: float) -> None:
        i, m = changing[k]
        killed = {0: "SURVIVED", -1: "TIMED OUT (not counted as killed)"}.get(code, "killed")
        line = (f"{i:4d}  {m.module}.py:{m.line}  {m.change}: {changes[i]}; {killed} "
                f"({seconds:.1f} s)")
        lines.append(line)
        print(line, flush=True)
        if code in (0, -1):
            survivors.append(line)

    changing = [(i, m) for i, m in numbered if i in changes]
    run_all([(m.module, m.source(trees[m.module]), None) for _, m in changing], timeout,
            args.jobs, verdict)
    same = [f"{i:4d}  {m.module}.py:{m.line}  {m.change}: no result changed"
            for i, m in equivalent]
    summary = (f"{len(numbered)} mutants: {len(changing)} change a result, "
               f"{len(changing) - len(survivors)} of them killed by the tests, "
               f"{len(survivors)} survived; {len(equivalent)} change no result of the battery")
    print("\n".join(["mutants that change no result (equivalent: check why):", *same]))
    print("\n".join(["survivors (and timeouts) that change a result:", *survivors])
          if survivors
          else "every mutant that changes a result is killed")
    print(summary)
    if args.report:
        args.report.write_text("\n".join([*sorted(lines), *same, summary, ""]))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
