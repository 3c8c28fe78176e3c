"""minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): normalised input-only gates."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.cells._common import g_backward, g_fused, log_g
from seqlab.cells._minimal import LinearRecurrentCell
from seqlab.cells._scan import Workspace
from seqlab.cells.base import State
from seqlab.cells.registry import register_cell


class _Gates:
    """minLSTM's ``a = f'``, ``b = i' ⊙ h̃`` per segment and their gradient (no autograd)."""

    def __init__(self, positive: bool) -> None:
        self.positive = positive

    def coefficients(self, proj: Tensor, ws: Workspace) -> tuple[Tensor, Tensor]:
        kf, ki, v = proj.chunk(3, -1)
        shape = kf.shape
        f = torch.sigmoid(kf, out=ws("f", *shape))
        i = torch.sigmoid(ki, out=ws("i", *shape))
        total = torch.add(f, i, out=ws("tmp", *shape))
        a = torch.div(f, total, out=ws("a", *shape))
        i_norm = torch.div(i, total, out=ws("i_norm", *shape))
        cand = g_fused(v, ws("cand", *shape), ws("tmp", *shape)) if self.positive else v
        b = torch.mul(i_norm, cand, out=ws("b", *shape))
        return a, b

    def backward(
        self, proj: Tensor, ws: Workspace, grad: Tensor, h_prev: Tensor, dproj: Tensor
    ) -> None:
        kf, _, v = proj.chunk(3, -1)
        shape = kf.shape
        f, i, a, i_norm = (ws(name, *shape) for name in ("f", "i", "a", "i_norm"))
        cand = ws("cand", *shape) if self.positive else v
        dkf, dki, dv = dproj.chunk(3, -1)
        # f' = σ(u), i' = 1 - f' with u = log f - log i: ∂L/∂u = grad (h_prev - h̃) f' i',
        # ∂u/∂k_f = 1 - f, ∂u/∂k_i = -(1 - i)
        du = torch.sub(h_prev, cand, out=ws("tmp", *shape)).mul_(grad).mul_(a).mul_(i_norm)
        torch.addcmul(du, du, f, value=-1.0, out=dkf)
        torch.mul(du, i, out=dki).sub_(du)
        dcand = torch.mul(grad, i_norm, out=ws("tmp", *shape))
        if self.positive:
            g_backward(dcand, v, cand, dv, ws("tmp2", *shape))
        else:
            dv.copy_(dcand)


@register_cell("minlstm")
class MinLSTM(LinearRecurrentCell):
    r"""Minimal LSTM: forget and input gates from the input only, normalised to sum to 1.

    Equations (σ the logistic sigmoid, ⊙ elementwise)::

        f_t = σ(W_f x_t + b_f)                  forget gate
        i_t = σ(W_i x_t + b_i)                  input gate
        h̃_t = g(W_h x_t + b_h)                  candidate
        f'_t = f_t / (f_t + i_t),   i'_t = i_t / (f_t + i_t)
        h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t
        g(v) = v + 1/2 (v ≥ 0),  σ(v) (v < 0)

    The normalisation makes ``f'_t + i'_t = 1``, so the scale of ``h_t`` does not grow with
    t (the paper's "time-independent" minLSTM). There is no separate cell state and no
    output gate: the state is ``h``. ``g`` is Feng et al.'s positive activation
    (``v + 1/2`` for v ≥ 0, ``σ(v)`` below), used by the paper's log-space version;
    ``activation="identity"`` gives the plain ``h̃_t = W_h x_t + b_h``.

    Linear in the state, so :meth:`forward_sequence` runs it as ``h_t = a_t h_{t-1} + b_t``
    (``a = f'``, ``b = i' ⊙ h̃``) without a step loop (see :mod:`seqlab.cells._scan`). In
    log space, as in the paper: ``d = log i - log f = softplus(-k_f) - softplus(-k_i)``,
    ``log f' = -softplus(d)``, ``log i' = -softplus(-d)``, ``log b = log i' + log g(v)``.
    The initial state enters as itself (not through ``log g`` as in the paper's
    listing), so a run split in two with the state carried equals one run.

    Shapes: ``x_t`` (B, I); state ``h`` (B, H); output ``h_t`` = the state, (B, H).
    Parameters: ``weight`` (3H, I) and ``bias`` (3H), rows stacked f, i, h̃.
    Parameter count: 3H(I + 1). Initialisation: torch.nn.Linear's, U(-1/√I, 1/√I).

    Options:
        activation: ``"g"`` (default) or ``"identity"`` for the candidate.
        scan: ``"auto"`` (default: ``"blocked"`` on CPU, ``"log"`` on CUDA), ``"blocked"``
            or ``"log"`` (needs ``activation="g"``); see :class:`seqlab.cells.mingru.MinGRU`.
            Measured with ``benchmarks/scan.py`` (2-core CPU, B=64, H=128, input 32,
            fwd+bwd, one thread, against stepping): blocked 1.61x faster at T=512 and
            1.6x at T=4096, log 0.35x and 0.13x; details in docs/cells.md. No GPU was
            available to measure the CUDA default.

    Reference: Feng, Tung, Ahmed, Bengio & Hajimirsadeghi, "Were RNNs All We Needed?",
    arXiv:2410.01201, 2024.
    """

    num_projections = 3
    gates_cls = _Gates
    reference: ClassVar[str] = "Feng et al. 2024"

    def _linear_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        kf, ki, v = F.linear(x, self.weight, self.bias).chunk(3, -1)
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)
        total = f + i
        return f / total, (i / total) * self._candidate(v)

    def _log_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        kf, ki, v = F.linear(x, self.weight, self.bias).chunk(3, -1)
        d = F.logsigmoid(ki) - F.logsigmoid(kf)  # log i - log f
        return F.logsigmoid(-d), log_g(v) + F.logsigmoid(d)

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        a, b = self._linear_coefficients(x_t)
        h = torch.addcmul(b, a, state)
        return h, h
