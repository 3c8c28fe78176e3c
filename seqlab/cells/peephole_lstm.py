"""LSTM with peephole connections (Gers & Schmidhuber 2000)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.cells._common import check_number, uniform_
from seqlab.cells.base import Cell, State
from seqlab.cells.registry import register_cell


@register_cell("peephole_lstm")
class PeepholeLSTM(Cell):
    r"""LSTM whose gates also see the cell state through diagonal "peephole" weights.

    Equations (σ the logistic sigmoid, ⊙ elementwise)::

        i_t = σ(W_i x_t + U_i h_{t-1} + p_i ⊙ c_{t-1} + b_i)     input gate
        f_t = σ(W_f x_t + U_f h_{t-1} + p_f ⊙ c_{t-1} + b_f)     forget gate
        g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)                  candidate
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        o_t = σ(W_o x_t + U_o h_{t-1} + p_o ⊙ c_t + b_o)         output gate
        h_t = o_t ⊙ tanh(c_t)

    The input and forget gates peek at the previous cell state c_{t-1}; the output gate
    peeks at the *new* cell state c_t, which is why it is computed after c_t. Peephole
    weights are vectors (diagonal matrices), as in Gers & Schmidhuber.

    Shapes: ``x_t`` (B, I); state ``(h, c)`` each (B, H); output ``h_t`` (B, H).
    Parameters: ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), ``bias`` (4H), rows stacked
    i, f, g, o (torch.nn's order); ``peephole_i``, ``peephole_f``, ``peephole_o`` (H).
    Parameter count: 4H(I + H) + 4H + 3H. One bias per gate (torch.nn's two biases per
    gate are redundant). Initialisation: every tensor U(-1/√H, 1/√H) as in torch.nn.

    Options:
        forget_bias: added to the forget-gate bias after initialisation (default 1.0,
            Jozefowicz et al. 2015; 0 keeps the plain uniform initialisation). An initial
            value, learned afterwards.

    Reference: Gers & Schmidhuber, "Recurrent Nets that Time and Count", IJCNN 2000;
    Gers, Schraudolph & Schmidhuber, "Learning Precise Timing with LSTM Recurrent
    Networks", JMLR 2002.
    """

    state_names = ("h", "c")
    reference: ClassVar[str] = "Gers & Schmidhuber 2000"

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 1.0) -> None:
        super().__init__(input_size, hidden_size)
        self.forget_bias = check_number("PeepholeLSTM", "forget_bias", forget_bias)
        h = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * h, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * h, h))
        self.bias = nn.Parameter(torch.empty(4 * h))
        self.peephole_i = nn.Parameter(torch.empty(h))
        self.peephole_f = nn.Parameter(torch.empty(h))
        self.peephole_o = nn.Parameter(torch.empty(h))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform_(self.parameters(), self.hidden_size)
        with torch.no_grad():
            self.bias[self.hidden_size : 2 * self.hidden_size].add_(self.forget_bias)

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        h, c = state
        gates = torch.addmm(F.linear(x_t, self.weight_ih, self.bias), h, self.weight_hh.t())
        i, f, g, o = gates.chunk(4, 1)
        i = torch.sigmoid(torch.addcmul(i, self.peephole_i, c))
        f = torch.sigmoid(torch.addcmul(f, self.peephole_f, c))
        c = torch.addcmul(f * c, i, torch.tanh(g))
        o = torch.sigmoid(torch.addcmul(o, self.peephole_o, c))
        h = o * torch.tanh(c)
        return h, (h, c)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, forget_bias={self.forget_bias}"
