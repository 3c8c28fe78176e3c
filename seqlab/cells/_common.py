"""Small helpers shared by the zoo cells: option checks, initialisation, activations."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab import validation


def check_number(owner: str, name: str, value: object, *, positive: bool = False) -> float:
    """``value`` as a float; ValueError naming ``owner`` and ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}.")
    if positive:
        validation.positive(f"{owner}: {name}", value, error=ValueError)
    return float(value)


def check_bool(owner: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: {name} must be True or False, got {value!r}.")
    return value


def check_choice(owner: str, name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{owner}: {name} must be one of {', '.join(choices)}, got {value!r}.")
    return str(value)


def uniform_(params: Iterable[Tensor | None], fan: int) -> None:
    """torch.nn's recurrent-cell initialisation: U(-1/√fan, 1/√fan) for each tensor given."""
    bound = 1.0 / math.sqrt(fan)
    with torch.no_grad():
        for p in params:
            if p is not None:
                nn.init.uniform_(p, -bound, bound)


def g(v: Tensor) -> Tensor:
    """Feng et al.'s positive activation: ``v + 1/2`` for v ≥ 0, ``σ(v)`` for v < 0.

    Continuous (both sides give 1/2 at 0), increasing and > 0, so states built from it stay
    positive and can live in log space.
    """
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


# The fused (no-autograd) versions below avoid boolean tensors: on the CPU build measured
# here torch.where and masked_fill with a bool mask ran 25-30x slower than a multiply of
# the same size, while a comparison written to a float tensor is as fast as a multiply.


def g_fused(v: Tensor, out: Tensor, tmp: Tensor) -> Tensor:
    """``g(v)`` into ``out`` as ``max(σ(v), v + 1/2)``: the same function (v + 1/2 ≥ σ(v)
    exactly when v ≥ 0), computed without a mask. ``tmp`` is scratch of the same shape."""
    torch.sigmoid(v, out=out)
    return torch.maximum(out, torch.add(v, 0.5, out=tmp), out=out)


def g_backward(grad: Tensor, v: Tensor, gv: Tensor, out: Tensor, tmp: Tensor) -> Tensor:
    """``grad ⊙ g'(v)`` into ``out`` from ``v`` and ``gv = g(v)``: 1 for v ≥ 0, σ'(v) below.

    ``tmp`` is scratch of the same shape; ``grad`` is left unchanged.
    """
    torch.ops.aten.sigmoid_backward.grad_input(grad, gv, grad_input=out)  # grad·σ'(v), v < 0
    step = torch.ge(v, 0.0, out=tmp)  # 1.0 where v ≥ 0 (as g's torch.where), else 0.0
    return torch.lerp(out, grad, step, out=out)


def log_g(v: Tensor) -> Tensor:
    """``log g(v)`` computed without forming ``g``: ``log(v + 1/2)`` or ``log σ(v)``."""
    return torch.where(v >= 0, torch.log(v.clamp(min=0.0) + 0.5), F.logsigmoid(v))
