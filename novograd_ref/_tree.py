"""Parameter trees: nested dict / list / tuple / NamedTuple with arrays as leaves.

A tree is flattened once into a list of leaves and a hashable ``TreeDef`` that can
rebuild it. ``None`` is an empty subtree (no leaf), as in optax: it is kept in place and
must appear at the same place in every tree of one call. Leaf paths (``['layer'][0]``)
are computed only when an error message needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

# A TreeDef is a nested tuple: ("leaf",), ("none",), ("dict", keys, children),
# ("list", children), ("tuple", children) or ("namedtuple", cls, children).
TreeDef = tuple[Any, ...]

_LEAF: TreeDef = ("leaf",)
_NONE: TreeDef = ("none",)


def _is_namedtuple(node: object) -> bool:
    return isinstance(node, tuple) and hasattr(node, "_fields")


#: Containers nested deeper than this are refused (a tree is a few levels deep; this
#: keeps every recursive walk far from Python's recursion limit).
MAX_DEPTH = 100


def flatten(tree: Any, name: str = "tree") -> tuple[list[Any], TreeDef]:
    """Return the leaves of ``tree`` in order, and the structure that rebuilds it.

    A container that contains itself, or containers nested deeper than ``MAX_DEPTH``,
    raise a ValueError naming the path in the tree called ``name``.

    >>> flatten({"b": [1, None], "a": 2})
    ([2, 1], ('dict', ('a', 'b'), (('leaf',), ('list', (('leaf',), ('none',))))))
    >>> loop = [1]
    >>> loop.append(loop)
    >>> flatten(loop, "params")
    Traceback (most recent call last):
    ...
    ValueError: params[1]: a list that contains itself (a cycle), not a tree
    """
    leaves: list[Any] = []
    try:
        return leaves, _flatten_into(tree, leaves, 0)
    except _TooDeep as bad:
        raise ValueError(bad.describe(tree, name)) from None


class _TooDeep(Exception):
    """Containers nested past ``MAX_DEPTH``. While it unwinds, each container appends
    the subscript of the child it was in, innermost first; the root is left out."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[Any, str]] = []  # (container, subscript into it)

    def describe(self, root: Any, name: str) -> str:
        """Name the first container met twice on the way down (a cycle), or the depth."""
        steps = self.steps[::-1]
        seen = {id(root)}
        for depth, (container, _) in enumerate(steps):
            if id(container) in seen:
                path = _short_path([s for _, s in steps[:depth + 1]])
                return (f"{name}{path}: a {type(container).__name__} that contains itself "
                        "(a cycle), not a tree")
            seen.add(id(container))
        return (f"{name}{_short_path([s for _, s in steps])}: containers nested more than "
                f"{MAX_DEPTH} deep")


def _short_path(parts: list[str], keep: int = 4) -> str:
    if len(parts) <= 2 * keep:
        return "".join(parts)
    return f"{''.join(parts[:keep])}...({len(parts) - 2 * keep} more)...{''.join(parts[-keep:])}"


_KIND_OF_TYPE: dict[type, str] = {dict: "dict", list: "list", tuple: "tuple",
                                   type(None): "none"}


def _kind(node: Any) -> str:
    """The node kind of ``type(node)``, classified once per type and cached."""
    cls = type(node)
    kind = _KIND_OF_TYPE.get(cls)
    if kind is None:
        if isinstance(node, dict):
            kind = "dict"
        elif _is_namedtuple(node):
            kind = "namedtuple"
        elif isinstance(node, (list, tuple)):
            kind = "list" if isinstance(node, list) else "tuple"
        else:
            kind = "leaf"
        _KIND_OF_TYPE[cls] = kind
    return kind


def _flatten_into(node: Any, leaves: list[Any], depth: int) -> TreeDef:
    """Flatten ``node``, a container ``depth`` containers deep (a cycle is found as a
    nesting past ``MAX_DEPTH``; only then is the path looked at)."""
    kind = _kind(node)
    if kind == "leaf":
        leaves.append(node)
        return _LEAF
    if kind == "none":
        return _NONE
    if depth >= MAX_DEPTH:
        raise _TooDeep
    if kind == "dict":
        keys = _sorted_keys(node)
        return ("dict", keys, _flatten_children([node[k] for k in keys], leaves, depth + 1,
                                                node, keys))
    children = _flatten_children(node, leaves, depth + 1, node, None)
    if kind == "namedtuple":
        return ("namedtuple", type(node), children)
    return (kind, children)


def _flatten_children(children: Any, leaves: list[Any], depth: int, node: Any,
                      keys: tuple[Any, ...] | None) -> tuple[TreeDef, ...]:
    """Flatten each child of ``node`` (``keys``: its sorted keys if a dict); a child of a
    type already known to be a leaf is appended directly (most children of a parameter
    tree are arrays)."""
    kinds = [_KIND_OF_TYPE.get(type(child)) for child in children]
    if kinds.count("leaf") == len(kinds):  # a layer of arrays: the common case
        leaves.extend(children)
        return (_LEAF,) * len(kinds)
    defs = []
    for i, child in enumerate(children):
        if kinds[i] == "leaf":
            leaves.append(child)
            defs.append(_LEAF)
            continue
        try:
            defs.append(_flatten_into(child, leaves, depth))
        except _TooDeep as bad:
            if keys is not None:
                bad.steps.append((child, f"[{keys[i]!r}]"))
            else:
                field = f".{node._fields[i]}" if _is_namedtuple(node) else f"[{i}]"
                bad.steps.append((child, field))
            raise
    return tuple(defs)


def _sorted_keys(node: dict[Any, Any]) -> tuple[Any, ...]:
    """Dict keys in sorted order (as JAX does), so equal dicts have equal structure.

    Keys that do not compare (mixed types; ``Decimal('NaN')``, whose comparisons raise
    ``InvalidOperation``) are sorted by type name and repr, and keys whose repr fails
    too are kept in their order (then dicts that differ in order differ in structure).
    """
    for key in (None, _type_and_repr):
        try:
            return tuple(sorted(node, key=key))
        except Exception:  # noqa: BLE001, S112 (keys that do not compare, whatever they raise)
            continue
    return tuple(node)


def _type_and_repr(key: Any) -> tuple[str, str]:
    return type(key).__name__, repr(key)


def unflatten(treedef: TreeDef, leaves: list[Any]) -> Any:
    """Rebuild a tree of structure ``treedef`` from ``leaves`` (the inverse of flatten).

    >>> leaves, treedef = flatten({"w": [1, 2], "b": None})
    >>> unflatten(treedef, [10, 20])
    {'b': None, 'w': [10, 20]}
    """
    it = iter(leaves)
    return _build(treedef, it)


def _build(treedef: TreeDef, it: Iterator[Any]) -> Any:
    kind = treedef[0]
    if kind == "leaf":
        return next(it)
    if kind == "none":
        return None
    children = treedef[-1]
    if children.count(_LEAF) == len(children):  # a layer of arrays: the common case
        if kind == "dict":
            return dict(zip(treedef[1], it))  # zip stops at the last key
        leaves = [next(it) for _ in children]
        if kind == "namedtuple":
            return treedef[1](*leaves)
        return leaves if kind == "list" else tuple(leaves)
    if kind == "dict":
        return {k: _build(c, it) for k, c in zip(treedef[1], treedef[2])}
    if kind == "namedtuple":
        return treedef[1](*(_build(c, it) for c in treedef[2]))
    children = [_build(c, it) for c in treedef[1]]
    return children if kind == "list" else tuple(children)


def leaf_paths(treedef: TreeDef) -> list[str]:
    """The path of every leaf, in flatten order, written as subscripts.

    >>> leaf_paths(flatten({"dense": [1, 2], "bias": 3})[1])
    ["['bias']", "['dense'][0]", "['dense'][1]"]
    """
    paths: list[str] = []
    _collect_paths(treedef, "", paths)
    return paths


def _collect_paths(treedef: TreeDef, prefix: str, out: list[str]) -> None:
    kind = treedef[0]
    if kind == "leaf":
        out.append(prefix or "<root>")
    elif kind == "dict":
        for key, child in zip(treedef[1], treedef[2]):
            _collect_paths(child, f"{prefix}[{key!r}]", out)
    elif kind == "namedtuple":
        for field, child in zip(treedef[1]._fields, treedef[2]):
            _collect_paths(child, f"{prefix}.{field}", out)
    elif kind in ("list", "tuple"):
        for i, child in enumerate(treedef[1]):
            _collect_paths(child, f"{prefix}[{i}]", out)


def structure_mismatch(expected: TreeDef, actual: TreeDef, prefix: str = "") -> str | None:
    """Describe the first place where two structures differ, or return None.

    >>> structure_mismatch(flatten({"a": 1})[1], flatten({"a": [1]})[1])
    "at ['a']: expected a leaf, got a list of 1"
    """
    if expected == actual:
        return None
    where = prefix or "<root>"
    if expected[0] != actual[0] or (expected[0] == "namedtuple" and expected[1] != actual[1]):
        return f"at {where}: expected {_describe(expected)}, got {_describe(actual)}"
    if expected[0] == "dict":
        if expected[1] != actual[1]:
            return f"at {where}: expected keys {list(expected[1])}, got {list(actual[1])}"
        pairs = [(f"{prefix}[{k!r}]", e, a) for k, e, a in zip(expected[1], expected[2], actual[2])]
    else:
        e_children, a_children = expected[-1], actual[-1]
        if len(e_children) != len(a_children):
            return f"at {where}: expected {_describe(expected)}, got {_describe(actual)}"
        names = expected[1]._fields if expected[0] == "namedtuple" else None
        pairs = [
            (f"{prefix}.{names[i]}" if names else f"{prefix}[{i}]", e, a)
            for i, (e, a) in enumerate(zip(e_children, a_children))
        ]
    for path, e, a in pairs:
        found = structure_mismatch(e, a, path)
        if found:
            return found
    return None  # pragma: no cover - equal children imply equal trees


def _describe(treedef: TreeDef) -> str:
    kind = treedef[0]
    if kind == "leaf":
        return "a leaf"
    if kind == "none":
        return "None"
    if kind == "namedtuple":
        return f"a {treedef[1].__name__}"
    return f"a {kind} of {len(treedef[-1])}"


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` leaf-wise over trees of one structure (``None`` stays ``None``).

    >>> tree_map(lambda a, b: a + b, {"x": 1, "y": None}, {"y": None, "x": 2})
    {'x': 3, 'y': None}
    """
    leaves, treedef = flatten(tree)
    others = [flatten(t)[0] for t in rest]
    return unflatten(treedef, [fn(*args) for args in zip(leaves, *others)])
