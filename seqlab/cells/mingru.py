"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?"): a GRU whose gates ignore the state."""

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
    """minGRU's ``a = 1 - z``, ``b = z ⊙ h̃`` per segment and their gradient (no autograd)."""

    def __init__(self, positive: bool) -> None:
        self.positive = positive

    def coefficients(self, proj: Tensor, ws: Workspace) -> tuple[Tensor, Tensor]:
        k, v = proj.chunk(2, -1)
        shape = k.shape
        z = torch.sigmoid(k, out=ws("z", *shape))
        a = torch.sub(z.new_ones(()), z, out=ws("a", *shape))
        cand = g_fused(v, ws("cand", *shape), ws("tmp", *shape)) if self.positive else v
        b = torch.mul(z, cand, out=ws("b", *shape))
        return a, b

    def backward(
        self, proj: Tensor, ws: Workspace, grad: Tensor, h_prev: Tensor, dproj: Tensor
    ) -> None:
        k, v = proj.chunk(2, -1)
        shape = k.shape
        z, cand = ws("z", *shape), (ws("cand", *shape) if self.positive else v)
        dk, dv = dproj.chunk(2, -1)
        # h = h_prev + z (h̃ - h_prev): ∂h/∂z = h̃ - h_prev, ∂h/∂h̃ = z
        dz = torch.sub(cand, h_prev, out=ws("tmp", *shape)).mul_(grad)
        torch.ops.aten.sigmoid_backward.grad_input(dz, z, grad_input=dk)
        dcand = torch.mul(grad, z, out=ws("tmp", *shape))
        if self.positive:
            g_backward(dcand, v, cand, dv, ws("tmp2", *shape))
        else:
            dv.copy_(dcand)


@register_cell("mingru")
class MinGRU(LinearRecurrentCell):
    r"""Minimal GRU: gate and candidate depend on the input only, so the update is linear.

    Equations (σ the logistic sigmoid, ⊙ elementwise)::

        z_t = σ(W_z x_t + b_z)                  update gate
        h̃_t = g(W_h x_t + b_h)                  candidate
        h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t
        g(v) = v + 1/2 (v ≥ 0),  σ(v) (v < 0)

    with Feng et al.'s activation g (positive, continuous), which the paper uses in its
    log-space version so that every state from a non-negative start stays positive. ``activation="identity"`` gives the plain
    ``h̃_t = W_h x_t + b_h`` of the paper's Section 3.1.

    As a recurrence ``h_t = a_t ⊙ h_{t-1} + b_t`` with ``a_t = 1 - z_t`` and
    ``b_t = z_t ⊙ h̃_t`` known for all t in advance, so :meth:`forward_sequence` runs it
    with no step loop (see :mod:`seqlab.cells._scan`). In log space
    (``log a_t = log σ(-k_t)``, ``log b_t = log σ(k_t) + log g(v_t)``) it is the
    paper's parallel scan. Unlike the paper's listing, which takes ``log g(h_0)``, the
    initial state enters as itself, so running a sequence in two pieces with the state
    carried equals one run (and may be negative).

    Shapes: ``x_t`` (B, I); state ``h`` (B, H); output ``h_t`` = the state, (B, H).
    Parameters: ``weight`` (2H, I) and ``bias`` (2H), rows stacked z, h̃ (the paper's two
    ``Linear`` layers in one). Parameter count: 2H(I + 1). Initialisation: torch.nn.Linear's,
    U(-1/√I, 1/√I).

    Options:
        activation: ``"g"`` (default) or ``"identity"`` for the candidate.
        scan: how :meth:`forward_sequence` runs the recurrence — ``"auto"`` (default:
            ``"blocked"`` on CPU, ``"log"`` on CUDA), ``"blocked"`` (exact blocked scan in
            linear space, any sign) or ``"log"`` (the paper's log-space scan; needs
            ``activation="g"``). Measured with ``benchmarks/scan.py`` on the project's
            2-core CPU (B=64, H=128, input 32, fwd+bwd, one thread, against stepping the
            same cell through ``seqlab.unroll.unroll``): blocked 1.55x faster at T=512
            and 1.73x at T=4096; log 0.13x and 0.09x (float64 logcumsumexp), hence
            blocked on CPU. Details in docs/cells.md, "Speed of the scans". The CUDA
            default follows the paper; no GPU was available to measure it.

    Reference: Feng, Tung, Ahmed, Bengio & Hajimirsadeghi, "Were RNNs All We Needed?",
    arXiv:2410.01201, 2024.
    """

    num_projections = 2
    gates_cls = _Gates
    reference: ClassVar[str] = "Feng et al. 2024"

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        k, v = F.linear(x_t, self.weight, self.bias).chunk(2, -1)
        h = torch.lerp(state, self._candidate(v), torch.sigmoid(k))
        return h, h

    def _log_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k, v = F.linear(x, self.weight, self.bias).chunk(2, -1)
        return F.logsigmoid(-k), log_g(v) + F.logsigmoid(k)
