"""Throughput of cells: fwd+bwd time, samples/s and ratio to ``torch.nn.LSTM``.

Timings are taken in one process with the candidates interleaved round by round, the
order alternating between rounds, so noise from other processes on a shared machine
hits them all alike; each round's ratio to the reference is kept, and the median ratio
is reported with its spread (interquartile range). Every sample is a
``torch.utils.benchmark.Timer`` measurement, which synchronises CUDA, so on a GPU the
kernels are timed and not just their launches.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.utils.benchmark as tbench
from torch import Tensor, nn

from seqlab.cells.registry import count_parameters
from seqlab.errors import ConfigError
from seqlab.recurrent import Recurrent
from seqlab.validation import positive_int

REFERENCE = "torch.nn.LSTM"
#: The ``lstm`` row runs torch's own kernel through seqlab, so its ratio is ~1×; outside
#: this range the machine was too busy (or throttled) for the ratios to mean much.
LSTM_SANE_RATIO = (0.8, 1.25)

CellSpec = str | tuple[str, Mapping[str, Any]]
"""A cell to bench: a registry name, or ``(name, options)`` for the cell's constructor."""


def fwd_bwd(run: Callable[[], Tensor]) -> Callable[[], None]:
    """One training step's recurrent work: forward, then backward of the output's sum."""
    return lambda: run().sum().backward()


def time_call(fn: Callable[[], object], repeats: int) -> float:
    """Seconds per call of ``fn``, averaged over ``repeats`` calls (CUDA synchronised)."""
    return tbench.Timer(stmt="fn()", globals={"fn": fn}).timeit(repeats).mean


def interleaved_samples(
    runs: Mapping[str, Callable[[], object]],
    *,
    rounds: int = 5,
    repeats: int = 5,
    warmup: int = 2,
) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one sample per round.

    Rounds alternate the order (forward, then reversed), so whichever side a slow
    moment of the machine favours changes from round to round.
    """
    names = list(runs)
    for fn in runs.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            samples[name].append(time_call(runs[name], repeats))
    return samples


def interleaved_ms(
    runs: dict[str, Callable[[], Tensor]], *, rounds: int = 5, repeats: int = 5, warmup: int = 2
) -> dict[str, float]:
    """Median ms of ``run().sum().backward()`` per candidate, alternating candidates."""
    samples = interleaved_samples(
        {k: fwd_bwd(v) for k, v in runs.items()}, rounds=rounds, repeats=repeats, warmup=warmup
    )
    return {k: statistics.median(v) * 1e3 for k, v in samples.items()}


def ratio_spread(
    samples: Sequence[float], reference: Sequence[float]
) -> tuple[float, float, float]:
    """Median, lower and upper quartile of the per-round ratios ``samples / reference``."""
    ratios = sorted(s / r for s, r in zip(samples, reference, strict=True))
    if len(ratios) < 2:
        return ratios[0], ratios[0], ratios[0]
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return statistics.median(ratios), q1, q3


@dataclass(frozen=True)
class BenchRow:
    """One cell's throughput at one configuration; the ratio's spread is its IQR."""

    cell: str
    batch_size: int
    seq_len: int
    input_size: int
    hidden_size: int
    parameters: int
    fwd_bwd_ms: float
    samples_per_s: float
    ratio_to_lstm: float
    ratio_q1: float
    ratio_q3: float
    compiled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cell_label(spec: CellSpec) -> str:
    """``lstm`` or ``lstm[forget_bias=0]``."""
    if isinstance(spec, str):
        return spec
    name, options = spec
    inner = ",".join(f"{k}={v}" for k, v in options.items())
    return f"{name}[{inner}]" if inner else name


def load_warning(rows: Sequence[BenchRow]) -> str | None:
    """A warning when the ``lstm`` row (torch's kernel, ~1×) says the machine was busy."""
    low, high = LSTM_SANE_RATIO
    for r in rows:
        if r.cell == "lstm" and not r.compiled and not low <= r.ratio_to_lstm <= high:
            return (
                f"the lstm row is {r.ratio_to_lstm:.2f}× torch.nn.LSTM although it runs the "
                f"same kernel (expected {low}–{high}×): the machine was busy or throttled "
                f"while timing, so the ratios are unreliable. Rerun on a quiet machine or "
                f"with more --rounds."
            )
    return None


def bench_cells(
    cells: Sequence[CellSpec],
    *,
    batch_size: int = 64,
    seq_len: int = 100,
    input_size: int = 32,
    hidden_size: int = 128,
    device: str = "cpu",
    rounds: int = 3,
    repeats: int = 3,
    compile: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[BenchRow]:
    """Measure fwd+bwd of ``seqlab.Recurrent(cell)`` for each cell against torch.nn.LSTM.

    ``cells`` are registry names or ``(name, options)``; ``compile`` builds the layers
    with ``compile=True`` (the compile happens during the warm-up, outside the timing).
    """
    if not cells:
        raise ConfigError("bench needs at least one cell name, e.g. --cells lstm,gru.")
    for label, value in (
        ("batch_size", batch_size),
        ("seq_len", seq_len),
        ("input_size", input_size),
        ("hidden_size", hidden_size),
        ("rounds", rounds),
        ("repeats", repeats),
    ):
        positive_int(f"bench: {label}", value)
    torch.manual_seed(0)
    x = torch.randn(batch_size, seq_len, input_size, device=device, requires_grad=True)
    reference = nn.LSTM(input_size, hidden_size, batch_first=True).to(device)
    layers = {}  # all built before any timing: a bad name or option fails at once
    for spec in cells:
        name, options = (spec, {}) if isinstance(spec, str) else spec
        layer = Recurrent(name, input_size, hidden_size, compile=compile, **options)
        layers[cell_label(spec)] = layer.to(device)
    rows: list[BenchRow] = []
    for label, layer in layers.items():
        if progress:
            progress(label)
        samples = interleaved_samples(
            {
                REFERENCE: fwd_bwd(lambda: reference(x)[0]),
                label: fwd_bwd(lambda layer=layer: layer(x)[0]),
            },
            rounds=rounds,
            repeats=repeats,
        )
        ms = statistics.median(samples[label]) * 1e3
        ratio, q1, q3 = ratio_spread(samples[label], samples[REFERENCE])
        rows.append(
            BenchRow(
                cell=label,
                batch_size=batch_size,
                seq_len=seq_len,
                input_size=input_size,
                hidden_size=hidden_size,
                parameters=count_parameters(layer),
                fwd_bwd_ms=round(ms, 3),
                samples_per_s=round(batch_size / (ms / 1e3), 1),
                ratio_to_lstm=round(ratio, 3),
                ratio_q1=round(q1, 3),
                ratio_q3=round(q3, 3),
                compiled=compile,
            )
        )
    return rows
