"""``from_optimizer`` and the in-place step: checks every buffer, then runs the kernels."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import operator
from typing import Any

import numpy as np

from .._config import Config, describe_value
from .._namespace import namespace
from .._optimizer import NovoGrad, NovoGradState, check_state_kind, check_step, check_update_leaves
from .._tree import TreeDef, flatten, leaf_paths, structure_mismatch, unflatten
from . import _cpu, _gpu, _plan

Tree = Any

_FLOATS = tuple(np.dtype(name) for name in ("float16", "float32", "float64"))
_NUMPY = namespace(np.zeros(0))  # the reference's namespace of NumPy arrays


@dataclasses.dataclass(frozen=True)
class FusedNovoGrad:
    """The fused, in-place NovoGrad step of one configuration.

    ``threads``: on the CPU, how many of numba's threads a large layer (at least
    ``2**16`` values) is split over; smaller layers always run on one. The blocks of
    the norm's sum do not depend on it, so neither does the result. Every large layer
    starts a parallel loop, so numba's threading layer matters: on its OpenMP layer
    (numba's choice where TBB is absent) two threads took a ResNet-50-sized step in
    0.56-0.58x the time of one in ``benchmarks/fused_cpu.py``; on its ``workqueue`` layer
    (``NUMBA_THREADING_LAYER=workqueue``) they were no faster than one.
    """

    config: Config
    threads: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or \
                self.threads < 1:
            raise ValueError(f"threads must be an int >= 1, got {describe_value(self.threads)}")
        if self.threads > _cpu.max_threads():
            raise ValueError(f"threads must be at most {_cpu.max_threads()} (numba's "
                             f"NUMBA_NUM_THREADS here), got {describe_value(self.threads)}")
        # the CPU kernels take the step's coefficients and these flags as one array
        object.__setattr__(self, "_flags", [float(x) for x in _plan.flags(self.config)])

    def init(self, params: Tree) -> NovoGradState:
        """Zero state for ``params``: exactly ``opt.init(params)`` of the reference.

        >>> import numpy as np
        >>> import novograd_ref as ngr
        >>> fast = ngr.fused.from_optimizer(ngr.presets.nemo())
        >>> fast.init({"w": np.zeros(2, dtype=np.float32)}).mu["w"]
        array([0., 0.], dtype=float32)
        """
        state = NovoGrad(self.config).init(params)
        if state.nu_max is None:
            return state
        # the reference's nu_max starts as the very arrays of nu; in place they must differ
        leaves, treedef = flatten(state.nu_max)
        return state._replace(nu_max=unflatten(treedef, [_copy(x) for x in leaves]))

    def step_(self, params: Tree, grads: Tree, state: NovoGradState) -> None:
        """One NovoGrad step, in place: ``params``, ``state.mu``, ``state.nu``,
        ``state.nu_max`` and ``state.count`` are overwritten with their new values
        (``params`` as ``apply_updates(params, updates)`` of the reference would be);
        ``grads`` is only read.

        Everything is checked before anything is written, and then nothing has
        changed: first all that the reference's ``update`` checks, with its messages
        (structures, one array library, shapes and dtypes, the step count's range, the
        learning rate's value at this step), then what working in place needs, each
        error naming its leaf: arrays of one kind (NumPy or CuPy) of the kernels'
        dtypes, C-contiguous, writeable where written, and no two buffers sharing
        memory where one is written (a gradient may be its own parameter's buffer).

        >>> import numpy as np
        >>> import novograd_ref as ngr
        >>> fast = ngr.fused.from_optimizer(ngr.novograd(0.5, weight_decay=0.1))
        >>> params = {"w": np.array([3.0, 4.0])}
        >>> state = fast.init(params)
        >>> fast.step_(params, {"w": np.array([3.0, 4.0])}, state)
        >>> params["w"], float(state.nu["w"])
        (array([2.55, 3.4 ]), 25.0)
        """
        cfg = self.config
        check_state_kind(cfg, state)
        flat = _flat_dicts(grads, params, state.mu, state.nu)
        if flat is not None and not cfg.amsgrad:
            treedef, (g_leaves, p_leaves, m_leaves, v_leaves) = flat
            vmax_leaves = None
        else:
            g_leaves, treedef = flatten(grads, "grads")
            p_leaves = _leaves_like(params, treedef, "params")
            m_leaves = _leaves_like(state.mu, treedef, "state.mu")
            v_leaves = _leaves_like(state.nu, treedef, "state.nu")
            vmax_leaves = _leaves_like(state.nu_max, treedef, "state.nu_max") \
                if cfg.amsgrad else None
        first = g_leaves[0] if g_leaves else None
        gpu = _is_cupy(state.count if first is None else first)
        array_type = _cupy_array_type() if gpu else np.ndarray
        xp = namespace(first) if gpu else _NUMPY
        # the count is compared with a gradient that is an array (a leaf that is none is
        # named by the leaf checks below)
        like = first if type(first) is array_type else None
        count, lr = check_step(xp, cfg, state.count, like)
        _check_count_buffer(state.count, array_type)
        numbers = _plan.coefficients(cfg, count, lr)
        if gpu:
            check_update_leaves(cfg, treedef, g_leaves, p_leaves, m_leaves, v_leaves,
                                vmax_leaves)
            leaves = checked_leaves(treedef, p_leaves, g_leaves, m_leaves, v_leaves,
                                    vmax_leaves, array_type)
            _refuse_shared(treedef, g_leaves, p_leaves, m_leaves, v_leaves, vmax_leaves,
                           state.count)
            _restart_moments(cfg, count, m_leaves)
            _gpu.step_(cfg, leaves, numbers, vmax_leaves is not None)
            state.count[...] = count + 1
            return
        calls, kind, owned = _numpy_calls(cfg, treedef, p_leaves, g_leaves, m_leaves,
                                          v_leaves, vmax_leaves)
        _refuse_shared(treedef, g_leaves, p_leaves, m_leaves, v_leaves, vmax_leaves,
                       state.count, owned)
        _restart_moments(cfg, count, m_leaves)
        flags: list[float] = self._flags  # type: ignore[attr-defined]
        coefficients = np.array(numbers + flags, dtype=np.float64)
        args = (*calls[0], coefficients) if calls else ()
        kernel = _cpu.compiled(_cpu.leaf_step, kind, args) if kind else _cpu.leaf_step
        if self.threads > 1:
            _cpu.set_threads(self.threads)
            parallel = _cpu.compiled(_cpu.leaf_step_parallel, kind, args) if kind else \
                _cpu.leaf_step_parallel
            for g, p, m, v, vmax in calls:
                run = parallel if g.size >= _cpu.PARALLEL_MIN else kernel
                run(g, p, m, v, vmax, coefficients)
        else:
            for g, p, m, v, vmax in calls:
                kernel(g, p, m, v, vmax, coefficients)
        state.count[()] = count + 1


def _restart_moments(cfg: Config, count: int, mus: list[Any]) -> None:
    """Zero the moments on a step that starts them anew (``_plan.moment_restarts``:
    the reference does not read them then), once every check has passed."""
    if _plan.moment_restarts(cfg, count):
        for m in mus:
            m.fill(0)


def from_optimizer(opt: NovoGrad | Config, threads: int = 1) -> FusedNovoGrad:
    """The fused step of ``opt`` (from :func:`novograd_ref.novograd` or any preset), or
    of a :class:`~novograd_ref.Config`.

    >>> import novograd_ref as ngr
    >>> ngr.fused.from_optimizer(ngr.presets.timm(lr=0.01)).config.second_moment_init
    'when_zero'
    """
    config = opt.config if isinstance(opt, NovoGrad) else opt
    if not isinstance(config, Config):
        raise TypeError(f"opt: expected a NovoGrad optimizer (ngr.novograd(...) or a "
                        f"preset) or a Config, got {type(opt).__name__}")
    return FusedNovoGrad(config, threads)


# ------------------------------------------------------------------------- checks


def _copy(x: Any) -> Any:
    return x.copy()


def _is_cupy(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "cupy"


def _flat_dicts(*trees: Tree) -> tuple[TreeDef, list[list[Any]]] | None:
    """The usual trees, dicts of arrays with the same keys, without the general walk:
    the structure and leaves ``flatten`` would give (keys sorted), or ``None`` for any
    other tree (which then takes the general path)."""
    first = trees[0]
    if type(first) is not dict or not first:
        return None
    keys = first.keys()
    for tree in trees[1:]:
        if type(tree) is not dict or tree.keys() != keys:
            return None
    try:
        order = tuple(sorted(first))
    except TypeError:
        return None
    leaf_type = type(first[order[0]])
    if leaf_type not in _ARRAY_TYPES and leaf_type.__module__.split(".")[0] != "cupy":
        return None
    leaves = [[tree[k] for k in order] for tree in trees]
    for tree_leaves in leaves:
        for leaf in tree_leaves:
            if type(leaf) is not leaf_type:
                return None
    return ("dict", order, (_LEAF,) * len(order)), leaves


_ARRAY_TYPES = (np.ndarray,)
_LEAF: TreeDef = ("leaf",)


def _leaves_like(tree: Tree, treedef: TreeDef, what: str) -> list[Any]:
    leaves, tree_def = flatten(tree)
    mismatch = structure_mismatch(treedef, tree_def)
    if mismatch:
        raise ValueError(f"{what} differs from grads in structure {mismatch}")
    return leaves


def _path(treedef: TreeDef, i: int) -> str:
    path = leaf_paths(treedef)[i]
    return "" if path == "<root>" else path


def _cupy_array_type() -> Any:
    import cupy

    return cupy.ndarray


def _check_count_buffer(count: Any, array_type: Any) -> None:
    """``state.count`` (already checked as the reference checks it) is a writeable 0-d
    array of the leaves' kind, which the step can overwrite."""
    if type(count) is not array_type or not _writeable(count.flags):
        library = "NumPy" if array_type is np.ndarray else "CuPy"
        raise TypeError(f"state.count: expected a writeable 0-d integer {library} array "
                        f"(the state from init()), got {_describe(count)}")


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        flags = "" if x.flags.writeable else "read-only "
        return f"a {flags}{x.dtype} array of shape {x.shape}"
    return type(x).__module__ + "." + type(x).__name__


def checked_leaves(treedef: TreeDef, params: list[Any], grads: list[Any], mus: list[Any],
                   nus: list[Any], nu_maxes: list[Any] | None,
                   array_type: Any) -> list[tuple[Any, ...]]:
    """Check every leaf (arrays of ``array_type``, already checked as the reference
    checks them) and return ``(g, p, m, v, v_max)`` per leaf (``v`` again for
    ``v_max`` without amsgrad)."""
    out = []
    for i, g in enumerate(grads):
        v = nus[i]
        vmax = nu_maxes[i] if nu_maxes is not None else v
        _check_leaf(treedef, i, array_type, g, params[i], mus[i], v, vmax)
        out.append((g, params[i], mus[i], v, vmax))
    return out


def _check_leaf(treedef: TreeDef, i: int, array_type: type, g: Any, p: Any, m: Any,
                v: Any, vmax: Any) -> None:
    """Raise the error that names what the kernels cannot take of leaf ``i``, whose
    shapes and dtypes the reference's checks have passed: arrays of ``array_type``
    (not scalars), of the kernels' dtypes, C-contiguous, writeable where written."""
    if not (type(g) is type(p) is type(m) is type(v) is type(vmax) is array_type):
        _refuse_type(treedef, i, array_type, g, p, m, v, vmax)
    if p.dtype not in _FLOATS:
        raise TypeError(f"params{_path(treedef, i)}: expected float16, float32 or float64 "
                        f"(the fused kernels' dtypes), got {p.dtype}")
    pf, mf, vf, vmf = p.flags, m.flags, v.flags, vmax.flags
    if not (g.flags.c_contiguous and pf.c_contiguous and mf.c_contiguous
            and _writeable(pf) and _writeable(mf) and _writeable(vf) and _writeable(vmf)):
        _refuse_layout(treedef, i, g, p, m, v, vmax)


_BASE = operator.attrgetter("base")


def _refuse_shared(treedef: TreeDef, grads: list[Any], params: list[Any], mus: list[Any],
                   nus: list[Any], nu_maxes: list[Any] | None, count: Any,
                   owned: bool | None = None) -> None:
    """No two buffers the step writes share memory, nor does a gradient with one of
    them, except with its own parameter when it is that very buffer (each value is
    read before it is written): a ValueError names both leaves.

    Arrays that own their memory (``base`` None), each passed once, share none; this
    is settled without looking at addresses (``owned``: the leaves' arrays are known
    to own theirs, the count aside; None: not known). Otherwise buffers are grouped by the
    object that owns their memory (the end of their chain of bases), and each group's
    byte ranges compared. Two objects that wrap the same raw memory without either
    owning the other are beyond this check.
    """
    written = [*params, *mus, *nus, *(nu_maxes or ()), count]
    if owned is None:
        owned = _own_memory(written) and _own_memory(grads)
    if owned and count.base is None:
        ids = set(map(id, written))
        if len(ids) == len(written) and (ids.isdisjoint(map(id, grads)) or all(
                id(g) not in ids or g is params[i] for i, g in enumerate(grads))):
            return
    names = [*(("params", i) for i in range(len(params))),
             *(("state.mu", i) for i in range(len(mus))),
             *(("state.nu", i) for i in range(len(nus))),
             *(("state.nu_max", i) for i in range(len(nu_maxes or ()))),
             ("state.count", -1)]
    groups: dict[int, list[tuple[Any, str, int]]] = {}
    for a, (what, i) in zip(written, names):
        groups.setdefault(id(_owner(a)), []).append((a, what, i))
    for i, g in enumerate(grads):
        group = groups.get(id(_owner(g)))
        if group is not None:
            group.append((g, "grads", i))
    for group in groups.values():
        if len(group) > 1:
            _refuse_overlap(treedef, group)


def _own_memory(arrays: list[Any]) -> bool:
    """Whether every array's ``base`` is None (compared by identity: an array's ``==``
    is elementwise)."""
    return not any(map(operator.is_not, map(_BASE, arrays), itertools.repeat(None)))


def _owner(a: Any) -> Any:
    """The object that owns ``a``'s memory: the end of its chain of bases, through
    memoryviews (NumPy keeps a buffer it wraps behind one)."""
    while True:
        below = a.obj if isinstance(a, memoryview) else getattr(a, "base", None)
        if below is None:
            return a
        a = below


def _refuse_overlap(treedef: TreeDef, group: list[tuple[Any, str, int]]) -> None:
    """Compare the byte ranges of buffers of one owner (sorted by start, each against
    those still open), and name the first two that overlap where that is refused."""
    spans = sorted(((*_byte_range(a), what, i) for a, what, i in group),
                   key=lambda span: span[0])
    open_spans: list[tuple[int, int, str, int]] = []
    for start, end, what, i in spans:
        if start == end:
            continue  # no bytes
        open_spans = [s for s in open_spans if s[1] > start]
        for o_start, _, o_what, o_i in open_spans:
            if what == o_what == "grads":
                continue  # gradients are only read
            if {what, o_what} == {"grads", "params"} and i == o_i and start == o_start:
                continue  # a gradient that is its own parameter's buffer
            here = f"{what}{_path(treedef, i)}" if i >= 0 else what
            there = f"{o_what}{_path(treedef, o_i)}" if o_i >= 0 else o_what
            raise ValueError(f"{here}: shares its buffer with {there}; the fused step "
                             "writes in place and needs a buffer of its own for each "
                             "(the same array passed twice, or a view of another?)")
        open_spans.append((start, end, what, i))


def _byte_range(a: Any) -> tuple[int, int]:
    """``[start, end)`` of a C-contiguous array's bytes."""
    start = int(a.__array_interface__["data"][0] if isinstance(a, np.ndarray)
                else a.data.ptr)  # CuPy
    return start, start + int(a.nbytes)


def _numpy_calls(cfg: Config, treedef: TreeDef, params: list[Any], grads: list[Any],
                 mus: list[Any], nus: list[Any], nu_maxes: list[Any] | None
                 ) -> tuple[list[tuple[Any, ...]], tuple[Any, ...] | None, bool]:
    """Check every leaf of NumPy arrays; return the CPU kernels' arguments per leaf,
    1-D views of ``g, p, m`` (float16 as uint16) and the 0-d ``v``, ``v_max``
    (nothing is copied), the kind ``(dtype, moment dtype, second-moment dtype,
    grads writeable)`` that every leaf shares, or ``None`` when they differ, and
    whether every leaf took the usual path with arrays that own their memory (see
    :func:`_refuse_shared`).

    The usual leaf (dtypes as ``init`` made them, contiguous, aligned, writeable, no
    amsgrad) is settled by identity and flag tests, which pass only what the
    reference's checks pass. The first leaf off that path runs the reference's checks
    of every leaf (:func:`~novograd_ref._optimizer.check_update_leaves`, its messages);
    then each such leaf goes through :func:`_check_leaf`, which names what the kernels
    cannot take or lets an unusual but valid leaf through (and then the leaves share no
    kind).
    """
    expected = _expected_dtypes(cfg.mu_dtype, cfg.state_dtype)
    ndarray = np.ndarray
    out = []
    kind: tuple[Any, ...] | None = None
    uniform, checked, owned = True, False, True
    for i, g in enumerate(grads):
        p, m, v = params[i], mus[i], nus[i]
        if nu_maxes is None and type(g) is type(p) is type(m) is type(v) is ndarray:
            dtype = p.dtype
            want = expected.get(dtype)
            if want is not None and g.dtype is dtype and m.dtype is want[0] and \
                    v.dtype is want[1] and g.shape == p.shape == m.shape and v.ndim == 0:
                gf = g.flags  # carray: C-contiguous, aligned and writeable
                g_writeable = gf.carray
                if p.flags.carray and m.flags.carray and v.flags.carray and (
                        g_writeable or (gf.c_contiguous and gf.aligned)):
                    if owned and (g.base is not None or p.base is not None
                                  or m.base is not None or v.base is not None):
                        owned = False
                    if kind is None:
                        kind = (dtype, want[0], want[1], g_writeable)
                    elif dtype is not kind[0] or g_writeable is not kind[3]:
                        uniform = False
                    if want[2] and g.ndim == 1:
                        out.append((g, p, m, v, v))  # nothing to view
                    else:
                        out.append((_flat(g), _flat(p), _flat(m), _half_view(v),
                                    _half_view(v)))
                    continue
        if not checked:  # the first leaf off the usual path: the reference's checks
            check_update_leaves(cfg, treedef, grads, params, mus, nus, nu_maxes)
            checked = True
        uniform = owned = False
        vmax = nu_maxes[i] if nu_maxes is not None else v
        _check_leaf(treedef, i, ndarray, g, p, m, v, vmax)
        out.append((_flat(g), _flat(p), _flat(m), _half_view(v), _half_view(vmax)))
    return out, kind if uniform else None, owned


@functools.cache
def _expected_dtypes(mu_dtype: str | None, state_dtype: str | None
                     ) -> dict[np.dtype, tuple[np.dtype, np.dtype, bool]]:
    """Parameter dtype -> (moment dtype, second-moment dtype) that ``init`` gives, and
    whether none of the three is float16 (which the kernels see as uint16)."""
    out = {}
    for dtype in _FLOATS:
        mu, nu = _state_dtype(mu_dtype, dtype), _state_dtype(state_dtype, dtype)
        out[dtype] = (mu, nu, 2 not in (dtype.itemsize, mu.itemsize, nu.itemsize))
    return out


def _writeable(flags: Any) -> bool:
    return getattr(flags, "writeable", True)  # CuPy arrays are always writeable


def _flat(a: np.ndarray) -> np.ndarray:
    if a.ndim != 1:
        a = a.reshape(-1)  # a view: the array is C-contiguous
    return a.view(np.uint16) if a.itemsize == 2 else a  # float16, the one 2-byte dtype


def _half_view(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint16) if a.itemsize == 2 else a  # float16, the one 2-byte dtype


def _state_dtype(name: str | None, param_dtype: np.dtype) -> np.dtype:
    return param_dtype if name is None else np.dtype(name)


def _refuse_type(treedef: TreeDef, i: int, array_type: type, *arrays: Any) -> None:
    path = _path(treedef, i)
    library = "a NumPy" if array_type is np.ndarray else "a CuPy"
    for what, a in zip(("grads", "params", "state.mu", "state.nu", "state.nu_max"), arrays):
        if type(a) is not array_type:
            raise TypeError(f"{what}{path}: expected {library} array (one array "
                            f"library per step), got {_describe(a)}")


def _refuse_layout(treedef: TreeDef, i: int, g: Any, p: Any, m: Any, v: Any,
                   vmax: Any) -> None:
    path = _path(treedef, i)
    for what, a, written in (("grads", g, False), ("params", p, True),
                             ("state.mu", m, True), ("state.nu", v, True),
                             ("state.nu_max", vmax, True)):
        if not a.flags.c_contiguous:
            raise ValueError(f"{what}{path}: expected a C-contiguous array, got strides "
                             f"{a.strides} for shape {a.shape} (the fused step works on "
                             "the caller's buffers and does not copy)")
        if written and not _writeable(a.flags):
            raise ValueError(f"{what}{path}: expected a writeable array, got a read-only "
                             "one (the fused step updates it in place)")
