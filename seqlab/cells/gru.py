"""Gated recurrent unit (Cho et al. 2014), in torch.nn's form or the original one."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.cells._torch_compat import TorchCompatibleCell
from seqlab.cells.base import State
from seqlab.cells.lengths import length_mask
from seqlab.cells.registry import register_cell


@register_cell("gru")
class GRU(TorchCompatibleCell):
    r"""Gated recurrent unit; with ``reset_after=True`` identical to ``torch.nn.GRUCell``.

    Equations (torch.nn / cuDNN form, ``reset_after=True``; r and z are step t's gates)::

        r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)            reset gate
        z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)            update gate
        n_t = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))  candidate
        h_t = (1 - z) ⊙ n_t + z ⊙ h_{t-1}

    Cho et al. (2014) apply the reset gate *before* the recurrent product
    (``reset_after=False``)::

        n_t = tanh(W_in x_t + b_in + W_hn (r ⊙ h_{t-1}) + b_hn)

    The two differ only in where r enters; the torch form lets the recurrent product
    of all three gates be one matrix multiply, which is why cuDNN and torch.nn use it.
    Note the update gate *does* forget: z → 0 overwrites the state with n_t. (Cho et
    al. write h_t = z_t ⊙ h_{t-1} + (1 - z_t) ⊙ h̃_t with the roles named the same way.)

    Shapes: ``x_t`` (B, I); state ``h`` (B, H); output ``h_t`` (B, H).
    Parameters: ``weight_ih`` (3H, I), ``weight_hh`` (3H, H), ``bias_ih``/``bias_hh`` (3H),
    gates stacked r, z, n (torch.nn's layout). Parameter count: 3H(I + H) + 6H with biases.

    Options:
        bias: learn the biases (default True).
        reset_after: torch/cuDNN form (True, default, fused kernels) or Cho et al.'s
            original form (False: no fused kernel; ``forward_sequence`` makes the input
            products of all steps one matrix multiply and steps the recurrence).

    Reference: Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for
    Statistical Machine Translation", EMNLP 2014.
    """

    num_gates = 3
    fused_fn = torch.gru
    reference: ClassVar[str] = "Cho et al. 2014"

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
        h = self._cho_step(F.linear(x_t, self.weight_ih, self.bias_ih), state)
        return h, h

    def _cho_step(self, gi: Tensor, state: Tensor) -> Tensor:
        """One step of Cho et al.'s form from ``gi = W_i x_t + b_i`` (B, 3H) and h_{t-1}."""
        i_r, i_z, i_n = gi.chunk(3, 1)
        w_hr, w_hz, w_hn = self.weight_hh.chunk(3, 0)
        b_hr, b_hz, b_hn = self.bias_hh.chunk(3, 0) if self.bias else (None, None, None)
        r = torch.sigmoid(i_r + F.linear(state, w_hr, b_hr))
        z = torch.sigmoid(i_z + F.linear(state, w_hz, b_hz))
        n = torch.tanh(i_n + F.linear(r * state, w_hn, b_hn))
        return torch.lerp(n, state, z)

    def forward_sequence(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        """The whole sequence ``x`` (B, T, I): outputs (B, T, H) and the final state (B, H).

        ``reset_after=True`` runs torch's fused kernel. Cho et al.'s form has none: the
        input products of all steps are one matrix multiply, then the recurrence runs
        step by step. With ``lengths``, outputs past each end are zero and the state is
        the one at each sequence's last valid step.
        """
        if self.reset_after:
            return super().forward_sequence(x, state, lengths)
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        batch, steps = x.shape[0], x.shape[1]
        if steps == 0:
            return x.new_zeros(batch, 0, self.hidden_size), state
        # unbind (not gi[:, t]) keeps backward linear in T
        gi = F.linear(x, self.weight_ih, self.bias_ih).unbind(1)
        masks = (
            length_mask(lengths.to(x.device), steps).unsqueeze(2).unbind(1)
            if lengths is not None
            else None
        )
        h, outputs = state, []
        for t in range(steps):
            new = self._cho_step(gi[t], h)
            if masks is not None:
                new, out = torch.where(masks[t], new, h), new * masks[t]
            else:
                out = new
            h = new
            outputs.append(out)
        return torch.stack(outputs, 1), h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}, reset_after={self.reset_after}"
