"""The compiled unroll: any cell's steps compiled with ``torch.compile``, chunk by chunk.

Why chunks: compiling the whole time loop unrolls T steps into one graph, whose compile
time grows with T (minutes at T=100 on a CPU) and recompiles for every new length. A
chunk of ``chunk_steps`` steps is one graph of fixed size, compiled once per cell shape
and reused for every chunk of every sequence length; inside it inductor fuses each step's
pointwise work and the Python and autograd overhead of single steps disappears. The last
``T mod chunk_steps`` steps run eagerly. ``benchmarks/compiled.py`` measures the choice.

Compiled graphs land in inductor's on-disk caches (FX graph and AOTAutograd caches under
``TORCHINDUCTOR_CACHE_DIR``, by default ``/tmp/torchinductor_<user>``), so a second run
skips most of the compile; point ``TORCHINDUCTOR_CACHE_DIR`` at a lasting folder to keep
them across reboots.

When ``torch.compile`` is unavailable or fails on a cell, one warning names the cell and
the reason, and that cell is stepped eagerly from then on: same results, eager speed.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch._dynamo
from torch import Tensor, nn

from seqlab.cells.base import State, like_state, state_tensors
from seqlab.cells.lengths import length_mask
from seqlab.unroll.stepping import masked_step, regularised_step, step_inputs

DEFAULT_CHUNK_STEPS = 10
"""Steps per compiled graph. Longer chunks cut the per-chunk overhead but compile slower
and leave longer eager remainders. ``benchmarks/compiled.py`` (2 threads, B=64, input 32,
hidden 128, fwd+bwd) on the idle 2-core CPU: 10 and 20 steps ran alike, 1.05× and 1.04×
torch.nn.LSTM at T=100 and 0.84× and 0.85× at T=500, but compiled cold (empty inductor
cache, first fwd+bwd at T=100) in 22–24 s against 28–29 s. (Under a load average of 9–15
20 steps was ahead: 1.09× against 1.17×.)"""

#: Enough compiled variants for a deep bidirectional stack (layer 0 and the rest differ
#: in input size) in training and evaluation, with and without length masks.
RECOMPILE_LIMIT = 64


class CompileFallbackWarning(RuntimeWarning):
    """Compiling a cell's steps failed; the cell is stepped eagerly instead."""


_failed: weakref.WeakSet[nn.Module] = weakref.WeakSet()
_compiled: dict[str, Callable[..., Any]] = {}


def run_chunk(
    cell: nn.Module,
    projected: bool,
    state: State,
    xc: Tensor,
    mc: Tensor | None,
    rec_mask: Tensor | None,
    zoneout: float,
) -> tuple[Tensor, State]:
    """Step ``cell`` over the chunk ``xc`` (B, K, P); ``mc`` (B, K) masks finished steps."""
    step = cell.forward_projected if projected else cell
    outputs = []
    for t, x_t in enumerate(xc.unbind(1)):
        h, new_state = regularised_step(step, x_t, state, rec_mask, zoneout)
        if mc is not None:
            h, new_state = masked_step(mc[:, t], h, new_state, state)
        state = new_state
        outputs.append(h)
    return torch.stack(outputs, 1), state


def compiled_chunk() -> Callable[..., tuple[Tensor, State]]:
    """:func:`run_chunk` under ``torch.compile``, built once per process."""
    if "chunk" not in _compiled:
        _compiled["chunk"] = torch.compile(run_chunk)
    return _compiled["chunk"]


def compile_failed(cell: nn.Module, error: BaseException) -> None:
    """Remember that ``cell`` does not compile, and say so once."""
    _failed.add(cell)
    reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
    warnings.warn(
        f"seqlab: compiling the steps of {type(cell).__name__} failed "
        f"({type(error).__name__}: {reason}); stepping it eagerly instead (same results, "
        f"eager speed). Build without compile to silence this.",
        CompileFallbackWarning,
        stacklevel=3,
    )


def can_compile(cell: nn.Module) -> bool:
    """Whether ``cell``'s steps should go through the compiler now."""
    return cell not in _failed and not torch.compiler.is_compiling()


def compiled_unroll(
    cell: nn.Module,
    x: Tensor,
    state: State,
    lengths: Tensor | None = None,
    *,
    rec_mask: Tensor | None = None,
    zoneout: float = 0.0,
    chunk_steps: int = DEFAULT_CHUNK_STEPS,
) -> tuple[Tensor, State]:
    """:func:`seqlab.unroll.unroll` (with the regularisers of ``unroll_regularised``),
    its steps compiled ``chunk_steps`` at a time.

    Shapes as :func:`seqlab.unroll.unroll`: ``x`` (B, T, F), ``lengths`` (B,), outputs
    (B, T, hidden_size) zero past each length, the final state at each last valid step.
    Chunks past every sequence's end are not computed at all.
    """
    batch, steps = x.shape[0], x.shape[1]
    projected, step = step_inputs(cell, x)
    has_projection = step is not cell
    max_len = min_len = steps
    masks = None
    if lengths is not None:
        lengths = lengths.to(x.device)
        max_len = min(int(lengths.max()), steps)
        masks = length_mask(lengths, max_len)
        min_len = int(lengths.min())
    if torch.is_grad_enabled():
        # Every chunk's state then requires grad, the first's too: one compiled graph
        # instead of a second one just for a start state that needs no gradient.
        state = like_state(
            state,
            [
                s if s.requires_grad or not s.is_floating_point() else s.detach().requires_grad_()
                for s in state_tensors(state)
            ],
        )
    outputs: list[Tensor] = []
    start = 0
    # split, not x[:, a:b] per chunk: the backward of split is one concatenation, while
    # each slice would add a full-length zero gradient.
    for xc in projected[:, :max_len].split(chunk_steps, 1):
        k = xc.shape[1]
        mc = masks[:, start : start + k] if masks is not None and start + k > min_len else None
        args = (cell, has_projection, state, xc, mc, rec_mask, zoneout)
        out, state = run_compiled(args) if k == chunk_steps else run_chunk(*args)
        outputs.append(out)
        start += k
    out = torch.cat(outputs, 1) if outputs else x.new_zeros(batch, 0, cell.hidden_size)
    if max_len < steps:
        out = torch.cat([out, out.new_zeros(batch, steps - max_len, out.shape[-1])], 1)
    return out, state


def run_compiled(args: tuple[Any, ...]) -> tuple[Tensor, State]:
    """One chunk through the compiler; on failure, a warning and the eager chunk."""
    cell = args[0]
    if not can_compile(cell):
        return run_chunk(*args)
    try:
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
            return compiled_chunk()(*args)
    except Exception as error:  # any compiler failure means: step eagerly
        compile_failed(cell, error)
        return run_chunk(*args)
