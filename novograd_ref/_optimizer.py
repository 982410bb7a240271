"""The public optimizer: ``novograd(...)``, its ``init`` / ``update``, ``apply_updates``.

This layer resolves the array namespace once per call, walks each tree once, checks
every input against the others (naming the offending leaf by its path) and hands each
layer to :func:`novograd_ref._core.leaf_step`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import operator
from typing import Any, NamedTuple

import array_api_compat

from . import _core
from ._config import DEFAULT_B1, DEFAULT_B2, DEFAULT_EPS, Config, LearningRate, describe_value
from ._namespace import namespace
from ._tree import TreeDef, flatten, leaf_paths, structure_mismatch, unflatten

Array = Any
Tree = Any


class NovoGradState(NamedTuple):
    """Optimizer state: one moment per parameter plus one scalar per layer.

    - ``count``: 0-d integer array, the number of updates already applied: the
      library's default integer dtype (int64; int32 in JAX without ``jax_enable_x64``).
      It never wraps silently: a concrete count at its dtype's maximum is refused by
      ``update``, and under ``jax.jit`` an int32 count past it turns the updates NaN.
    - ``mu``: a tree like the parameters, the first moment of each layer.
    - ``nu``: a tree like the parameters with a 0-d array per layer: the second moment
      (Apex conventions: the blended gradient norm).
    - ``nu_max``: with ``amsgrad``, the running maximum of ``nu``; otherwise ``None``.
    """

    count: Array
    mu: Tree
    nu: Tree
    nu_max: Tree


@dataclasses.dataclass(frozen=True)
class NovoGrad:
    """A NovoGrad optimizer: a pure ``init`` / ``update`` pair and its ``config``."""

    config: Config

    def init(self, params: Tree) -> NovoGradState:
        """Zero state for ``params`` (first moments, per-layer scalars, step count 0)."""
        leaves, treedef = flatten(params, "params")
        xp = _namespace(leaves, treedef, "params")
        _check_float_leaves(xp, leaves, treedef, "params")
        device = array_api_compat.device(leaves[0]) if leaves else None
        mu = [xp.zeros(p.shape, dtype=_dtype(xp, self.config.mu_dtype, p), device=device)
              for p in leaves]
        nu = [xp.zeros((), dtype=_dtype(xp, self.config.state_dtype, p), device=device)
              for p in leaves]
        count = xp.zeros((), dtype=_count_dtype(xp), device=device)
        nu_max = unflatten(treedef, list(nu)) if self.config.amsgrad else None
        return NovoGradState(count, unflatten(treedef, mu), unflatten(treedef, nu), nu_max)

    def update(self, grads: Tree, state: NovoGradState,
               params: Tree = None) -> tuple[Tree, NovoGradState]:
        """Return ``(updates, new_state)``; ``params + updates`` are the new parameters.

        ``params`` is needed when the configuration reads them (weight decay, update
        clipping), and is then checked against the gradients; otherwise it is ignored
        and may be omitted (as in optax). No input is modified.
        """
        cfg = self.config
        g_leaves, treedef = flatten(grads, "grads")
        xp = _namespace(g_leaves, treedef, "grads")
        p_leaves = self._params_leaves(params, treedef, len(g_leaves))
        m_leaves, v_leaves, vmax_leaves = _state_leaves(cfg, state, treedef)
        check_leaves(xp, cfg, treedef, g_leaves, p_leaves, m_leaves, v_leaves, vmax_leaves)
        lazy = array_api_compat.is_lazy_array(state.count)
        count = checked_count(xp, state.count, g_leaves[0] if g_leaves else None, lazy)
        lr = learning_rate_at(xp, cfg.learning_rate, count, lazy)
        sc = _core.step_scalars(cfg, count, lazy, lr)
        updates, mus, nus, nu_maxes = [], [], [], []
        for i, g in enumerate(g_leaves):
            vmax = vmax_leaves[i] if vmax_leaves is not None else None
            p = p_leaves[i] if p_leaves is not None else None
            u, m, v, vmax = _core.leaf_step(cfg, xp, sc, g, p, m_leaves[i], v_leaves[i], vmax)
            updates.append(u)
            mus.append(m)
            nus.append(v)
            nu_maxes.append(vmax)
        new_state = NovoGradState(
            count + 1,
            unflatten(treedef, mus),
            unflatten(treedef, nus),
            unflatten(treedef, nu_maxes) if cfg.amsgrad else None,
        )
        return unflatten(treedef, updates), new_state

    def _params_leaves(self, params: Tree, treedef: TreeDef, n: int) -> list[Array] | None:
        cfg = self.config
        if not (cfg.weight_decay > 0 or cfg.update_clipping == "luc"):
            return None  # not read: not walked
        if params is None:
            raise ValueError(f"update() needs params with {cfg!r}: weight decay or "
                             "update clipping reads the parameters")
        leaves, p_def = flatten(params, "params")
        mismatch = structure_mismatch(p_def, treedef)
        if mismatch:
            raise ValueError(f"grads differ from params in structure {mismatch}")
        return leaves


def novograd(learning_rate: LearningRate, *, b1: float = DEFAULT_B1, b2: float = DEFAULT_B2,
             eps: float = DEFAULT_EPS, eps_root: float = 0.0, weight_decay: float = 0.0,
             **switches: Any) -> NovoGrad:
    r"""NovoGrad with canonical hyperparameter names and every convention switch.

    NovoGrad (Ginsburg et al. 2019) keeps, per layer :math:`l`, one scalar second
    moment of the gradient norm instead of one per weight. With
    :math:`S^l_t = \lVert g^l_t \rVert_2^2` and defaults (the paper's recurrence):

    .. math::

        v^l_1 &= S^l_1, \qquad v^l_t = \beta_2 v^l_{t-1} + (1 - \beta_2) S^l_t \\
        m^l_t &= \beta_1 m^l_{t-1} + \frac{g^l_t}{\sqrt{v^l_t + \epsilon_{root}}
                 + \epsilon} + \lambda\, p^l_t \\
        p^l_{t+1} &= p^l_t - \eta_t\, m^l_t

    where :math:`\eta_t, \beta_1, \beta_2, \epsilon, \epsilon_{root}, \lambda` are
    ``learning_rate, b1, b2, eps, eps_root, weight_decay``, and :math:`m_0 = 0`. Every
    other published variant is a choice of the keyword ``switches`` documented in
    :class:`novograd_ref.Config` (or one of ``novograd_ref.presets``).

    Args:
      learning_rate: a number, or a callable ``step -> rate`` where ``step`` is the
        number of updates already applied (0 on the first update). The schedule's value
        is checked at every update: a Python real number or a 0-d array of a real
        floating dtype, finite and >= 0, or ``update`` raises an error naming the step.
        Under ``jax.jit`` the step is traced: shape and dtype are checked when tracing,
        the value cannot be. Under Dask shape and dtype are checked at once and the
        value when the graph is computed.
      b1, b2, eps, eps_root, weight_decay: hyperparameters (validated here).
      **switches: convention switches, see :class:`novograd_ref.Config`.

    Returns:
      A :class:`NovoGrad` with ``init``, ``update`` and the resolved ``config``.

    Examples:
      >>> import numpy as np
      >>> import novograd_ref as ngr
      >>> opt = ngr.novograd(0.1)
      >>> params = {"w": np.array([1.0, 2.0, 3.0])}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": np.array([1.0, 2.0, 3.0])}, state, params)
      >>> ngr.apply_updates(params, updates)["w"]  # first step: p - lr * g / |g|
      array([0.97327388, 1.94654775, 2.91982163])

    References:
      Ginsburg et al., `Stochastic Gradient Methods with Layer-wise Adaptive Moments
      for Training of Deep Networks <https://arxiv.org/abs/1905.11286>`_, 2019.
      Li et al., `Jasper: An End-to-End Convolutional Neural Acoustic Model
      <https://arxiv.org/abs/1904.03288>`_, 2019.
    """
    config = Config(learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
                    weight_decay=weight_decay, **switches)
    return NovoGrad(config)


def apply_updates(params: Tree, updates: Tree) -> Tree:
    """Return ``params + updates`` leaf by leaf, in the parameters' dtypes.

    >>> import numpy as np
    >>> apply_updates({"w": np.array([1.0])}, {"w": np.array([-0.5])})
    {'w': array([0.5])}
    """
    p_leaves, treedef = flatten(params, "params")
    u_leaves, u_def = flatten(updates, "updates")
    mismatch = structure_mismatch(treedef, u_def)
    if mismatch:
        raise ValueError(f"params and updates differ in structure {mismatch}")
    xp = _namespace(p_leaves, treedef, "params")
    _check_float_leaves(xp, p_leaves, treedef, "params")
    if len(set(map(type, u_leaves)) | set(map(type, p_leaves))) > 1:
        for i, (p, u) in enumerate(zip(p_leaves, u_leaves)):
            if type(u) is not type(p):
                _same_library(u, p, _LeafName("updates", treedef, i), "its parameter")
    if list(map(_SHAPE_OF, p_leaves)) != list(map(_SHAPE_OF, u_leaves)):
        for i, (p, u) in enumerate(zip(p_leaves, u_leaves)):
            if p.shape != u.shape:
                raise ValueError(f"updates{_path(treedef, i)}: expected shape {p.shape} like "
                                 f"the parameter, got {u.shape}")
    return unflatten(treedef, [_core.cast_to(xp, p + u, p.dtype)
                               for p, u in zip(p_leaves, u_leaves)])


# ----------------------------------------------------------------------------- checks


def _namespace(leaves: list[Array], treedef: TreeDef | None, what: str) -> Any:
    """The one array namespace of all leaves; names the first leaf that differs."""
    if not leaves:
        import numpy

        return namespace(numpy.zeros(0))
    first_type = type(leaves[0])
    if len(set(map(type, leaves))) == 1:
        try:
            return namespace(leaves[0])
        except TypeError as exc:
            raise TypeError(f"{what}{_path(treedef, 0)}: expected an array, got "
                            f"{first_type.__name__}") from exc
    spaces = []
    for i, leaf in enumerate(leaves):
        try:
            spaces.append(namespace(leaf))
        except TypeError as exc:
            raise TypeError(f"{what}{_path(treedef, i)}: expected an array, got "
                            f"{type(leaf).__name__}") from exc
        if spaces[i] is not spaces[0]:
            raise TypeError(f"{what}{_path(treedef, i)}: expected an array of "
                            f"{spaces[0].__name__} like the first leaf "
                            f"{what}{_path(treedef, 0)}, got {spaces[i].__name__}")
    return spaces[0]


def _same_library(leaf: Array, other: Array, what: object, other_what: str) -> None:
    """``leaf`` belongs to ``other``'s array library, or a TypeError names both."""
    try:
        mine = namespace(leaf)
    except TypeError as exc:
        raise TypeError(f"{what}: expected an array, got {type(leaf).__name__}") from exc
    try:
        theirs = namespace(other)
    except TypeError as exc:
        raise TypeError(f"{other_what}: expected an array, got {type(other).__name__}"
                        ) from exc
    if mine is not theirs:
        raise TypeError(f"{what}: expected an array of {theirs.__name__} like {other_what}, "
                        f"got {mine.__name__}")


class _LeafName:
    """``prefix`` and the path of leaf ``index``, e.g. ``state.nu['w']``, written out
    only when a message is: finding one leaf's path walks the whole structure."""

    __slots__ = ("index", "prefix", "treedef")

    def __init__(self, prefix: str, treedef: TreeDef | None, index: int) -> None:
        self.prefix, self.treedef, self.index = prefix, treedef, index

    def __str__(self) -> str:
        return f"{self.prefix}{_path(self.treedef, self.index)}"


def _path(treedef: TreeDef | None, index: int) -> str:
    if treedef is None:
        return f" leaf {index}"
    path = leaf_paths(treedef)[index]
    return "" if path == "<root>" else path


def _check_float_leaves(xp: Any, leaves: list[Array], treedef: TreeDef, what: str) -> None:
    """Every leaf has a real floating dtype (each distinct dtype is checked once)."""
    for dtype in set(map(_DTYPE_OF, leaves)):
        if not _is_dtype(xp, dtype, "real floating"):
            i = next(i for i, leaf in enumerate(leaves) if leaf.dtype == dtype)
            raise TypeError(f"{what}{_path(treedef, i)}: expected a real floating dtype, "
                            f"got {dtype}")


def _is_dtype(xp: Any, dtype: Any, kind: str) -> bool:
    """``xp.isdtype(dtype, kind)``; False for a dtype the library's ``isdtype`` does not
    know (NumPy raises for ml_dtypes' bfloat16, which it holds but cannot classify)."""
    try:
        return bool(xp.isdtype(dtype, kind))
    except (TypeError, ValueError):
        return False


_DTYPE_OF = operator.attrgetter("dtype")
_SHAPE_OF = operator.attrgetter("shape")


def _dtype(xp: Any, name: str | None, like: Array) -> Any:
    if name is None:
        return like.dtype
    dtype = getattr(xp, name, None)
    if dtype is None:
        raise TypeError(f"state dtype {name!r} is not available in {xp.__name__}")
    return dtype


def check_state_kind(cfg: Config, state: Any) -> None:
    """``state`` is a :class:`NovoGradState` made for ``cfg``'s amsgrad setting."""
    if not isinstance(state, NovoGradState):
        raise TypeError(f"state: expected a NovoGradState from init(), got "
                        f"{type(state).__name__}")
    if (state.nu_max is not None) != cfg.amsgrad:
        raise ValueError(f"state: made by an optimizer with amsgrad="
                         f"{state.nu_max is not None}, this one has amsgrad={cfg.amsgrad}")


def _state_leaves(cfg: Config, state: Any, treedef: TreeDef
                  ) -> tuple[list[Array], list[Array], list[Array] | None]:
    check_state_kind(cfg, state)
    out: list[list[Array]] = []
    for name in ("mu", "nu", "nu_max") if cfg.amsgrad else ("mu", "nu"):
        leaves, s_def = flatten(getattr(state, name), f"state.{name}")
        mismatch = structure_mismatch(s_def, treedef)
        if mismatch:
            raise ValueError(f"grads differ from state.{name} in structure {mismatch}")
        out.append(leaves)
    return out[0], out[1], out[2] if cfg.amsgrad else None


def check_update_leaves(cfg: Config, treedef: TreeDef, grads: list[Array],
                        params: list[Array], mus: list[Array], nus: list[Array],
                        nu_maxes: list[Array] | None) -> Any:
    """What :meth:`NovoGrad.update` checks of the leaves of an update whose parameters
    are read, with its messages: one array library, then :func:`check_leaves`. Returns
    the namespace. For callers that write the update in place
    (``novograd_ref.fused``), together with :func:`check_step`.
    """
    xp = _namespace(grads, treedef, "grads")
    check_leaves(xp, cfg, treedef, grads, params, mus, nus, nu_maxes)
    return xp


def check_step(xp: Any, cfg: Config, count: Any, like: Array | None) -> tuple[int, Any]:
    """What :meth:`NovoGrad.update` checks of a concrete step, with its messages: the
    count (:func:`checked_count`; ``like``: a gradient, or None) and this step's
    learning rate (:func:`learning_rate_at`). Returns both, the count as an int."""
    k = int(checked_count(xp, count, like, False))
    return k, learning_rate_at(xp, cfg.learning_rate, k, False)


def check_leaves(xp: Any, cfg: Config, treedef: TreeDef, grads: list[Array],
                  params: list[Array] | None, mus: list[Array], nus: list[Array],
                  nu_maxes: list[Array] | None) -> None:
    """Gradients agree with the parameters (when read) and the state: shape, dtype,
    library. Cheap attribute comparisons; messages are built only on failure."""
    floats: set[Any] = set()
    state_dtypes: dict[Any, tuple[Any, Any]] = {}  # gradient dtype -> (mu, nu dtypes)
    same_state = cfg.mu_dtype is None and cfg.state_dtype is None
    for i, g in enumerate(grads):
        dtype, shape, m, v = g.dtype, g.shape, mus[i], nus[i]
        if params is not None:
            p = params[i]
            if type(p) is not type(g):
                _check_array(p, _LeafName("params", treedef, i))
                _same_library(g, p, _LeafName("grads", treedef, i), "its parameter")
            if p.shape != shape or p.dtype != dtype:
                path = _path(treedef, i)
                raise ValueError(f"grads{path} and params{path} must have one shape and "
                                 f"dtype, got {shape} {dtype} and {p.shape} {p.dtype}")
        if type(m) is not type(g):
            _check_array(m, _LeafName("state.mu", treedef, i))
            _same_library(g, m, _LeafName("grads", treedef, i), "the state from init()")
        if m.shape != shape:
            raise ValueError(f"grads{_path(treedef, i)}: expected shape {m.shape} like the "
                             f"state from init(), got {shape}")
        if dtype not in floats:
            if not _is_dtype(xp, dtype, "real floating"):
                raise TypeError(f"grads{_path(treedef, i)}: expected a real floating dtype, "
                                f"got {dtype}")
            floats.add(dtype)
        if (same_state and nu_maxes is None and m.dtype == dtype
                and getattr(v, "shape", None) == () and v.dtype == dtype):
            continue
        if same_state and m.dtype != dtype:
            raise TypeError(f"grads{_path(treedef, i)}: expected dtype {m.dtype} like the "
                            f"state from init(), got {dtype}")
        wanted = state_dtypes.get(dtype)
        if wanted is None:
            wanted = state_dtypes[dtype] = (_dtype(xp, cfg.mu_dtype, g),
                                            _dtype(xp, cfg.state_dtype, g))
        mu_dtype, nu_dtype = wanted
        if m.dtype != mu_dtype:
            raise TypeError(f"state.mu{_path(treedef, i)}: expected dtype {mu_dtype}, got "
                            f"{m.dtype} (a state from another configuration or dtype?)")
        _check_layer_scalar(v, nu_dtype, _LeafName("state.nu", treedef, i))
        if nu_maxes is not None:
            _check_layer_scalar(nu_maxes[i], nu_dtype, _LeafName("state.nu_max", treedef, i))


def _check_layer_scalar(v: Any, dtype: Any, what: object) -> None:
    # shape first: NumPy's ``dtype == None`` is true (None means float64 there)
    if getattr(v, "shape", None) != () or v.dtype != dtype:
        raise TypeError(f"{what}: expected a 0-d {dtype} array, got {_describe(v)} (a state "
                        "from another configuration?)")


def _check_array(x: Any, what: object) -> None:
    """``x`` is an array of a known library, or a TypeError names ``what``."""
    try:
        namespace(x)
    except TypeError as exc:
        raise TypeError(f"{what}: expected an array, got {describe_value(x)}") from exc


def _count_dtype(xp: Any) -> Any:
    """The step count's dtype: the library's default integer dtype (int64, or int32 in
    JAX without ``jax_enable_x64``)."""
    info = getattr(xp, "__array_namespace_info__", None)
    if info is not None:
        return info().default_dtypes()["integral"]
    return xp.int64


def _is_concrete(x: Array) -> bool:
    """Whether ``x``'s value can be read now: not lazy, or an eager (untraced) JAX array."""
    if not array_api_compat.is_lazy_array(x):
        return True
    if array_api_compat.is_jax_array(x):
        import jax

        return not isinstance(x, jax.core.Tracer)
    return False


#: Checks already passed, kept so that each update repeats none of them: pairs of
#: (count type, gradient type) of one library, and the largest value of each integer
#: count dtype, keyed by (count type, dtype): dtypes of two libraries must never be
#: compared (array-api-strict warns).
_COUNT_LIBRARY_OK: set[tuple[type, type]] = set()
_COUNT_TOP: dict[tuple[type, Any], int] = {}


def checked_count(xp: Any, count: Any, like: Array | None, lazy: bool) -> Array:
    """``state.count``, checked: a 0-d integer array of the gradients' library that the
    next update does not wrap. A concrete count is checked now; a Dask count is returned
    with the same check in its graph (it raises when computed); a count traced by
    ``jax.jit`` cannot be checked (see :func:`learning_rate_at`)."""
    types = (type(count), type(like))
    if like is not None and types[0] is not types[1] and types not in _COUNT_LIBRARY_OK:
        _same_library(count, like, "state.count", "the gradients")
        _COUNT_LIBRARY_OK.add(types)
    top = _count_top(xp, count)
    if not lazy or _is_concrete(count):
        _check_count_value(count, top)
    elif hasattr(count, "map_blocks"):  # Dask
        return count.map_blocks(_check_count_value, top, dtype=count.dtype)
    return count


def _count_top(xp: Any, count: Any) -> int:
    """The largest value of ``count``'s integer dtype, or a TypeError if it is not a
    0-d integer array."""
    if getattr(count, "shape", None) == ():
        try:
            return _COUNT_TOP[type(count), count.dtype]
        except (KeyError, TypeError):  # not seen yet, or not hashable
            pass
    try:
        ok = count.shape == () and xp.isdtype(count.dtype, "integral")
    except (AttributeError, TypeError, ValueError):
        ok = False
    if not ok:
        raise TypeError(f"state.count: expected a 0-d integer array from init(), got "
                        f"{_describe(count)}")
    top = int(xp.iinfo(count.dtype).max)
    with contextlib.suppress(TypeError):
        _COUNT_TOP[type(count), count.dtype] = top
    return top


def _check_count_value(count: Any, top: int) -> Any:
    k = _read(int, count, "state.count")
    if not 0 <= k < top:
        raise ValueError(f"state.count: expected 0 <= count < {top} (its {count.dtype} "
                         f"maximum, where the next update would wrap it), got {k}")
    return count


def _describe(x: Any) -> str:
    shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
    if shape is None or dtype is None:
        return describe_value(x)
    return f"a {type(x).__name__} of shape {tuple(shape)} and dtype {dtype}"


def learning_rate_at(xp: Any, rate: LearningRate, count: Array, lazy: bool) -> Any:
    """This step's learning rate: the constant, or the schedule's value at ``count``
    checked to be a real, finite, non-negative scalar (see :func:`scheduled_rate`).

    A lazy int32 count (JAX without x64, under ``jax.jit``) cannot be read: one at its
    maximum makes the rate NaN, so the update that would wrap it, and every later one,
    is NaN instead of silently restarting the schedule and bias corrections.
    """
    if not callable(rate):
        lr: Any = rate
    else:
        lr = scheduled_rate(rate, count if lazy else int(count))
    if lazy and not _is_concrete(count) and xp.iinfo(count.dtype).max < 2**62:
        top = xp.iinfo(count.dtype).max
        lr = xp.where((count >= 0) & (count < top), lr, math.nan)
    return lr


def scheduled_rate(schedule: Any, step: Any) -> Any:
    """Call ``schedule(step)`` and check its value: a Python (or NumPy) real number, or
    a 0-d array of a real floating dtype, finite and >= 0; the error names the step.
    An exception the schedule raises itself is raised again as a TypeError (from a
    TypeError) or a ValueError (from anything else) naming the schedule and the step,
    the schedule's own exception as its ``__cause__``.

    A concrete value is returned as a Python float. A lazy one keeps its laziness: its
    shape and dtype are checked now (at trace time under ``jax.jit``); a Dask value is
    checked when it is computed (the error is raised then); a value traced by
    ``jax.jit`` cannot be checked at all.
    """
    where = f"at step {int(step)}" if _is_concrete(step) else "(lazy step count)"
    try:
        value = schedule(step)
    except Exception as err:
        raise _schedule_failed(schedule, where, err) from err
    expected = ("expected a real number or a 0-d array of a real floating dtype, finite "
                "and >= 0")
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return _checked_rate(value, where)
    try:
        xp = array_api_compat.array_namespace(value)
    except TypeError:
        raise TypeError(f"learning_rate schedule returned {describe_value(value)} {where}: "
                        f"{expected}") from None
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape != () or dtype is None or not _is_dtype(xp, dtype, "real floating"):
        raise TypeError(f"learning_rate schedule returned {_describe(value)} {where}: "
                        f"{expected}")
    if _is_concrete(value):
        return _checked_rate(value, where)
    if hasattr(value, "map_blocks"):  # Dask: checked when computed, step included
        return value.map_blocks(_check_rate_block, step, dtype=value.dtype)
    return value


def _schedule_failed(schedule: Any, where: str, err: Exception) -> Exception:
    """The error that names ``schedule`` and the step at which it raised ``err``."""
    name = getattr(schedule, "__qualname__", None) or type(schedule).__name__
    try:
        text = str(err)
    except Exception:  # noqa: BLE001 (an exception that cannot print itself)
        text = ""
    if len(text) > 200:
        text = f"{text[:185]}...({len(text)} chars)"
    kind = TypeError if isinstance(err, TypeError) else ValueError
    return kind(f"learning_rate schedule {name} raised {type(err).__name__} {where}"
                + (f": {text}" if text else ""))


def _read(kind: type, x: Any, what: str) -> Any:
    """``kind(x)`` (``int`` or ``float``) of a concrete 0-d array or number, or a
    TypeError naming ``what`` where it holds no value to read (a PyTorch meta tensor)."""
    try:
        return kind(x)
    except (RuntimeError, NotImplementedError) as exc:
        raise TypeError(f"{what}: expected a value that can be read, got {_describe(x)} "
                        f"({type(exc).__name__}: {exc})") from exc


def _checked_rate(value: Any, where: str) -> float:
    try:
        x = _read(float, value, f"learning_rate schedule's value {where}")
    except OverflowError:
        x = math.inf
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"learning_rate schedule returned {describe_value(value)} {where}: "
                         "expected a finite number >= 0")
    return x


def _check_rate_block(value: Any, step: Any) -> Any:
    """A Dask block check: the schedule's value, once computed."""
    _checked_rate(value, f"at step {int(step)}")
    return value
