"""The cell contract and :class:`Cell`, an optional base class with sensible defaults.

A *cell* is any ``torch.nn.Module`` that:

- is built as ``Cls(input_size, hidden_size, **options)`` and has the attributes
  ``input_size`` and ``hidden_size``;
- has ``initial_state(batch_size, *, device=None, dtype=None)`` returning its state: a
  Tensor or a tuple of Tensors, each with the batch as dim 0;
- has ``forward(x_t, state) -> (h_t, new_state)`` for one time step, ``x_t`` of shape
  (B, input_size) and ``h_t`` of shape (B, hidden_size);
- optionally has ``forward_sequence(x, state, lengths=None) -> (outputs, final_state)``
  over a batch-first sequence ``x`` (B, T, input_size), with ``outputs`` (B, T, hidden_size)
  and, given ``lengths`` (B,), the final state taken at each sequence's last valid step.
  seqlab calls it instead of stepping when present (fused kernels, parallel scans).
- optionally has the pair ``input_projection(x) -> p`` and
  ``forward_projected(p_t, state) -> (h_t, new_state)``: the part of the step that reads
  only the input, done for all steps at once (``x`` (B, T, input_size) to ``p``
  (B, T, P), typically one large matmul, as cuDNN and haste split the work), and the rest
  of the step, reading ``p_t = p[:, t]`` (B, P) instead of ``x_t``. ``forward_projected(
  input_projection(x)[:, t], state)`` must equal ``forward(x[:, t], state)``. When a cell
  has both, seqlab's stepping (eager and compiled) uses them; ``forward`` stays the
  reference.

A plugin cell need not import seqlab. Subclassing :class:`Cell` only saves writing
``initial_state`` and gives a readable ``repr`` and metadata used by ``seqlab cells``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from seqlab.cells.equations import equations_from_docstring
from seqlab.validation import positive_int

State = Tensor | tuple[Tensor, ...]


class Cell(nn.Module):
    """Optional base class for recurrent cells.

    Subclasses set :attr:`state_names` (one name per state tensor; a single name means the
    state is a plain Tensor) and may override :meth:`state_sizes` when a state tensor is
    not ``hidden_size`` wide. Metadata for ``seqlab cells``: :attr:`reference` (citation)
    and :attr:`equations` (plain-text equations shown by ``seqlab cells show``).

    :attr:`equations` is read from the class docstring: write the equations there once,
    as a literal block after a paragraph that starts with ``Equations`` and ends with
    ``::`` (see :mod:`seqlab.cells.equations`). A subclass whose docstring has no such
    block inherits its parent's; one that sets ``equations`` itself keeps its own.
    """

    state_names: ClassVar[tuple[str, ...]] = ("h",)
    reference: ClassVar[str] = ""
    equations: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "equations" not in cls.__dict__:
            derived = equations_from_docstring(cls.__doc__)
            if derived:
                cls.equations = derived

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        for label, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            positive_int(f"{type(self).__name__}: {label}", value, error=ValueError)
        self.input_size = input_size
        self.hidden_size = hidden_size

    def state_sizes(self) -> tuple[int, ...]:
        """Width of each state tensor, in the order of :attr:`state_names`."""
        return (self.hidden_size,) * len(self.state_names)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """Zeros of shape (batch_size, size) for each state tensor."""
        ref = next(self.parameters(), None)
        device = device if device is not None else (ref.device if ref is not None else None)
        dtype = dtype if dtype is not None else (ref.dtype if ref is not None else None)
        zeros = tuple(
            torch.zeros(batch_size, size, device=device, dtype=dtype) for size in self.state_sizes()
        )
        return zeros[0] if len(zeros) == 1 else zeros

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


def state_tensors(state: State) -> tuple[Tensor, ...]:
    """The state as a tuple of tensors, whatever its form."""
    return (state,) if isinstance(state, Tensor) else tuple(state)


def like_state(template: State, tensors: tuple[Tensor, ...] | list[Tensor]) -> State:
    """Pack ``tensors`` in the same form (Tensor or tuple) as ``template``."""
    return tensors[0] if isinstance(template, Tensor) else tuple(tensors)
