"""Layer-normalised GRU (Ba, Kiros & Hinton 2016)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.cells._common import check_number, uniform_
from seqlab.cells.base import Cell, State
from seqlab.cells.registry import register_cell


@register_cell("ln_gru")
class LayerNormGRU(Cell):
    r"""GRU with layer normalisation of the input and recurrent pre-activations.

    Equations (Ba et al. 2016, appendix, "layer normalized GRU"; σ the logistic sigmoid,
    ⊙ elementwise)::

        (z, r) = LN(W_h h_{t-1}; α1, β1) + LN(W_x x_t; α2, β2)
        ĥ_t = tanh(LN(W x_t; α3, β3) + σ(r) ⊙ LN(U h_{t-1}; α4, β4))
        h_t = (1 - σ(z)) ⊙ h_{t-1} + σ(z) ⊙ ĥ_t

    with ``LN(v; α, β) = α ⊙ (v - μ(v)) / √(σ²(v) + ε) + β`` over the features of one
    sample; the two gates are normalised jointly (2H features), the candidate's two terms
    separately (H each). The reset gate multiplies the normalised recurrent term, i.e.
    it is applied after the matrix product (cuDNN's placement). In this paper's
    convention σ(z) is the share of the *new* candidate; torch.nn's GRU writes the same
    update with z and 1 - z swapped. Either way the GRU forgets: σ(z) → 1 overwrites
    the state.

    The β's act as the biases; there is no separate bias vector.

    Shapes: ``x_t`` (B, I); state ``h`` (B, H); output ``h_t`` = the state, (B, H).
    Parameters: ``weight_ih`` (3H, I) rows z, r (= W_x) then the candidate's W;
    ``weight_hh`` (3H, H) rows z, r (= W_h) then U; ``ln_ih_gates_*``/``ln_hh_gates_*``
    (2H) = α2, β2 / α1, β1; ``ln_ih_cand_*``/``ln_hh_cand_*`` (H) = α3, β3 / α4, β4
    (``_weight`` the gain, ``_bias`` the shift).
    Parameter count: 3H(I + H) + 12H. Initialisation: weights U(-1/√H, 1/√H), gains 1,
    shifts 0.

    Options:
        eps: ε of the layer norms (default 1e-5).

    Reference: Ba, Kiros & Hinton, "Layer Normalization", arXiv:1607.06450, 2016.
    """

    reference: ClassVar[str] = "Ba et al. 2016"

    def __init__(self, input_size: int, hidden_size: int, eps: float = 1e-5) -> None:
        super().__init__(input_size, hidden_size)
        self.eps = check_number("LayerNormGRU", "eps", eps, positive=True)
        h = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * h, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * h, h))
        for side in ("ih", "hh"):
            for part, width in (("gates", 2 * h), ("cand", h)):
                self.register_parameter(
                    f"ln_{side}_{part}_weight", nn.Parameter(torch.empty(width))
                )
                self.register_parameter(f"ln_{side}_{part}_bias", nn.Parameter(torch.empty(width)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform_([self.weight_ih, self.weight_hh], self.hidden_size)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.startswith("ln_"):
                    p.fill_(1.0 if name.endswith("_weight") else 0.0)

    def _ln(self, v: Tensor, side: str, part: str) -> Tensor:
        weight = getattr(self, f"ln_{side}_{part}_weight")
        return F.layer_norm(
            v, weight.shape, weight, getattr(self, f"ln_{side}_{part}_bias"), self.eps
        )

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        two = 2 * self.hidden_size
        xw = F.linear(x_t, self.weight_ih)
        hw = F.linear(state, self.weight_hh)
        gates = self._ln(hw[:, :two], "hh", "gates") + self._ln(xw[:, :two], "ih", "gates")
        z, r = gates.chunk(2, 1)
        cand = torch.tanh(
            torch.addcmul(
                self._ln(xw[:, two:], "ih", "cand"),
                torch.sigmoid(r),
                self._ln(hw[:, two:], "hh", "cand"),
            )
        )
        h = torch.lerp(state, cand, torch.sigmoid(z))
        return h, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, eps={self.eps}"
