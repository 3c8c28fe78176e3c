"""Linear recurrences ``h_t = a_t ⊙ h_{t-1} + b_t`` over a whole sequence, without stepping.

Cells whose state update is linear in the state run their ``forward_sequence`` through
:func:`projected_scan` (``mingru``, ``minlstm``: projection, gates and scan fused segment
by segment in one autograd node with a hand-written backward) or :func:`gated_scan` (any
coefficients computed with autograd, e.g. ``sru`` without its recurrent vectors). Two
methods compute the same recurrence:

``"blocked"`` (the default on CPU): an exact blocked two-level scan in linear space. The
    sequence is cut into *segments* of ``S`` steps processed one after the other with the
    state carried between them, so that every tensor of a segment (projection, gates,
    states, and their gradients) stays in the CPU cache; within a segment the ``S`` steps
    are viewed as ``n`` blocks of ``L ≈ √S`` positions and scanned in three sweeps that
    each run over the ``L`` positions (or ``n`` blocks) with all blocks (positions) at
    once: (1) each block's end value from a zero start and the product of its ``a``,
    (2) the carry into every block, (3) the states themselves. It only multiplies and
    adds, so nothing under- or overflows (``a`` may be 0, ``b`` and ``h0`` any sign), and
    its gradient is the reverse recurrence ``g_t = ∂L/∂h_t + a_{t+1} g_{t+1}``, computed
    by the same blocked scan in a custom ``autograd.Function``. Every intermediate lives in
    a :class:`Workspace` buffer reused across segments (see there for why).

``"log"`` (the default on CUDA): the log-space scan of Feng et al. (2024, after Heinsen
    2023), ``h_t = e^{A_t} h_0 + e^{A_t + logcumsumexp_{s≤t}(log b_s - A_s)}`` with
    ``A_t = Σ_{s≤t} log a_s``: one ``cumsum`` and one ``logcumsumexp`` over the whole
    sequence, no loop at all. It needs ``b_t > 0`` (given as ``log b_t``); ``h_0`` may
    have any sign because its term is kept in linear space. ``A_t`` grows to thousands
    over long sequences, where float32 keeps only ~1e-4 of absolute precision (a plain
    float32 log scan drifted 6e-4 after 4000 steps here; run in segments of 256 steps,
    its bias gradient was still off by 0.17 at T=4096), so the scan is computed in
    float64 whatever the input dtype.

Both were measured on the 2-core CPU this project is developed on with
``benchmarks/scan.py`` (numbers in docs/cells.md, "Speed of the scans"): the log-space
scan (float64 logcumsumexp) was 7-20x slower than the blocked one there, so the blocked
scan is the CPU default. No GPU was available to measure the CUDA default, which follows the paper (one
kernel per operation instead of a few per segment).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.cells.lengths import length_mask

METHODS = ("auto", "blocked", "log")

#: Elements (B·S·H) of one segment's state tensor for the blocked scan: 2^19 floats (2 MiB)
#: keeps the dozen tensors of a segment within a 32 MiB L3 cache. Swept over 2^16..2^20
#: with ``benchmarks/scan.py --segment-elements`` at B=64, H=128: 2^18 and 2^19 (S = 32
#: and 64 steps) were fastest, within the machine's noise of each other.
SEGMENT_ELEMENTS = 1 << 19

# Log-space stand-in for log(0) that keeps logcumsumexp's gradient finite: exp(x - out)
# with x = out = -inf would be NaN, with a finite floor it is 1/t times a zero weight.
_LOG_ZERO = -1e30


def resolve_method(method: str, device: torch.device) -> str:
    """The scan method to run on ``device`` for the option value ``method``."""
    if method == "auto":
        return "log" if device.type == "cuda" else "blocked"
    return method


def check_method(owner: str, method: str, *, log_ok: bool = True) -> str:
    """Validate a cell's ``scan`` option (ValueError names the choices)."""
    if method not in METHODS:
        raise ValueError(f"{owner}: scan must be one of {', '.join(METHODS)}, got {method!r}.")
    if method == "log" and not log_ok:
        raise ValueError(
            f"{owner}: scan='log' needs positive values b_t (use the default "
            f"candidate activation 'g'); use scan='blocked' or 'auto' instead."
        )
    return method


# -- the blocked scan ------------------------------------------------------------------------
class Workspace:
    """Scratch tensors reused from segment to segment, by name.

    Fresh allocations are what made a naive segment loop slow here: every new 2 MiB
    tensor is new pages for the kernel to map (measured ≈1 ms per 2 MiB on the project's
    CPU, ten times the cost of filling reused memory), so every intermediate of a segment
    lives in one of these buffers and is written with ``out=``.
    """

    def __init__(self, like: Tensor) -> None:
        self.dtype, self.device = like.dtype, like.device
        self._buffers: dict[str, Tensor] = {}

    def __call__(self, name: str, *shape: int) -> Tensor:
        """A contiguous tensor of ``shape`` in buffer ``name`` (grown when too small)."""
        numel = math.prod(shape)
        buf = self._buffers.get(name)
        if buf is None or buf.numel() < numel:
            buf = torch.empty(numel, dtype=self.dtype, device=self.device)
            self._buffers[name] = buf
        return buf[:numel].view(shape)


def _blocking(steps: int) -> tuple[int, int]:
    """Block length L and block count n (L·n ≥ steps) for the fewest operations.

    The scan issues about 2L + 2n operations on (B, n, H) slabs, least near L = n = √steps;
    a padded layout adds three full-size copies, counted as 6 slab operations.
    """
    if steps <= 4:
        return steps, 1
    best = None
    root = math.sqrt(steps)
    for length in range(max(2, int(root / 2)), int(2 * root) + 2):
        blocks = -(-steps // length)
        pad = length * blocks - steps
        cost = (2 * length + 2 * blocks + (6 if pad else 0), pad)
        if best is None or cost < best[0]:
            best = (cost, length, blocks)
    assert best is not None
    return best[1], best[2]


def _scan_blocks(
    a: Tensor, b: Tensor, h0: Tensor, out: Tensor, ws: Workspace, reverse: bool = False
) -> Tensor:
    """``h_t = a_t h_{t-1} + b_t`` from ``h0`` for all t of (B, T, H) ``a``/``b``, into ``out``.

    No autograd. ``out`` (B, T, H) may be a strided view (a time slice of a longer
    output). With ``reverse`` the recurrence runs from the last step to the first
    (``h_t = a_t h_{t+1} + b_t``, ``h0`` entering after step T-1).
    """
    batch, steps, width = b.shape
    length, blocks = _blocking(steps)
    pad = length * blocks - steps
    if pad:  # identity steps (a = 1, b = 0) leave the carried state unchanged
        a = F.pad(a, (0, 0, 0, pad), value=1.0)
        b = F.pad(b, (0, 0, 0, pad), value=0.0)
        h4 = ws("scan_padded", batch, blocks, length, width)
    else:
        h4 = out.view(batch, blocks, length, width)
    a4 = a.reshape(batch, blocks, length, width)
    b4 = b.reshape(batch, blocks, length, width)
    positions = list(range(length - 1, -1, -1) if reverse else range(length))
    if blocks == 1:
        carry_in = h0.unsqueeze(1)
    else:
        # sweep 1: every block's end value from a zero start, and the product of its a
        end = ws("scan_end", batch, blocks, width)
        end.copy_(b4[:, :, positions[0]])
        for p in positions[1:]:
            torch.addcmul(b4[:, :, p], end, a4[:, :, p], out=end)
        prod = torch.prod(a4, 2, out=ws("scan_prod", batch, blocks, width))
        # sweep 2: the state entering every block
        carry_in = ws("scan_carry", batch, blocks, width)
        order = list(range(blocks - 1, -1, -1) if reverse else range(blocks))
        carry_in[:, order[0]] = h0
        for k, nxt in itertools.pairwise(order):
            torch.addcmul(end[:, k], prod[:, k], carry_in[:, k], out=carry_in[:, nxt])
    # sweep 3: the states, all blocks at once
    prev = carry_in
    for p in positions:
        torch.addcmul(b4[:, :, p], a4[:, :, p], prev, out=h4[:, :, p])
        prev = h4[:, :, p]
    if pad:
        out.copy_(h4.view(batch, blocks * length, width)[:, :steps])
    return out


def _reverse_scan(a: Tensor, dh: Tensor, dlast: Tensor, out: Tensor, ws: Workspace) -> Tensor:
    """``g_t = dh_t + a_{t+1} g_{t+1}`` with ``g_{T-1} = dh_{T-1} + dlast``: ∂L/∂h_t, into out."""
    a_next = ws("a_next", *a.shape)
    a_next[:, :-1] = a[:, 1:]
    a_next[:, -1] = 1.0
    return _scan_blocks(a_next, dh, dlast, out, ws, reverse=True)


class _BlockedScan(torch.autograd.Function):
    """Autograd for the blocked scan of one segment: returns all states and the last one."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        h = _scan_blocks(a, b, h0, torch.empty_like(b), Workspace(b))
        ctx.save_for_backward(a, h, h0)
        return h, h[:, -1].clone()

    @staticmethod
    def backward(ctx, dh: Tensor | None, dlast: Tensor | None) -> tuple[Tensor, ...]:  # type: ignore[override]
        a, h, h0 = ctx.saved_tensors
        dh = torch.zeros_like(h) if dh is None else dh.contiguous()
        dlast = torch.zeros_like(h0) if dlast is None else dlast
        g = _reverse_scan(a, dh, dlast, torch.empty_like(h), Workspace(h))
        da = torch.empty_like(a)
        torch.mul(g[:, 1:], h[:, :-1], out=da[:, 1:])
        torch.mul(g[:, 0], h0, out=da[:, 0])
        return da, g, a[:, 0] * g[:, 0]


def blocked_scan(a: Tensor, b: Tensor, h0: Tensor) -> tuple[Tensor, Tensor]:
    """States (B, T, H) and last state (B, H) of ``h_t = a_t h_{t-1} + b_t``, one segment."""
    return _BlockedScan.apply(a, b, h0)


# -- a projection, gates and the blocked scan fused per segment ---------------------------
class SegmentGates(Protocol):
    """The gate arithmetic of a cell run by :func:`projected_scan` (no autograd inside).

    ``coefficients(proj, ws)`` maps a segment's projection ``x W^T + bias`` (B, S, G·H)
    to ``(a, b)`` (each (B, S, H)), keeping its intermediates in workspace buffers;
    ``backward(proj, ws, g, h_prev, dproj)``, called right after ``coefficients`` on the
    same segment, writes ∂L/∂proj into ``dproj`` given ``g`` = ∂L/∂h_t (through all
    paths) and the previous states ``h_prev`` (B, S, H).
    """

    def coefficients(self, proj: Tensor, ws: Workspace) -> tuple[Tensor, Tensor]: ...

    def backward(
        self, proj: Tensor, ws: Workspace, g: Tensor, h_prev: Tensor, dproj: Tensor
    ) -> None: ...


class _ProjectedScan(torch.autograd.Function):
    """``h_t = a_t h_{t-1} + b_t`` with ``(a, b) = gates(x W^T + bias)``, segment by segment.

    Forward keeps only its output for backward; backward walks the segments from the last
    one, recomputing each segment's projection and gates (all in cache), running the
    reverse scan and accumulating the parameter gradients, so that per segment the only
    memory traffic is the segment's input, output and their gradients.
    """

    @staticmethod
    def forward(
        ctx,
        x: Tensor,
        weight: Tensor,
        bias: Tensor,
        h0: Tensor,  # type: ignore[override]
        gates: SegmentGates,
        segment: int,
    ) -> tuple[Tensor, Tensor]:
        batch, steps, _ = x.shape
        out = x.new_empty(batch, steps, h0.shape[-1])
        ws = Workspace(out)
        state = h0
        for start in range(0, steps, segment):
            stop = min(start + segment, steps)
            proj = _project(x, start, stop, weight, bias, ws)
            a, b = gates.coefficients(proj, ws)
            _scan_blocks(a, b, state, out[:, start:stop], ws)
            state = out[:, stop - 1]
        ctx.gates, ctx.segment = gates, segment
        ctx.save_for_backward(x, weight, bias, h0, out)
        return out, state.clone()

    @staticmethod
    def backward(ctx, dout: Tensor | None, dlast: Tensor | None):  # type: ignore[override]
        x, weight, bias, h0, out = ctx.saved_tensors
        gates, segment = ctx.gates, ctx.segment
        batch, steps, width = out.shape
        need_x, need_w, need_b, _, _, _ = ctx.needs_input_grad
        ws = Workspace(out)
        dx = torch.empty_like(x) if need_x else None
        dweight = torch.zeros_like(weight)
        dbias = torch.zeros_like(bias)
        carry = dlast if dlast is not None else torch.zeros_like(h0)
        for start in reversed(range(0, steps, segment)):
            stop, size = min(start + segment, steps), min(segment, steps - start)
            proj = _project(x, start, stop, weight, bias, ws)
            a, _ = gates.coefficients(proj, ws)
            dh = ws("dh", batch, size, width).zero_() if dout is None else dout[:, start:stop]
            g = _reverse_scan(a, dh, carry, ws("g", batch, size, width), ws)
            h_prev = ws("h_prev", batch, size, width)
            h_prev[:, 0] = h0 if start == 0 else out[:, start - 1]
            h_prev[:, 1:] = out[:, start : stop - 1]
            dproj = ws("dproj", batch, size, proj.shape[-1])
            gates.backward(proj, ws, g, h_prev, dproj)
            flat = dproj.view(batch * size, -1)
            if need_w:
                dweight.addmm_(flat.t(), ws("x", batch * size, x.shape[-1]))
            if need_b:
                dbias.add_(flat.sum(0))
            if dx is not None:
                dx_seg = torch.mm(flat, weight, out=ws("dx", batch * size, x.shape[-1]))
                dx[:, start:stop] = dx_seg.view(batch, size, -1)
            carry = a[:, 0] * g[:, 0]
        return dx, dweight if need_w else None, dbias if need_b else None, carry, None, None


def _project(
    x: Tensor, start: int, stop: int, weight: Tensor, bias: Tensor, ws: Workspace
) -> Tensor:
    """``x[:, start:stop] W^T + bias`` (B, S, G·H) as one 2-D addmm; the segment's input is
    copied to the workspace buffer ``"x"`` (contiguous, reused by backward's weight grad)."""
    batch, size = x.shape[0], stop - start
    xs = ws("x", batch, size, x.shape[-1])
    xs.copy_(x[:, start:stop])
    flat = xs.view(batch * size, -1)
    proj = ws("proj", batch * size, weight.shape[0])
    torch.addmm(bias, flat, weight.t(), out=proj)
    return proj.view(batch, size, -1)


def projected_scan(
    x: Tensor,
    weight: Tensor,
    bias: Tensor,
    h0: Tensor,
    gates: SegmentGates,
    *,
    lengths: Tensor | None = None,
    segment: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The blocked scan of a cell whose gates are elementwise functions of ``x W^T + bias``.

    Same contract as :func:`gated_scan` (outputs (B, T, H) and final state (B, H), zeros
    past each length and the state at each last valid step), computed by one autograd
    node that processes cache-sized segments (see :class:`_ProjectedScan`).
    """
    batch, steps = x.shape[0], x.shape[1]
    if steps == 0:
        return x.new_zeros(batch, 0, h0.shape[-1]), h0
    size = segment or segment_steps("blocked", batch, h0.shape[-1], steps)
    out, state = _ProjectedScan.apply(x, weight, bias, h0, gates, size)
    return _apply_lengths(out, out, state, h0, lengths)


# -- the log-space scan ----------------------------------------------------------------------
def log_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> tuple[Tensor, Tensor]:
    """The same recurrence from ``log a_t`` and ``log b_t`` (b_t > 0), one segment, autograd.

    Computed in float64 whatever the input dtype: ``A_t = Σ log a`` grows to thousands
    over long sequences and float32 keeps only ~1e-4 of absolute precision there.
    """
    dtype = h0.dtype
    wide = torch.promote_types(dtype, torch.float64)
    cum = torch.cumsum(log_a.to(wide), 1)
    log_b = log_b.to(wide).clamp(min=_LOG_ZERO)
    h = torch.exp(cum + torch.logcumsumexp(log_b - cum, 1)) + torch.exp(cum) * h0.to(
        wide
    ).unsqueeze(1)
    h = h.to(dtype)
    return h, h[:, -1]


# -- whole sequences -------------------------------------------------------------------------
Coefficients = Callable[[Tensor], tuple[Tensor, ...]]
Readout = Callable[[Tensor, Any], Tensor]


def segment_steps(method: str, batch: int, width: int, steps: int) -> int:
    """Steps per segment: cache-sized for the blocked scan, the whole sequence in log space."""
    if method == "log":
        return steps
    return max(16, min(steps, SEGMENT_ELEMENTS // max(1, batch * width)))


def gated_scan(
    x: Tensor,
    h0: Tensor,
    coefficients: Coefficients,
    *,
    method: str,
    lengths: Tensor | None = None,
    readout: Readout | None = None,
    segment: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Run ``h_t = a_t ⊙ h_{t-1} + b_t`` over batch-first ``x`` (B, T, ·) from ``h0`` (B, H).

    ``coefficients(x_segment)`` maps a segment of the input (B, S, ·) to ``(a, b)`` (each
    (B, S, H)) for ``method="blocked"``, or to ``(log a, log b)`` for ``method="log"``,
    optionally followed by a third item passed on to ``readout``. It is called once per
    segment, so the segment's projection and gates stay in cache.

    ``readout(states, extra)`` turns a segment's states (B, S, H) into its outputs (the
    states themselves when ``readout`` is None).

    Returns outputs (B, T, H) and the final state (B, H). With ``lengths`` (B,), outputs
    past each sequence's end are zero and the final state is the state at its last valid
    step (``h0`` for an empty sequence). Steps past the end are computed but cannot
    affect anything: they come after the taken state, and their outputs are zeroed, so
    they get zero gradient.
    """
    batch, steps = x.shape[0], x.shape[1]
    if steps == 0:
        return x.new_zeros(batch, 0, h0.shape[-1]), h0
    if method not in ("blocked", "log"):
        raise ValueError(f"gated_scan: method must be 'blocked' or 'log', got {method!r}.")
    run = blocked_scan if method == "blocked" else log_scan
    size = segment or segment_steps(method, batch, h0.shape[-1], steps)
    states, outputs = [], []
    state = h0
    # split (not x[:, i:j]) so that backward assembles the input gradient in one cat
    for x_seg in x.split(size, 1):
        first, second, *extra = coefficients(x_seg)
        h, state = run(first, second, state)
        states.append(h)
        outputs.append(h if readout is None else readout(h, extra[0] if extra else None))
    out = _cat(outputs)
    return _apply_lengths(out, out if readout is None else _cat(states), state, h0, lengths)


def _apply_lengths(
    out: Tensor, states: Tensor, final: Tensor, h0: Tensor, lengths: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Zero ``out`` past each length; take the state at each last valid step (h0 if none)."""
    if lengths is None:
        return out, final
    batch, steps = out.shape[0], out.shape[1]
    lengths = lengths.to(device=out.device, dtype=torch.long)
    last = (lengths - 1).clamp(min=0)
    final = states[torch.arange(batch, device=out.device), last]
    final = torch.where((lengths > 0).unsqueeze(1), final, h0)
    mask = length_mask(lengths, steps)
    return out * mask.unsqueeze(2).to(out.dtype), final


def _cat(parts: list[Tensor]) -> Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)
