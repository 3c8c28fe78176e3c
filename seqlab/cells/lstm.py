"""LSTM with a forget gate (Hochreiter & Schmidhuber 1997; Gers, Schmidhuber & Cummins 2000)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.cells._torch_compat import TorchCompatibleCell
from seqlab.cells.base import State, like_state, state_tensors
from seqlab.cells.registry import register_cell


@register_cell("lstm")
class LSTM(TorchCompatibleCell):
    r"""Long short-term memory cell, numerically identical to ``torch.nn.LSTMCell``.

    Equations (σ the logistic sigmoid, ⊙ elementwise product)::

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      input gate
        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)      forget gate
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)   candidate cell
        o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)      output gate
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)

    Shapes: ``x_t`` (B, I); state ``(h, c)`` each (B, H); output ``h_t`` (B, H).
    Parameters: ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), ``bias_ih`` and ``bias_hh``
    (4H), gates stacked in the order i, f, g, o (torch.nn's layout).
    Parameter count: 4H(I + H) + 8H with biases.

    Options:
        bias: learn the biases (default True).
        forget_bias: added to ``bias_hh``'s forget-gate slice after torch.nn's uniform
            initialisation, so the cell starts by remembering (Jozefowicz et al. 2015,
            Gers et al. 2000). Default 1.0; 0 reproduces torch.nn's initialisation exactly
            (same parameters under the same seed). It is an initial value, not a constant
            in the forward pass, so the fused kernels stay usable.

    Gers et al. 2000 added the forget gate to Hochreiter & Schmidhuber's 1997 LSTM; this
    is the form every framework calls "LSTM". Reference: Hochreiter & Schmidhuber,
    "Long Short-Term Memory", Neural Computation 1997; Gers, Schmidhuber & Cummins,
    "Learning to Forget", Neural Computation 2000.
    """

    state_names = ("h", "c")
    num_gates = 4
    fused_fn = torch.lstm
    reference: ClassVar[str] = "Hochreiter & Schmidhuber 1997; Gers et al. 2000"

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, forget_bias: float = 1.0
    ) -> None:
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, int | float):
            raise ValueError(f"LSTM: forget_bias must be a number, got {forget_bias!r}.")
        self.forget_bias = float(forget_bias)
        super().__init__(input_size, hidden_size, bias)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.bias and self.forget_bias != 0.0:
            h = self.hidden_size
            with torch.no_grad():
                self.bias_hh[h : 2 * h].add_(self.forget_bias)

    def _final_state(
        self, x: Tensor, state: State, out: Tensor, valid: Tensor, h_last: Tensor
    ) -> State:
        """``(h, c)`` at each sequence's last valid step after a padded fused run.

        The kernel returns ``c`` only at the last padded step, so ``c`` is rebuilt from
        the outputs: every step's gates in two matrix multiplies (``h_{t-1}`` is the
        previous output), then ``c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t`` elementwise, held past
        each end. It is the kernel's own ``c`` up to rounding, and its gradient reaches
        the parameters through the outputs as well as directly.
        """
        h0, c = state_tensors(state)
        steps = int(valid.sum(1).max())  # steps past the longest sequence change no c
        prev = torch.cat([h0.unsqueeze(1), out[:, : steps - 1]], 1)  # h_{t-1}
        gates = F.linear(x[:, :steps], self.weight_ih, self.bias_ih) + F.linear(
            prev, self.weight_hh, self.bias_hh
        )
        i, f, g, _ = gates.chunk(4, 2)
        i, f, g = (t.unbind(1) for t in (i.sigmoid(), f.sigmoid(), g.tanh()))
        keep = valid[:, :steps].unsqueeze(2).unbind(1)
        for t in range(steps):  # unbind, not [:, t]: backward stays linear in T
            c = torch.where(keep[t], f[t] * c + i[t] * g[t], c)
        return like_state(state, [h_last, c])

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        h, c = torch.lstm_cell(
            x_t, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
        )
        return h, (h, c)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}, forget_bias={self.forget_bias}"
