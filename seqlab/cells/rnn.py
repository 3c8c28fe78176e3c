"""Elman recurrent network (Elman 1990), tanh or ReLU, with optional IRNN initialisation."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from seqlab.cells._torch_compat import TorchCompatibleCell
from seqlab.cells.base import State
from seqlab.cells.registry import register_cell

_NONLINEARITIES = ("tanh", "relu")
_INITS = ("default", "identity")


@register_cell("rnn")
class RNN(TorchCompatibleCell):
    r"""Elman RNN cell, numerically identical to ``torch.nn.RNNCell``.

    Equation::

        h_t = φ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   φ = tanh or ReLU

    Shapes: ``x_t`` (B, I); state ``h`` (B, H); output ``h_t`` (B, H).
    Parameters: ``weight_ih`` (H, I), ``weight_hh`` (H, H), ``bias_ih``/``bias_hh`` (H).
    Parameter count: H(I + H) + 2H with biases.

    Options:
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.
        bias: learn the biases (default True).
        init: ``"default"`` (torch.nn's uniform) or ``"identity"``: the IRNN of Le, Jaitly
            & Hinton (2015), W_hh = ``identity_scale``·I and zero biases (W_ih keeps the
            uniform init), usually with ``nonlinearity="relu"``.
        identity_scale: the scale of the identity for ``init="identity"`` (default 1.0).

    Reference: Elman, "Finding Structure in Time", Cognitive Science 1990; Le et al.,
    "A Simple Way to Initialize Recurrent Networks of Rectified Linear Units", 2015.
    """

    reference: ClassVar[str] = "Elman 1990; IRNN: Le et al. 2015"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        nonlinearity: str = "tanh",
        bias: bool = True,
        init: str = "default",
        identity_scale: float = 1.0,
    ) -> None:
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(
                f"RNN: nonlinearity must be one of {', '.join(_NONLINEARITIES)}, got {nonlinearity!r}."
            )
        if init not in _INITS:
            raise ValueError(f"RNN: init must be one of {', '.join(_INITS)}, got {init!r}.")
        self.nonlinearity = nonlinearity
        self.init = init
        self.identity_scale = float(identity_scale)
        self._step = torch.rnn_tanh_cell if nonlinearity == "tanh" else torch.rnn_relu_cell
        super().__init__(input_size, hidden_size, bias)

    @property
    def fused_fn(self):  # type: ignore[override]
        return torch.rnn_tanh if self.nonlinearity == "tanh" else torch.rnn_relu

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.init == "identity":
            with torch.no_grad():
                self.weight_hh.copy_(torch.eye(self.hidden_size) * self.identity_scale)
                if self.bias:
                    self.bias_ih.zero_()
                    self.bias_hh.zero_()

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        h = self._step(x_t, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h, h

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}, "
            f"bias={self.bias}, init={self.init!r}"
        )
