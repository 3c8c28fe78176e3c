"""Update-gate RNN, UGRNN (Collins, Sohl-Dickstein & Sussillo 2017)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.cells._common import uniform_
from seqlab.cells.base import Cell, State
from seqlab.cells.registry import register_cell


@register_cell("ugrnn")
class UGRNN(Cell):
    r"""An Elman RNN whose update is gated: a GRU without the reset gate.

    Equations (σ the logistic sigmoid, ⊙ elementwise)::

        c_t = tanh(W_cx x_t + W_ch h_{t-1} + b_c)         candidate
        g_t = σ(W_gx x_t + W_gh h_{t-1} + b_g)            update gate
        h_t = g_t ⊙ h_{t-1} + (1 - g_t) ⊙ c_t

    g_t → 1 keeps the state, g_t → 0 replaces it with the candidate. Collins et al. found
    it the most trainable of the cells they compared at equal parameter counts, with
    capacity (bits per parameter) similar to the others.

    Shapes: ``x_t`` (B, I); state ``h`` (B, H); output ``h_t`` = the state, (B, H).
    Parameters: ``weight_ih`` (2H, I), ``weight_hh`` (2H, H), ``bias`` (2H), rows stacked
    c, g. Parameter count: 2H(I + H) + 2H. Initialisation: U(-1/√H, 1/√H).

    Reference: Collins, Sohl-Dickstein & Sussillo, "Capacity and Trainability in Recurrent
    Neural Networks", ICLR 2017.
    """

    reference: ClassVar[str] = "Collins et al. 2017"

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
        pre = torch.addmm(F.linear(x_t, self.weight_ih, self.bias), state, self.weight_hh.t())
        c, g = pre.chunk(2, 1)
        h = torch.lerp(torch.tanh(c), state, torch.sigmoid(g))
        return h, h
