"""What the benchmark scripts share: the ResNet-50 tree and the PyTorch peers.

:data:`TORCH_NOVOGRADS` lists the published PyTorch NovoGrads the reference core is
timed against. Each entry is ``(label, loader)``; ``loader()`` returns the optimizer class (a
``torch.optim.Optimizer`` taking ``params, lr, betas, eps, weight_decay``) or raises
``ImportError`` saying why it is not available here. NeMo's and timm's classes are
loaded from their single files, as the conformance kit does, so neither package has to
import (``scripts/make_env.sh torch`` provides them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

Shape = tuple[int, ...]


def resnet50_shapes(width_div: int = 1) -> list[Shape]:
    """The parameter shapes of torchvision's ResNet-50, in ``named_parameters`` order.

    ``width_div`` divides every channel count (a small tree of the same structure).
    """
    def c(n: int) -> int:
        return max(1, n // width_div)

    shapes: list[Shape] = [(c(64), 3, 7, 7), (c(64),), (c(64),)]
    inplanes = 64
    for planes, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for block in range(blocks):
            shapes += [(c(planes), c(inplanes), 1, 1), (c(planes),), (c(planes),),
                       (c(planes), c(planes), 3, 3), (c(planes),), (c(planes),),
                       (c(planes * 4), c(planes), 1, 1), (c(planes * 4),), (c(planes * 4),)]
            if block == 0:  # the downsample branch of the first block of each stage
                shapes += [(c(planes * 4), c(inplanes), 1, 1), (c(planes * 4),),
                           (c(planes * 4),)]
            inplanes = planes * 4
    shapes += [(c(1000), c(2048)), (c(1000),)]
    return shapes


def _nemo() -> Any:
    from novograd_ref.conformance.frameworks import nemo

    return nemo.load_novograd()


def _timm() -> Any:
    try:
        from timm.optim import NvNovoGrad
    except ImportError:
        from novograd_ref.conformance.frameworks import timm

        return timm.load_nvnovograd()
    return NvNovoGrad


def _torch_optimizer() -> Any:
    import torch_optimizer

    return torch_optimizer.NovoGrad


def _pytorch_optimizer() -> Any:
    from pytorch_optimizer import NovoGrad

    return NovoGrad


TORCH_NOVOGRADS: list[tuple[str, Callable[[], Any]]] = [
    ("NeMo Novograd", _nemo),
    ("timm NvNovoGrad", _timm),
    ("torch-optimizer NovoGrad", _torch_optimizer),
    ("pytorch_optimizer NovoGrad", _pytorch_optimizer),
]


def torch_novograds(params: Mapping[str, Any], grads: Mapping[str, Any], **hyper: Any
                    ) -> Iterator[tuple[str, Any, list[Any], Any]]:
    """Each importable PyTorch NovoGrad of :data:`TORCH_NOVOGRADS` over its own copy of
    ``params`` (NumPy arrays), each parameter's ``.grad`` set once from ``grads``:
    ``(label, optimizer, torch parameters, torch)``, built with ``**hyper`` (``lr``,
    ``betas``, ...). What is not importable here is skipped.
    """
    try:
        import torch
    except ImportError:
        return
    for label, load in TORCH_NOVOGRADS:
        try:
            cls = load()
        except ImportError:
            continue
        tp = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in params.values()]
        for p, g in zip(tp, grads.values()):
            p.grad = torch.from_numpy(g.copy())
        yield label, cls(tp, **hyper), tp, torch
