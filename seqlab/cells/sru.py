"""Simple recurrent unit, SRU (Lei, Zhang, Wang, Dai & Artzi 2018)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.cells._common import check_bool, check_number, uniform_
from seqlab.cells._scan import gated_scan
from seqlab.cells.base import Cell, State
from seqlab.cells.lengths import length_mask
from seqlab.cells.registry import register_cell


@register_cell("sru")
class SRU(Cell):
    r"""Simple recurrent unit: all matrix products depend on the input only.

    Equations (Lei et al. 2018, eqs. 3-6; σ the logistic sigmoid, ⊙ elementwise)::

        f_t = σ(W_f x_t + v_f ⊙ c_{t-1} + b_f)           forget gate
        r_t = σ(W_r x_t + v_r ⊙ c_{t-1} + b_r)           reset (highway) gate
        c_t = f_t ⊙ c_{t-1} + (1 - f_t) ⊙ (W x_t)        internal state
        h_t = r_t ⊙ c_t + (1 - r_t) ⊙ α·x_t              output, highway to the input

    The recurrence is elementwise (the vectors v_f, v_r, not matrices, touch c_{t-1}), so
    the three products W x_t, W_f x_t, W_r x_t of a whole sequence are one matrix
    multiply. With ``recurrent_vectors=False`` (SRU as first published, Lei et al. 2017,
    without v_f and v_r) the state update is linear, ``c_t = a_t c_{t-1} + b_t`` with
    a = f and b = (1 - f) ⊙ W x_t, and :meth:`forward_sequence` runs it as a scan
    without a step loop (see :mod:`seqlab.cells._scan`). With the vectors (default, the
    2018 form) f_t depends on c_{t-1}, so :meth:`forward_sequence` computes the three
    products for all steps at once and then loops over time doing only elementwise work,
    which is what the paper's fused CUDA kernel does. Measured on the project's 2-core
    CPU (``seqlab.Recurrent``, B=64, I=32, H=128, T=100, fwd+bwd, one thread): that loop
    runs at the speed of plain stepping (49 vs 47 ms; a step's small matrix product is
    cheap there), the scan of the linear form 10-20% faster (38-44 ms).

    The highway term needs x_t to have H features. When ``input_size != hidden_size``,
    x_t is replaced by a learned projection W_s x_t (one more block of W), as the
    reference implementation does.

    Shapes: ``x_t`` (B, I); state ``c`` (B, H); output ``h_t`` (B, H) — the output is
    *not* the state.
    Parameters: ``weight`` (kH, I), rows stacked W (candidate), W_f, W_r and, when
    I ≠ H, W_s (k = 3 or 4); ``bias`` (2H) = b_f, b_r; with recurrent vectors
    ``vector_f``, ``vector_r`` (H). Parameter count: 3HI + 2H + 2H (I = H), or
    4HI + 2H + 2H (I ≠ H); without recurrent vectors 2H fewer. Initialisation: W ~
    U(-√(3/I), √(3/I)) (variance 1/I, §3.2), biases 0, vectors U(-1/√H, 1/√H).

    Options:
        recurrent_vectors: the 2018 form with v_f, v_r (default True); False gives the
            linear recurrence of 2017 and a scan in ``forward_sequence``.
        highway_scale: α (default 1.0, eq. 6 as written). Lei et al. (§3.2) propose
            α = √3 to keep the output variance near the input's at initialisation.

    Reference: Lei, Zhang, Wang, Dai & Artzi, "Simple Recurrent Units for Highly
    Parallelizable Recurrence", EMNLP 2018 (arXiv:1709.02755).
    """

    state_names = ("c",)
    reference: ClassVar[str] = "Lei et al. 2018"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        recurrent_vectors: bool = True,
        highway_scale: float = 1.0,
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.recurrent_vectors = check_bool("SRU", "recurrent_vectors", recurrent_vectors)
        self.highway_scale = check_number("SRU", "highway_scale", highway_scale)
        self.projected_highway = input_size != hidden_size
        blocks = 4 if self.projected_highway else 3
        self.weight = nn.Parameter(torch.empty(blocks * hidden_size, input_size))
        self.bias = nn.Parameter(torch.empty(2 * hidden_size))
        if recurrent_vectors:
            self.vector_f = nn.Parameter(torch.empty(hidden_size))
            self.vector_r = nn.Parameter(torch.empty(hidden_size))
        else:
            self.register_parameter("vector_f", None)
            self.register_parameter("vector_r", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = math.sqrt(3.0 / self.input_size)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            self.bias.zero_()
        uniform_([self.vector_f, self.vector_r], self.hidden_size)

    def _project(self, x: Tensor) -> Tensor:
        """``W x`` with all blocks, b_f and b_r already added to the f and r blocks."""
        zeros = self.bias.new_zeros(self.hidden_size)
        full_bias = torch.cat([zeros, self.bias] + ([zeros] if self.projected_highway else []))
        return F.linear(x, self.weight, full_bias)

    def _split(self, u: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """From :meth:`_project`'s ``u``: W x, W_f x + b_f, W_r x + b_r and α x (or α W_s x)."""
        cand, uf, ur, *proj = u.split(self.hidden_size, -1)
        highway = proj[0] if self.projected_highway else x
        if self.highway_scale != 1.0:
            highway = highway * self.highway_scale
        return cand, uf, ur, highway

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        return self._step(*self._split(self._project(x_t), x_t), state)

    def _step(
        self, cand: Tensor, uf: Tensor, ur: Tensor, highway: Tensor, c: Tensor
    ) -> tuple[Tensor, Tensor]:
        if self.recurrent_vectors:
            uf = torch.addcmul(uf, self.vector_f, c)
            ur = torch.addcmul(ur, self.vector_r, c)
        c = torch.lerp(cand, c, torch.sigmoid(uf))  # f c + (1 - f) W x
        h = torch.lerp(highway, c, torch.sigmoid(ur))  # r c + (1 - r) α x
        return h, c

    def forward_sequence(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        """All steps of batch-first ``x`` (B, T, I): outputs (B, T, H), final state ``c``.

        One matrix multiply for the whole sequence; then a scan (``recurrent_vectors=False``)
        or an elementwise loop over time. With ``lengths``, outputs past each end are zero
        and the state is the one at each sequence's last valid step.
        """
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        if not self.recurrent_vectors:
            return gated_scan(
                x,
                state,
                self._scan_coefficients,
                method="blocked",
                lengths=lengths,
                readout=self._readout,
            )
        return self._loop(x, state, lengths)

    def _scan_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor]]:
        cand, uf, ur, highway = self._split(self._project(x), x)
        f = torch.sigmoid(uf)
        return f, cand - f * cand, (torch.sigmoid(ur), highway)

    @staticmethod
    def _readout(c: Tensor, extra: tuple[Tensor, Tensor]) -> Tensor:
        r, highway = extra
        return torch.lerp(highway, c, r)

    def _loop(self, x: Tensor, c: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        batch, steps = x.shape[0], x.shape[1]
        if steps == 0:
            return x.new_zeros(batch, 0, self.hidden_size), c
        # one matrix multiply for all steps; unbind (not u[:, t]) keeps backward linear in T
        projected = self._project(x).unbind(1)
        inputs = x.unbind(1)
        masks = (
            length_mask(lengths.to(x.device), steps).unsqueeze(2).unbind(1)
            if lengths is not None
            else None
        )
        outputs = []
        for t in range(steps):
            h, new = self._step(*self._split(projected[t], inputs[t]), c)
            if masks is not None:
                new = torch.where(masks[t], new, c)
                h = h * masks[t]
            c = new
            outputs.append(h)
        return torch.stack(outputs, 1), c

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, recurrent_vectors={self.recurrent_vectors}, "
            f"highway_scale={self.highway_scale}, projected_highway={self.projected_highway}"
        )
