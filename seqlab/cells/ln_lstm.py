"""Layer-normalised LSTM (Ba, Kiros & Hinton 2016)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.cells._common import check_number, uniform_
from seqlab.cells.base import Cell, State
from seqlab.cells.registry import register_cell


@register_cell("ln_lstm")
class LayerNormLSTM(Cell):
    r"""LSTM with layer normalisation of the input and recurrent pre-activations and of c_t.

    Equations (Ba et al. 2016, §6 and appendix; σ the logistic sigmoid, ⊙ elementwise)::

        (i, f, g, o) = LN(W_h h_{t-1}; α1, β1) + LN(W_x x_t; α2, β2) + b
        c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)
        h_t = σ(o) ⊙ tanh(LN(c_t; α3, β3))

    with ``LN(v; α, β) = α ⊙ (v - μ(v)) / √(σ²(v) + ε) + β``, μ and σ² the mean and
    (biased) variance over the features of one sample. The input and recurrent products
    are normalised *separately*, each over all 4H gate pre-activations jointly, so their
    scales cannot drown each other; LN of c_t keeps the output's scale independent of how
    much the cell has accumulated. (The β's and b overlap — the paper keeps them all.)

    Shapes: ``x_t`` (B, I); state ``(h, c)`` each (B, H); output ``h_t`` (B, H).
    Parameters: ``weight_ih`` (4H, I) = W_x, ``weight_hh`` (4H, H) = W_h, ``bias`` (4H) = b,
    rows stacked i, f, g, o (the paper lists f, i, o, g; only the layout differs);
    ``ln_ih_weight``/``ln_ih_bias`` (4H) = α2/β2, ``ln_hh_weight``/``ln_hh_bias`` (4H) =
    α1/β1, ``ln_cell_weight``/``ln_cell_bias`` (H) = α3/β3.
    Parameter count: 4H(I + H) + 4H + 16H + 2H = 4H(I + H) + 22H.
    Initialisation: weights U(-1/√H, 1/√H); gains α = 1, LN biases β = 0; b = 0 except
    the forget slice, which is ``forget_bias``.

    Options:
        forget_bias: initial value of the forget-gate bias b_f (default 1.0, Jozefowicz
            et al. 2015).
        eps: ε of the layer norms (default 1e-5).

    Reference: Ba, Kiros & Hinton, "Layer Normalization", arXiv:1607.06450, 2016.
    """

    state_names = ("h", "c")
    reference: ClassVar[str] = "Ba et al. 2016"

    def __init__(
        self, input_size: int, hidden_size: int, forget_bias: float = 1.0, eps: float = 1e-5
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.forget_bias = check_number("LayerNormLSTM", "forget_bias", forget_bias)
        self.eps = check_number("LayerNormLSTM", "eps", eps, positive=True)
        h = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * h, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * h, h))
        self.bias = nn.Parameter(torch.empty(4 * h))
        self.ln_ih_weight = nn.Parameter(torch.empty(4 * h))
        self.ln_ih_bias = nn.Parameter(torch.empty(4 * h))
        self.ln_hh_weight = nn.Parameter(torch.empty(4 * h))
        self.ln_hh_bias = nn.Parameter(torch.empty(4 * h))
        self.ln_cell_weight = nn.Parameter(torch.empty(h))
        self.ln_cell_bias = nn.Parameter(torch.empty(h))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform_([self.weight_ih, self.weight_hh], self.hidden_size)
        with torch.no_grad():
            for gain in (self.ln_ih_weight, self.ln_hh_weight, self.ln_cell_weight):
                gain.fill_(1.0)
            for shift in (self.ln_ih_bias, self.ln_hh_bias, self.ln_cell_bias, self.bias):
                shift.zero_()
            self.bias[self.hidden_size : 2 * self.hidden_size].fill_(self.forget_bias)

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        h, c = state
        size = (4 * self.hidden_size,)
        gates = (
            F.layer_norm(
                F.linear(h, self.weight_hh), size, self.ln_hh_weight, self.ln_hh_bias, self.eps
            )
            + F.layer_norm(
                F.linear(x_t, self.weight_ih), size, self.ln_ih_weight, self.ln_ih_bias, self.eps
            )
            + self.bias
        )
        i, f, g, o = gates.chunk(4, 1)
        c = torch.addcmul(torch.sigmoid(f) * c, torch.sigmoid(i), torch.tanh(g))
        c_norm = F.layer_norm(
            c, (self.hidden_size,), self.ln_cell_weight, self.ln_cell_bias, self.eps
        )
        h = torch.sigmoid(o) * torch.tanh(c_norm)
        return h, (h, c)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, forget_bias={self.forget_bias}, eps={self.eps}"
        )
