"""Minimal gated unit, MGU (Zhou, Wu, Zhang & Zhou 2016)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.cells._common import uniform_
from seqlab.cells.base import Cell, State
from seqlab.cells.registry import register_cell


@register_cell("mgu")
class MGU(Cell):
    r"""A GRU with one gate: the forget gate also plays the reset gate's part.

    Equations (σ the logistic sigmoid, ⊙ elementwise)::

        f_t = σ(W_f x_t + U_f h_{t-1} + b_f)                 forget gate
        h̃_t = tanh(W_h x_t + U_h (f_t ⊙ h_{t-1}) + b_h)      candidate
        h_t = (1 - f_t) ⊙ h_{t-1} + f_t ⊙ h̃_t

    Zhou et al. write the gate's input as the concatenation ``W_f [h_{t-1}, x_t]``; splitting
    that matrix into W_f (on x) and U_f (on h) is the same thing. f_t gates the old state
    into the candidate (the reset role) and mixes old state and candidate (the update
    role): a large f_t forgets.

    Shapes: ``x_t`` (B, I); state ``h`` (B, H); output ``h_t`` = the state, (B, H).
    Parameters: ``weight_ih`` (2H, I), ``weight_hh`` (2H, H), ``bias`` (2H), rows stacked
    f, h̃. Parameter count: 2H(I + H) + 2H (two thirds of a GRU's). Initialisation:
    U(-1/√H, 1/√H).

    Reference: Zhou, Wu, Zhang & Zhou, "Minimal Gated Unit for Recurrent Neural Networks",
    International Journal of Automation and Computing 2016 (arXiv:1603.09420).
    """

    reference: ClassVar[str] = "Zhou et al. 2016"

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        h = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(2 * h, input_size))
        self.weight_hh = nn.Parameter(torch.empty(2 * h, h))
        self.bias = nn.Parameter(torch.empty(2 * h))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform_(self.parameters(), self.hidden_size)

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        xf, xh = F.linear(x_t, self.weight_ih, self.bias).chunk(2, 1)
        # chunk, not two slices: its backward writes both halves' gradients in one cat
        u_f, u_h = self.weight_hh.chunk(2, 0)
        f = torch.sigmoid(torch.addmm(xf, state, u_f.t()))
        cand = torch.tanh(torch.addmm(xh, f * state, u_h.t()))
        new = torch.lerp(state, cand, f)
        return new, new
