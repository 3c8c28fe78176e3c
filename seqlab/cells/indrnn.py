"""Independently recurrent neural network, IndRNN (Li, Li, Cook, Zhu & Gao 2018)."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.cells._common import check_choice, check_number, uniform_
from seqlab.cells.base import Cell, State
from seqlab.cells.registry import register_cell

ACTIVATIONS = ("relu", "tanh")


@register_cell("indrnn")
class IndRNN(Cell):
    r"""An RNN whose recurrent weight is a vector: each unit sees only its own past.

    Equation (⊙ elementwise, φ = ReLU or tanh)::

        h_t = φ(W x_t + u ⊙ h_{t-1} + b)

    Units interact only through the next layer's input weights (stack layers, e.g.
    ``seqlab.Recurrent(..., num_layers=2)``). With ReLU the gradient through T steps of
    one active unit is ``u^T``, so Li et al. keep |u| in ``[ε^{1/T}, γ^{1/T}]`` (§3.1)
    to stop it vanishing below ε or exploding above γ; their experiments bound |u| by
    ``2^{1/T}`` (γ = 2) and initialise u uniformly in [0, 1].

    Shapes: ``x_t`` (B, I); state ``h`` (B, H); output ``h_t`` = the state, (B, H).
    Parameters: ``weight_ih`` (H, I) = W, ``weight_hh`` (H) = u, ``bias`` (H) = b.
    Parameter count: H·I + 2H. Initialisation: W ~ U(-1/√I, 1/√I) (torch.nn.Linear's),
    u ~ U(recurrent_init_min, recurrent_init_max), b = 0.

    Options:
        activation: ``"relu"`` (default, the paper's) or ``"tanh"``.
        recurrent_init_min: lower end of u's uniform initialisation (default 0, as in
            the paper). For long memory Li et al. start units near 1, e.g.
            ``recurrent_init_min = 0.5 ** (1 / T)``.
        recurrent_init_max: upper end of u's uniform initialisation (default 1).
        recurrent_max_abs: the constraint |u| ≤ recurrent_max_abs, applied in every
            forward by clipping (the gradient is zero where u is clipped); None (default)
            leaves u free. The paper's choice for sequences of length T is
            ``2 ** (1 / T)``.

    Reference: Li, Li, Cook, Zhu & Gao, "Independently Recurrent Neural Network (IndRNN):
    Building a Longer and Deeper RNN", CVPR 2018.
    """

    reference: ClassVar[str] = "Li et al. 2018"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        activation: Literal["relu", "tanh"] = "relu",
        recurrent_init_min: float = 0.0,
        recurrent_init_max: float = 1.0,
        recurrent_max_abs: float | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.activation = check_choice("IndRNN", "activation", activation, ACTIVATIONS)
        self.recurrent_init_min = check_number("IndRNN", "recurrent_init_min", recurrent_init_min)
        self.recurrent_init_max = check_number("IndRNN", "recurrent_init_max", recurrent_init_max)
        if self.recurrent_init_min > self.recurrent_init_max:
            raise ValueError(
                f"IndRNN: recurrent_init_min ({recurrent_init_min}) must not exceed "
                f"recurrent_init_max ({recurrent_init_max})."
            )
        self.recurrent_max_abs = (
            None
            if recurrent_max_abs is None
            else check_number("IndRNN", "recurrent_max_abs", recurrent_max_abs, positive=True)
        )
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size))
        self._act = torch.relu if activation == "relu" else torch.tanh
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform_([self.weight_ih], self.input_size)
        with torch.no_grad():
            self.weight_hh.uniform_(self.recurrent_init_min, self.recurrent_init_max)
            self.bias.zero_()

    def recurrent_weight(self) -> Tensor:
        """u as used in the forward pass: clipped to ±recurrent_max_abs when that is set."""
        if self.recurrent_max_abs is None:
            return self.weight_hh
        return self.weight_hh.clamp(-self.recurrent_max_abs, self.recurrent_max_abs)

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        h = self._act(
            torch.addcmul(F.linear(x_t, self.weight_ih, self.bias), self.recurrent_weight(), state)
        )
        return h, h

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, activation={self.activation!r}, "
            f"recurrent_init=[{self.recurrent_init_min}, {self.recurrent_init_max}], "
            f"recurrent_max_abs={self.recurrent_max_abs}"
        )
