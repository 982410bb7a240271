"""The shape of the package, read from its own source: layout, imports, names.

These pin what a maintainer relies on when reading the code: the conformance kit shows
its stages as sub-packages, nothing imports in a cycle, no private name crosses a
module boundary, no two modules or classes are named alike, and the command line is
assembled from the public library only.
"""

from __future__ import annotations

import ast
import functools
import pathlib
from collections.abc import Iterator

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "novograd_ref"
CONFORMANCE = PACKAGE / "conformance"

#: The stages of the conformance kit, each a sub-package (the layout a reader names).
STAGES = ("adapters", "frameworks", "targets", "isolation", "judging", "live",
          "diagnosis", "golden")


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@functools.cache
def _tree(name: str) -> ast.Module:
    return ast.parse(_modules()[name].read_text(), filename=str(_modules()[name]))


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under ``if TYPE_CHECKING:`` (never executed)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(name: str) -> Iterator[tuple[ast.ImportFrom | ast.Import, str]]:
    """Every import of a ``novograd_ref`` module in module ``name`` (at any depth, in
    function bodies too), with the absolute name of the module it reads from."""
    tree = _tree(name)
    skip = _type_checking_only(tree)
    is_package = _modules()[name].name == "__init__.py"
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] == "novograd_ref":
                yield node, source
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "novograd_ref":
                    yield node, alias.name


def _dependencies(name: str) -> set[str]:
    """The package modules ``name`` imports: a name imported from a package is that
    package's sub-module when one exists, else the package itself."""
    modules = _modules()
    found: set[str] = set()
    for node, source in _imports(name):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add(sub if sub in modules else source)
        else:
            found.add(source)
    return {d for d in found if d in modules and d != name}


def test_the_conformance_kit_shows_its_stages_as_sub_packages() -> None:
    top_modules = sorted(p.name for p in CONFORMANCE.glob("*.py"))
    packages = sorted(p.parent.name for p in CONFORMANCE.glob("*/__init__.py"))
    assert len(top_modules) <= 15, top_modules
    assert sorted(STAGES) == packages


def _alike(a: str, b: str) -> bool:
    """Two module names a reader would confuse: equal once leading underscores are
    dropped, or sharing a prefix of most of the shorter name (``runner``/``runs``,
    ``explain``/``explanation``, ``record``/``recorder``), unless the shorter is a word
    of the longer (``torch``/``torch_class``)."""
    a, b = sorted((a.lstrip("_"), b.lstrip("_")), key=len)
    if a == b:
        return True
    if b.startswith(a + "_"):
        return False
    common = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
    return common >= 3 and common >= 0.7 * len(a)


def test_no_two_modules_of_the_kit_are_named_alike() -> None:
    names = sorted({n.rsplit(".", 1)[-1] for n in _modules()
                    if n.startswith("novograd_ref.conformance.")})
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if _alike(a, b)]
    assert pairs == []


def test_alike_names_are_those_a_reader_would_confuse() -> None:
    for confusing in [("_runner", "_runs"), ("_explain", "_explanation"),
                      ("record", "_record"), ("record", "_recorder")]:
        assert _alike(*confusing), confusing
    for distinct in [("_torch", "_torch_class"), ("_export", "_explanation")]:
        assert not _alike(*distinct), distinct


def test_no_two_classes_share_a_name() -> None:
    seen: dict[str, list[str]] = {}
    for name in _modules():
        for node in _tree(name).body:
            if isinstance(node, ast.ClassDef):
                seen.setdefault(node.name, []).append(name)
    assert {k: v for k, v in seen.items() if len(v) > 1} == {}


#: Functions every module of a plug-in package defines (its protocol), and ``main``.
PROTOCOLS = {
    "novograd_ref.conformance.frameworks": {
        "available", "versions", "make", "recording_variants", "preset_kwargs",
        "module_dir", "source_info"},
    "novograd_ref.conformance.targets": {"implementation"},
}


def test_no_two_module_level_functions_of_the_kit_share_a_name() -> None:
    """Each helper is defined once (a plug-in protocol's functions and ``main``, a
    module's command-line entry, excepted)."""
    seen: dict[str, list[str]] = {}
    for name in _modules():
        if not name.startswith("novograd_ref.conformance"):
            continue
        protocol = {"main"}.union(*(names for package, names in PROTOCOLS.items()
                                    if name.startswith(package + ".")))
        for node in _tree(name).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    node.name not in protocol:
                seen.setdefault(node.name, []).append(name)
    assert {k: v for k, v in seen.items() if len(v) > 1} == {}


def _cycle() -> list[str] | None:
    graph = {name: _dependencies(name) for name in _modules()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_counting_imports_in_function_bodies() -> None:
    """A package ``__init__`` that re-exports its sub-modules counts as importing them,
    so a sub-module that reads a name through its package's ``__init__`` closes a
    cycle too."""
    assert _cycle() is None


def _private_names_imported() -> list[str]:
    found = []
    for name in _modules():
        for node, source in _imports(name):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__") and \
                            f"{source}.{alias.name}" not in _modules():
                        found.append(f"{name}:{node.lineno} {source}.{alias.name}")
    return found


def test_no_private_name_crosses_a_module_boundary() -> None:
    """A module may import a private *module* of its package, never a private *name*
    of another module."""
    assert _private_names_imported() == []


def test_the_command_line_imports_only_public_modules_and_names() -> None:
    private = []
    for node, source in _imports("novograd_ref.cli"):
        names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
        for part in source.split(".") + names:
            if part.startswith("_") and part not in {"__version__"}:
                private.append(f"cli.py:{node.lineno} {source} {names}")
    assert private == []


def test_the_command_line_is_small() -> None:
    assert len((PACKAGE / "cli.py").read_text().splitlines()) <= 560


def test_frozen_objects_are_written_only_while_they_are_built() -> None:
    """``object.__setattr__`` (the way around ``frozen=True``) only inside a class's
    own ``__init__`` / ``__post_init__`` or a function of its module they call."""
    bad = []
    for name in _modules():
        tree = _tree(name)
        enclosing: dict[ast.AST, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    enclosing[sub] = node.name  # inner functions are walked later
        building = {"__init__", "__post_init__"}
        building |= {ast.unparse(call.func) for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef) and node.name in building
                     for call in ast.walk(node) if isinstance(call, ast.Call)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "object.__setattr__" \
                    and enclosing.get(node) not in building:
                bad.append(f"{name}:{node.lineno} in {enclosing.get(node)}")
    assert bad == []


#: Functions that import package modules in their body, and why (none to break a cycle).
LATE_IMPORTS = {
    # the child caps its memory before the kit and the implementation are imported
    ("novograd_ref.conformance.isolation._child", "main"),
    # the hypothesis strategies load hypothesis, an optional dependency, on first use
    ("novograd_ref.testing", "__getattr__"),
}


def test_package_modules_are_imported_in_function_bodies_only_for_a_stated_reason(
        ) -> None:
    late = set()
    for name in _modules():
        for node in ast.walk(_tree(name)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and (
                            inner.level or (inner.module or "").startswith("novograd_ref")):
                        late.add((name, node.name))
    assert late <= LATE_IMPORTS, late - LATE_IMPORTS
