"""Throughput of cells: fwd+bwd time, samples/s and ratio to ``torch.nn.LSTM``.

Timings are taken in one process with the candidates interleaved round by round, so
noise from other processes on a shared machine hits them all alike; the median is kept.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from seqlab.cells.registry import count_parameters
from seqlab.errors import ConfigError
from seqlab.recurrent import Recurrent
from seqlab.validation import positive_int

REFERENCE = "torch.nn.LSTM"


def interleaved_ms(
    runs: dict[str, Callable[[], Tensor]], *, rounds: int = 5, repeats: int = 5, warmup: int = 2
) -> dict[str, float]:
    """Median ms of ``run().sum().backward()`` per candidate, alternating candidates."""
    for run in runs.values():
        for _ in range(warmup):
            run().sum().backward()
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            for _ in range(repeats):
                t0 = time.perf_counter()
                run().sum().backward()
                samples[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) * 1e3 for k, v in samples.items()}


@dataclass(frozen=True)
class BenchRow:
    """One cell's throughput at one configuration."""

    cell: str
    batch_size: int
    seq_len: int
    input_size: int
    hidden_size: int
    parameters: int
    fwd_bwd_ms: float
    samples_per_s: float
    ratio_to_lstm: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def bench_cells(
    cells: list[str],
    *,
    batch_size: int = 64,
    seq_len: int = 100,
    input_size: int = 32,
    hidden_size: int = 128,
    device: str = "cpu",
    rounds: int = 3,
    repeats: int = 3,
    progress: Callable[[str], None] | None = None,
) -> list[BenchRow]:
    """Measure fwd+bwd of ``seqlab.Recurrent(cell)`` for each cell against torch.nn.LSTM."""
    if not cells:
        raise ConfigError("bench needs at least one cell name, e.g. --cells lstm,gru.")
    for label, value in (
        ("batch_size", batch_size),
        ("seq_len", seq_len),
        ("input_size", input_size),
        ("hidden_size", hidden_size),
    ):
        positive_int(f"bench: {label}", value)
    torch.manual_seed(0)
    x = torch.randn(batch_size, seq_len, input_size, device=device, requires_grad=True)
    reference = nn.LSTM(input_size, hidden_size, batch_first=True).to(device)
    rows: list[BenchRow] = []
    for name in cells:
        if progress:
            progress(name)
        layer = Recurrent(name, input_size, hidden_size).to(device)
        ms = interleaved_ms(
            {REFERENCE: lambda: reference(x)[0], name: lambda layer=layer: layer(x)[0]},
            rounds=rounds,
            repeats=repeats,
        )
        rows.append(
            BenchRow(
                cell=name,
                batch_size=batch_size,
                seq_len=seq_len,
                input_size=input_size,
                hidden_size=hidden_size,
                parameters=count_parameters(layer),
                fwd_bwd_ms=round(ms[name], 3),
                samples_per_s=round(batch_size / (ms[name] / 1e3), 1),
                ratio_to_lstm=round(ms[name] / ms[REFERENCE], 3),
            )
        )
    return rows
