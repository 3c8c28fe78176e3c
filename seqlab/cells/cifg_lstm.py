"""LSTM with coupled input and forget gates, CIFG (Greff et al. 2015)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.cells._common import check_bool, check_number, uniform_
from seqlab.cells.base import Cell, State
from seqlab.cells.registry import register_cell


@register_cell("cifg_lstm")
class CIFGLSTM(Cell):
    r"""LSTM whose input gate is one minus the forget gate: what is forgotten is replaced.

    Equations (σ the logistic sigmoid, ⊙ elementwise; the peephole terms are present
    with ``peepholes=True``, the default)::

        f_t = σ(W_f x_t + U_f h_{t-1} + p_f ⊙ c_{t-1} + b_f)     forget gate
        i_t = 1 - f_t                                            coupled input gate
        g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)                  candidate
        c_t = f_t ⊙ c_{t-1} + (1 - f_t) ⊙ g_t
        o_t = σ(W_o x_t + U_o h_{t-1} + p_o ⊙ c_t + b_o)         output gate
        h_t = o_t ⊙ tanh(c_t)

    Greff et al.'s CIFG is their "vanilla" LSTM (which has peepholes) with the input gate
    coupled to the forget gate; they write ``f_t = 1 - i_t``. Here the forget gate is the
    one with weights (so that ``forget_bias`` acts on it directly) and ``i_t = 1 - f_t``:
    the same family of functions, one gate fewer than the LSTM (about 25% fewer
    weights). Greff et al. found it performs on par with the vanilla LSTM.

    Shapes: ``x_t`` (B, I); state ``(h, c)`` each (B, H); output ``h_t`` (B, H).
    Parameters: ``weight_ih`` (3H, I), ``weight_hh`` (3H, H), ``bias`` (3H), rows stacked
    f, g, o; with peepholes ``peephole_f`` and ``peephole_o`` (H).
    Parameter count: 3H(I + H) + 3H, plus 2H with peepholes. Initialisation: every tensor
    U(-1/√H, 1/√H).

    Options:
        forget_bias: added to the forget-gate bias after initialisation (default 1.0,
            Jozefowicz et al. 2015; 0 keeps the uniform initialisation).
        peepholes: diagonal peephole weights p_f (on c_{t-1}) and p_o (on c_t), as in
            Greff et al.'s vanilla LSTM (default True); False gives the coupled LSTM
            without peepholes.

    Reference: Greff, Srivastava, Koutník, Steunebrink & Schmidhuber, "LSTM: A Search
    Space Odyssey", IEEE TNNLS 2017 (arXiv:1503.04069, 2015).
    """

    state_names = ("h", "c")
    reference: ClassVar[str] = "Greff et al. 2015"

    def __init__(
        self, input_size: int, hidden_size: int, forget_bias: float = 1.0, peepholes: bool = True
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.forget_bias = check_number("CIFGLSTM", "forget_bias", forget_bias)
        self.peepholes = check_bool("CIFGLSTM", "peepholes", peepholes)
        h = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * h, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * h, h))
        self.bias = nn.Parameter(torch.empty(3 * h))
        if peepholes:
            self.peephole_f = nn.Parameter(torch.empty(h))
            self.peephole_o = nn.Parameter(torch.empty(h))
        else:
            self.register_parameter("peephole_f", None)
            self.register_parameter("peephole_o", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform_(self.parameters(), self.hidden_size)
        with torch.no_grad():
            self.bias[: self.hidden_size].add_(self.forget_bias)

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        h, c = state
        gates = torch.addmm(F.linear(x_t, self.weight_ih, self.bias), h, self.weight_hh.t())
        f, g, o = gates.chunk(3, 1)
        if self.peepholes:
            f = torch.addcmul(f, self.peephole_f, c)
        c = torch.lerp(torch.tanh(g), c, torch.sigmoid(f))  # f c + (1 - f) g
        if self.peepholes:
            o = torch.addcmul(o, self.peephole_o, c)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, forget_bias={self.forget_bias}, "
            f"peepholes={self.peepholes}"
        )
