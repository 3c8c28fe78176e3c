"""``seqlab.Recurrent``: any registered cell unrolled over sequences, stacked and bidirectional."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.cells.base import State, like_state, state_tensors
from seqlab.cells.registry import create_cell, get_cell
from seqlab.errors import ConfigError
from seqlab.unroll import (
    DEFAULT_CHUNK_STEPS,
    compiled_unroll,
    recurrent_dropout_mask,
    unroll,
    unroll_regularised,
)
from seqlab.validation import positive_int, probability

StepObserver = Callable[[int, int, Tensor], None]
"""Called as ``observer(layer_direction_index, t, h_t)`` for every step when recording."""

_TORCH_TYPES = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}


def _check_probability(label: str, value: float) -> float:
    return float(probability(f"Recurrent: {label}", value))


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of batch-first ``x`` within its own length (padding stays put)."""
    if lengths is None:
        return x.flip(1)
    steps = x.shape[1]
    t = torch.arange(steps, device=x.device).unsqueeze(0)
    lens = lengths.to(x.device).unsqueeze(1)
    idx = torch.where(t < lens, lens - 1 - t, t)
    idx = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


class Recurrent(nn.Module):
    """A stack of recurrent layers built from any registered cell.

    Args:
        cell: a registry name (``"lstm"``, ``"mingru"``, a plugin's name) or a cell class.
        input_size: features per step of the input, F.
        hidden_size: width of each cell's output, H.
        num_layers: stacked layers; layer k > 0 reads layer k-1's (concatenated) outputs.
        bidirectional: add a backward-running cell per layer; outputs are concatenated
            [forward, backward] along the feature dimension.
        dropout: dropout on the outputs of every layer but the last (training only).
        recurrent_dropout: variational dropout on the hidden state fed back into the
            cell (Gal & Ghahramani 2016): one mask per sequence and layer, drawn at the
            start of the sequence, applied to the first state tensor ``h`` before each
            step. Training only.
        zoneout: probability of keeping each unit of every state tensor at its previous
            value at each step (Krueger et al. 2017), training only; at eval the cell's
            update is used as is.
        fused: use a cell's ``forward_sequence`` when it has one (fused kernels, parallel
            scans). ``False`` forces stepping, for checks and instrumentation.
        compile: step cells through ``torch.compile`` (:func:`seqlab.unroll.compiled_unroll`,
            a chunk of steps per compiled graph) wherever they are stepped: cells without
            ``forward_sequence``, ``fused=False``, recurrent dropout and zoneout. Same
            results as eager stepping; the first forward of each shape compiles (seconds to
            tens of seconds on a CPU, cached on disk for later runs). If compiling fails,
            one warning and eager stepping. A forward observed for gradient flow
            (``--grad-flow``) is stepped eagerly, since it records every step's output.
        compile_chunk_steps: steps per compiled graph (default
            :data:`seqlab.unroll.DEFAULT_CHUNK_STEPS`): longer chunks compile slower and
            run with less overhead per chunk.
        **cell_options: passed to the cell's constructor (e.g. ``forget_bias=0``).

    Shapes:
        ``forward(x, lengths=None, state=None)`` takes batch-first ``x`` (B, T, F), optional
        ``lengths`` (B,) and optional ``state``: a list with one cell state per layer and
        direction, index ``layer * num_directions + direction``. It returns
        ``(outputs, final_state)``: outputs (B, T, num_directions * H), zero past each
        sequence's length, and the final states in the same list layout. With ``lengths``
        each final state is the state at that sequence's last valid step, and the backward
        direction starts at each sequence's own end.

    Regularisers and step observers need every step, so they run the stepping path; the
    fused path stays on otherwise. Step observers always step eagerly (they need every
    ``h_t`` as a node of the graph). Under ``torch.export`` every cell is stepped over all
    steps with length masks (no branching on the values of ``lengths``), with the same results.
    """

    def __init__(
        self,
        cell: str | type[nn.Module],
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        *,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        fused: bool = True,
        compile: bool = False,
        compile_chunk_steps: int = DEFAULT_CHUNK_STEPS,
        **cell_options: Any,
    ) -> None:
        super().__init__()
        for label, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            positive_int(f"Recurrent: {label}", value)
        self.cell_name = cell if isinstance(cell, str) else getattr(cell, "__name__", str(cell))
        self.cell_cls = get_cell(cell) if isinstance(cell, str) else cell
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.dropout = _check_probability("dropout", dropout)
        self.recurrent_dropout = _check_probability("recurrent_dropout", recurrent_dropout)
        self.zoneout = _check_probability("zoneout", zoneout)
        self.fused = bool(fused)
        # Not ``self.compile``: that would hide nn.Module.compile.
        self.compile_steps = bool(compile)
        self.compile_chunk_steps = positive_int(
            "Recurrent: compile_chunk_steps", compile_chunk_steps
        )
        self.cell_options = dict(cell_options)
        cells = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for _ in range(self.num_directions):
                cells.append(
                    create_cell(
                        cell if isinstance(cell, str) else self.cell_cls,  # errors name it so
                        layer_in,
                        hidden_size,
                        **cell_options,
                    )
                )
        self.cells = nn.ModuleList(cells)
        for c in self.cells:
            if getattr(c, "hidden_size", hidden_size) != hidden_size:
                raise ConfigError(
                    f"cell '{self.cell_name}' reports hidden_size={c.hidden_size} but was "
                    f"built with {hidden_size}; a cell must keep the sizes it is given."
                )
        self._observer: StepObserver | None = None

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def extra_repr(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.cell_options.items())
        return (
            f"{self.cell_name!r}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"bidirectional={self.bidirectional}, dropout={self.dropout}{opts}"
            + (", compile=True" if self.compile_steps else "")
        )

    # -- state helpers ----------------------------------------------------------------------
    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> list[State]:
        """One zero state per layer and direction (index ``layer * num_directions + d``)."""
        return [c.initial_state(batch_size, device=device, dtype=dtype) for c in self.cells]

    @staticmethod
    def detach_state(state: Sequence[State]) -> list[State]:
        """The same states cut from the graph (truncated BPTT between chunks)."""
        return [like_state(s, [t.detach() for t in state_tensors(s)]) for s in state]

    # -- running ------------------------------------------------------------------------------
    def observe_steps(self, observer: StepObserver | None) -> None:
        """Call ``observer(index, t, h_t)`` for every step of following forwards (None: stop).

        Observed forwards step every cell, so ``h_t`` is a node of the graph whose gradient
        is the full ∂L/∂h_t through time.
        """
        self._observer = observer

    def _regularised(self) -> bool:
        return self.training and (self.recurrent_dropout > 0 or self.zoneout > 0)

    def _needs_stepping(self) -> bool:
        # torch.export steps the cells: the fused path branches on the values of the lengths.
        return (
            self._regularised()
            or self._observer is not None
            or not self.fused
            or torch.compiler.is_exporting()
        )

    def _run_cell(
        self, index: int, cell: nn.Module, x: Tensor, state: State, lengths: Tensor | None
    ) -> tuple[Tensor, State]:
        seq_fn = getattr(cell, "forward_sequence", None)
        if seq_fn is not None and not self._needs_stepping():
            return seq_fn(x, state, lengths)
        regularised = self._regularised()
        rec_mask = recurrent_dropout_mask(state, self.recurrent_dropout) if regularised else None
        zoneout = self.zoneout if regularised else 0.0
        if self._observer is not None:
            observer = self._observer
            return unroll_regularised(
                cell,
                x,
                state,
                lengths,
                rec_mask=rec_mask,
                zoneout=zoneout,
                observer=lambda t, h: observer(index, t, h),
            )
        if self.compile_steps and not torch.compiler.is_exporting():
            return compiled_unroll(
                cell,
                x,
                state,
                lengths,
                rec_mask=rec_mask,
                zoneout=zoneout,
                chunk_steps=self.compile_chunk_steps,
            )
        if not regularised:
            return unroll(cell, x, state, lengths)
        return unroll_regularised(cell, x, state, lengths, rec_mask=rec_mask, zoneout=zoneout)

    def forward(
        self,
        x: Tensor,
        lengths: Tensor | Sequence[int] | None = None,
        state: Sequence[State] | None = None,
    ) -> tuple[Tensor, list[State]]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ConfigError(
                f"Recurrent expects batch-first input of shape (batch, time, {self.input_size}), "
                f"got {tuple(x.shape)}. Reshape the input or build the layer with "
                f"input_size={x.shape[-1] if x.dim() == 3 else '...'}."
            )
        batch = x.shape[0]
        if lengths is not None:
            lengths = torch.as_tensor(lengths, dtype=torch.long)
            if lengths.shape != (batch,):
                raise ConfigError(
                    f"lengths must have shape ({batch},), got {tuple(lengths.shape)}."
                )
            # torch.export cannot branch on tensor values: it keeps the masks (same results).
            if not torch.compiler.is_exporting():
                if bool((lengths < 0).any()) or bool((lengths > x.shape[1]).any()):
                    raise ConfigError(
                        f"lengths must lie in [0, {x.shape[1]}] (the padded length), got "
                        f"min {int(lengths.min())} and max {int(lengths.max())}."
                    )
                if bool((lengths == x.shape[1]).all()):
                    lengths = None  # nothing is padded: skip the masking work
        if state is None:
            state = self.initial_state(batch, device=x.device, dtype=x.dtype)
        elif len(state) != len(self.cells):
            raise ConfigError(
                f"state must hold one cell state per layer and direction ({len(self.cells)}), "
                f"got {len(state)}."
            )
        finals: list[State] = []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                i = layer * self.num_directions + d
                inp = layer_in if d == 0 else reverse_padded(layer_in, lengths)
                out, final = self._run_cell(i, self.cells[i], inp, state[i], lengths)
                if d == 1:
                    out = reverse_padded(out, lengths)
                outs.append(out)
                finals.append(final)
            layer_out = outs[0] if len(outs) == 1 else torch.cat(outs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_out = F.dropout(layer_out, self.dropout, True)
            layer_in = layer_out
        return layer_in, finals

    # -- interop with torch.nn ----------------------------------------------------------------
    @classmethod
    def from_torch(cls, module: nn.RNNBase) -> Recurrent:
        """An equal layer from a ``torch.nn.RNN``, ``LSTM`` or ``GRU`` (weights copied).

        seqlab is batch-first: a module built with ``batch_first=False`` gives the same
        results on inputs transposed to (B, T, F).
        """
        name = next((n for t, n in _TORCH_TYPES.items() if type(module) is t), None)
        if name is None:
            raise ConfigError(
                f"Recurrent.from_torch takes torch.nn.RNN, LSTM or GRU, got {type(module).__name__}."
            )
        if getattr(module, "proj_size", 0):
            raise ConfigError(
                "Recurrent.from_torch: LSTMs with proj_size > 0 have no seqlab equivalent."
            )
        options: dict[str, Any] = {"bias": module.bias}
        if name == "rnn":
            options["nonlinearity"] = module.nonlinearity
        if name == "lstm":
            options["forget_bias"] = 0.0
        layer = cls(
            name,
            module.input_size,
            module.hidden_size,
            module.num_layers,
            bidirectional=module.bidirectional,
            dropout=module.dropout,
            **options,
        )
        layer._copy_weights(module, to_torch=False)
        return layer.to(device=module.weight_ih_l0.device, dtype=module.weight_ih_l0.dtype)

    def to_torch(self) -> nn.RNNBase:
        """The equal ``torch.nn`` module (batch_first=True), for built-in rnn/lstm/gru layers."""
        from seqlab.cells.gru import GRU
        from seqlab.cells.lstm import LSTM
        from seqlab.cells.rnn import RNN

        first = self.cells[0]
        kwargs = dict(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bias=first.bias if hasattr(first, "bias") else True,
            batch_first=True,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
        )
        if self.recurrent_dropout or self.zoneout:
            raise ConfigError(
                "to_torch: torch.nn has no recurrent dropout or zoneout; build without them."
            )
        if type(first) is LSTM:
            module: nn.RNNBase = nn.LSTM(**kwargs)
        elif type(first) is GRU and first.reset_after:
            module = nn.GRU(**kwargs)
        elif type(first) is RNN:
            module = nn.RNN(nonlinearity=first.nonlinearity, **kwargs)
        else:
            raise ConfigError(
                f"to_torch: cell '{self.cell_name}' has no torch.nn equivalent; only the built-in "
                f"rnn, lstm and gru (reset_after=True) do."
            )
        module = module.to(device=first.weight_ih.device, dtype=first.weight_ih.dtype)
        self._copy_weights(module, to_torch=True)
        return module

    def _copy_weights(self, module: nn.RNNBase, *, to_torch: bool) -> None:
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if module.bias else [])
        with torch.no_grad():
            for layer in range(self.num_layers):
                for d in range(self.num_directions):
                    cell = self.cells[layer * self.num_directions + d]
                    suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
                    for n in names:
                        ours, theirs = getattr(cell, n), getattr(module, n + suffix)
                        (theirs if to_torch else ours).copy_(ours if to_torch else theirs)
