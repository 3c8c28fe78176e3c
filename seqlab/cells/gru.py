"""Gated recurrent unit (Cho et al. 2014), in torch.nn's form or the original one."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.cells._torch_compat import TorchCompatibleCell
from seqlab.cells.base import State
from seqlab.cells.registry import register_cell


@register_cell("gru")
class GRU(TorchCompatibleCell):
    r"""Gated recurrent unit; with ``reset_after=True`` identical to ``torch.nn.GRUCell``.

    Equations (torch.nn / cuDNN form, ``reset_after=True``)::

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)          reset gate
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)          update gate
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))  candidate
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    Cho et al. (2014) apply the reset gate *before* the recurrent product
    (``reset_after=False``)::

        n_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t-1}) + b_hn)

    The two differ only in where r_t enters; the torch form lets the recurrent product
    of all three gates be one matrix multiply, which is why cuDNN and torch.nn use it.
    Note the update gate *does* forget: z_t → 0 overwrites the state with n_t. (Cho et
    al. write h_t = z_t ⊙ h_{t-1} + (1 - z_t) ⊙ h̃_t with the roles named the same way.)

    Shapes: ``x_t`` (B, I); state ``h`` (B, H); output ``h_t`` (B, H).
    Parameters: ``weight_ih`` (3H, I), ``weight_hh`` (3H, H), ``bias_ih``/``bias_hh`` (3H),
    gates stacked r, z, n (torch.nn's layout). Parameter count: 3H(I + H) + 6H with biases.

    Options:
        bias: learn the biases (default True).
        reset_after: torch/cuDNN form (True, default, fused kernels) or Cho et al.'s
            original form (False, stepped).

    Reference: Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for
    Statistical Machine Translation", EMNLP 2014.
    """

    num_gates = 3
    fused_fn = torch.gru
    reference: ClassVar[str] = "Cho et al. 2014"
    equations: ClassVar[str] = (
        "r,z = σ(W_i x_t + b_i + W_h h_{t-1} + b_h)\n"
        "n_t = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))\n"
        "h_t = (1 - z) ⊙ n_t + z ⊙ h_{t-1}"
    )

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = True
    ) -> None:
        if not isinstance(reset_after, bool):
            raise ValueError(f"GRU: reset_after must be True or False, got {reset_after!r}.")
        self.reset_after = reset_after
        super().__init__(input_size, hidden_size, bias)

    @property
    def fused_available(self) -> bool:
        return self.reset_after

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        if self.reset_after:
            h = torch.gru_cell(
                x_t, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
            )
            return h, h
        gi = F.linear(x_t, self.weight_ih, self.bias_ih)
        i_r, i_z, i_n = gi.chunk(3, 1)
        w_hr, w_hz, w_hn = self.weight_hh.chunk(3, 0)
        b_hr, b_hz, b_hn = self.bias_hh.chunk(3, 0) if self.bias else (None, None, None)
        r = torch.sigmoid(i_r + F.linear(state, w_hr, b_hr))
        z = torch.sigmoid(i_z + F.linear(state, w_hz, b_hz))
        n = torch.tanh(i_n + F.linear(r * state, w_hn, b_hn))
        h = torch.lerp(n, state, z)
        return h, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}, reset_after={self.reset_after}"
