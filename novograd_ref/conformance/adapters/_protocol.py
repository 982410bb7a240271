"""The one interface every NovoGrad implementation is stepped through.

An :class:`Adapter` wraps an implementation (one of the oracle's presets, a real
framework such as optax or torch-optimizer, or a user's port) so that it can be driven
with NumPy inputs and read back as NumPy outputs. The recorder, the verifier and
``novograd-ref verify --impl`` all speak only this protocol.

Parameters and gradients are flat, ordered ``dict[str, numpy.ndarray]`` mappings from a
leaf name to an array; every array of one run has the same floating dtype.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol, Union, runtime_checkable

import numpy as np

Leaves = Mapping[str, np.ndarray]
LearningRate = Union[float, np.ndarray]  # noqa: UP007 (a runtime alias on Python 3.10)


@runtime_checkable
class Adapter(Protocol):
    """An implementation of NovoGrad driven step by step on NumPy arrays.

    ``init(params, learning_rate)`` starts a run. ``learning_rate`` is either a Python
    float (a constant rate) or a 1-D float64 array whose entry ``k`` is the rate of step
    ``k + 1`` (``k`` updates already applied); an adapter feeds it through its
    implementation's own schedule mechanism (an optax schedule, a Keras
    ``LearningRateSchedule``, ``param_group["lr"]`` set before each ``step()``...).
    It returns an opaque state.

    ``update(grads, state)`` applies one step with the given gradients (same names,
    shapes and dtype as the parameters) and returns the parameters after the step, as
    NumPy arrays of the parameter dtype, together with the new state. An adapter never
    mutates the arrays it is given.
    """

    name: str

    def init(self, params: Leaves, learning_rate: LearningRate) -> Any: ...

    def update(self, grads: Leaves, state: Any) -> tuple[dict[str, np.ndarray], Any]: ...


class ImplementationError(ValueError):
    """An implementation named on the command line cannot be loaded or used."""


@dataclasses.dataclass(frozen=True)
class Implementation:
    """An implementation to check: how to build it for a case, and which oracle
    keywords should reproduce it.

    ``build(kwargs, dtype)`` returns an adapter constructed with the constructor keywords
    ``kwargs`` for parameters of ``dtype``; ``oracle_kwargs(kwargs, dtype)`` gives the
    preset keywords that reproduce that run (a real framework may add, e.g.,
    ``state_dtype`` or ``hyper_dtype``).
    """

    spec: str
    build: Callable[[dict[str, Any], str], Adapter]
    oracle_kwargs: Callable[[dict[str, Any], str], dict[str, Any]] = (
        lambda kwargs, dtype: dict(kwargs))


class Unsupported(NotImplementedError):
    """Raised by a port's factory to say "I do not have this option".

    It (like any ``NotImplementedError``) makes the kit skip that case, with the message
    as the reason. Any other exception of the factory is an error of the
    implementation.

    >>> def make(amsgrad=False, **kwargs):
    ...     if amsgrad:
    ...         raise Unsupported("no amsgrad")
    """


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why one run of the implementation under test produced no trajectory.

    ``cause`` is one of ``CAUSES``: ``raised`` (an exception), ``protocol`` (a
    broken adapter protocol: wrong output, modified input, unreadable reply), ``exit``
    (``sys.exit`` or the process exited), ``signal`` (killed by a signal, e.g. a
    segmentation fault), ``timeout``, ``memory`` (``MemoryError`` or the memory
    limit). ``call`` is what was running (``import``, ``factory``, ``init()``,
    ``update()``), ``step`` the 1-based step (0 for ``init()``); ``traceback`` the
    implementation's own traceback and ``output`` the tail of what it printed.
    """

    cause: str
    message: str
    call: str = ""
    step: int | None = None
    traceback: str = ""
    output: str = ""

    def where(self) -> str:
        """Where it happened, e.g. ``step 3, in update()``."""
        parts = [f"step {self.step}" if self.step else "", f"in {self.call}" if self.call
                 else ""]
        return ", ".join(p for p in parts if p)


CAUSES = ("raised", "protocol", "exit", "signal", "timeout", "memory")
_FAILURE_FIELDS = frozenset(f.name for f in dataclasses.fields(Failure))


class ImplementationFailed(Exception):
    """The implementation under test raised, or broke the adapter protocol.

    It carries its :class:`Failure` record (``failure``): ``call`` is what was running
    (``"factory"``, ``"init()"``, ``"update()"``), ``step`` the 1-based step (0 for
    ``init``, ``None`` for the factory), ``cause`` one of ``CAUSES``; ``traceback``
    holds the implementation's own traceback when it raised, and is empty for a
    protocol violation. The exception's message is the record's.

    >>> ImplementationFailed("update() returned None as state", "update()", 2).failure
    Failure(cause='protocol', message='update() returned None as state', call='update()', step=2, traceback='', output='')
    """

    def __init__(self, message: str, call: str, step: int | None = None,
                 traceback: str = "", cause: str = "protocol") -> None:
        super().__init__(message)
        self.failure = Failure(cause, message, call, step, traceback)

    def __getattr__(self, name: str) -> Any:
        """The record's fields read through the exception (``exc.cause`` is
        ``exc.failure.cause``), stored once, in :attr:`failure`.

        >>> ImplementationFailed("boom", "init()", 0, cause="raised").cause
        'raised'
        """
        if name in _FAILURE_FIELDS and "failure" in self.__dict__:
            return getattr(self.failure, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def raised(exc: BaseException, call: str, step: int | None = None) -> ImplementationFailed:
    """Wrap an exception the implementation raised, keeping its traceback from the first
    frame outside this package (the kit's own calling frames are dropped).
    ``SystemExit`` is cause ``exit``, ``MemoryError`` cause ``memory``; an
    :class:`ImplementationFailed` the adapter raised itself is returned as it is."""
    import os
    import traceback

    if isinstance(exc, ImplementationFailed):  # an adapter's own account (an exec port's)
        return exc
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and \
            os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(package + os.sep):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    if isinstance(exc, SystemExit):
        return ImplementationFailed(f"{call} called sys.exit({exc.code!r})", call, step, text,
                                    "exit")
    cause = "memory" if isinstance(exc, MemoryError) else "raised"
    return ImplementationFailed(f"{call} raised {type(exc).__name__}: {exc}", call, step,
                                text, cause)


def check_leaves(got: Any, expected: Leaves, what: str, call: str, step: int) -> None:
    """Raise :class:`ImplementationFailed` unless ``got`` is a dict of NumPy arrays (a
    NumPy scalar passes for a 0-d leaf) with the names, shapes and dtypes of
    ``expected``; the message names the leaf."""
    def fail(message: str) -> ImplementationFailed:
        return ImplementationFailed(message, call, step)

    if not isinstance(got, Mapping):
        raise fail(f"{call} returned {what} as {type(got).__name__}, expected a dict of "
                   "NumPy arrays")
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing or extra:
        raise fail(f"{call} returned {what} with " + "; ".join(
            ([f"missing leaves {missing}"] if missing else []) +
            ([f"unexpected leaves {extra}"] if extra else [])))
    for name, want in expected.items():
        leaf = got[name]
        if not isinstance(leaf, (np.ndarray, np.generic)):  # a NumPy scalar for a 0-d leaf
            raise fail(f"{call} returned {what}[{name!r}] as {type(leaf).__module__}."
                       f"{type(leaf).__name__}, expected a numpy.ndarray")
        if leaf.shape != want.shape:
            raise fail(f"{call} returned {what}[{name!r}] with shape {leaf.shape}, "
                       f"expected {want.shape}")
        if leaf.dtype != want.dtype:
            raise fail(f"{call} returned {what}[{name!r}] with dtype {leaf.dtype}, "
                       f"expected {want.dtype}")


def check_unchanged(handed: Leaves, kept: Leaves, what: str, call: str, step: int) -> None:
    """Raise :class:`ImplementationFailed` if the implementation modified an array it was
    handed (``handed``) compared with the kit's own copy (``kept``)."""
    for name, mine in kept.items():
        theirs = handed[name]
        if theirs.shape != mine.shape or not np.array_equal(theirs, mine, equal_nan=True):
            raise ImplementationFailed(
                f"the implementation modified {what}[{name!r}] passed to {call}; the "
                "adapter protocol forbids this", call, step)
