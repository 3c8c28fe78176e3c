"""JANET: "Just Another NETwork", an LSTM with only a forget gate.

Reference: J. van der Westhuizen and J. Lasenby, "The unreasonable effectiveness of the
forget gate", arXiv:1804.04849, 2018.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class JANET(nn.Module):
    r"""JANET cell, following seqlab's cell contract without importing seqlab.

    Equations (σ the logistic sigmoid, β a fixed shift, 1 in the paper)::

        s_t  = W_f x_t + U_f h_{t-1} + b_f
        c̃_t  = tanh(W_c x_t + U_c h_{t-1} + b_c)
        c_t  = σ(s_t) ⊙ c_{t-1} + (1 - σ(s_t - β)) ⊙ c̃_t
        h_t  = c_t

    Shapes: ``x_t`` (B, I); state ``h`` (B, H); output (B, H).
    Parameters: ``weight_ih`` (2H, I), ``weight_hh`` (2H, H), ``bias`` (2H), gates stacked
    [f, c]. Parameter count 2H(I + H) + 2H. The forget bias is initialised chrono-style,
    b_f = log(U[1, T_max - 1]) (Tallec & Ollivier 2018), as the paper recommends.
    """

    reference = "van der Westhuizen & Lasenby 2018"

    def __init__(
        self, input_size: int, hidden_size: int, beta: float = 1.0, t_max: int = 100
    ) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError("JANET: input_size and hidden_size must be positive.")
        if t_max < 2:
            raise ValueError(f"JANET: t_max must be at least 2, got {t_max}.")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.beta = float(beta)
        self.t_max = int(t_max)
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(2 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight_ih)
        nn.init.orthogonal_(self.weight_hh)
        with torch.no_grad():
            h = self.hidden_size
            self.bias[h:].zero_()
            self.bias[:h].uniform_(1.0, self.t_max - 1.0).log_()

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        return torch.zeros(
            batch_size,
            self.hidden_size,
            device=device if device is not None else self.weight_ih.device,
            dtype=dtype if dtype is not None else self.weight_ih.dtype,
        )

    def forward(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        gates = F.linear(x_t, self.weight_ih, self.bias) + F.linear(state, self.weight_hh)
        s, c_in = gates.chunk(2, 1)
        c = torch.sigmoid(s) * state + (1.0 - torch.sigmoid(s - self.beta)) * torch.tanh(c_in)
        return c, c

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, beta={self.beta}, t_max={self.t_max}"
