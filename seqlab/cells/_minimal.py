"""What minGRU and minLSTM share: input-only gates, a candidate ``g`` and a scanned recurrence.

Both cells project the input once per step into ``num_projections`` blocks of H (gates and
the candidate), and their recurrence ``h_t = a_t ⊙ h_{t-1} + b_t`` is linear in the state,
so :meth:`LinearRecurrentCell.forward_sequence` runs it with no step loop. A subclass says
how the projection becomes coefficients: ``_log_coefficients`` for the log-space scan and a
``gates_cls`` (a :mod:`seqlab.cells._scan` gates object) for the blocked scan.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from seqlab.cells._common import check_choice, g, uniform_
from seqlab.cells._scan import check_method, gated_scan, projected_scan, resolve_method
from seqlab.cells.base import Cell, State

ACTIVATIONS = ("g", "identity")


class LinearRecurrentCell(Cell):
    """Base of minGRU/minLSTM: options, parameters, ``forward_sequence`` and ``repr``."""

    num_projections: ClassVar[int]
    gates_cls: ClassVar[Any]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        activation: Literal["g", "identity"] = "g",
        scan: Literal["auto", "blocked", "log"] = "auto",
    ) -> None:
        super().__init__(input_size, hidden_size)
        name = type(self).__name__
        self.activation = check_choice(name, "activation", activation, ACTIVATIONS)
        self.scan = check_method(name, scan, log_ok=activation == "g")
        self.weight = nn.Parameter(torch.empty(self.num_projections * hidden_size, input_size))
        self.bias = nn.Parameter(torch.empty(self.num_projections * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform_([self.weight, self.bias], self.input_size)

    def _candidate(self, v: Tensor) -> Tensor:
        return g(v) if self.activation == "g" else v

    def _log_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def forward_sequence(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        """All steps of batch-first ``x`` (B, T, I) at once: outputs (B, T, H), final state.

        With ``lengths`` (B,), outputs past each end are zero and the final state is the
        state at each sequence's last valid step.
        """
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        method = resolve_method(self.scan, x.device)
        if method == "log" and self.activation == "g":
            return gated_scan(x, state, self._log_coefficients, method="log", lengths=lengths)
        gates = self.gates_cls(positive=self.activation == "g")
        return projected_scan(x, self.weight, self.bias, state, gates, lengths=lengths)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, activation={self.activation!r}, "
            f"scan={self.scan!r}"
        )
