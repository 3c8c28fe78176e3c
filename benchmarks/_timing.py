"""Timing helpers shared by the benchmarks: fwd+bwd medians measured in one process."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def fwd_bwd_ms(run: Callable[[], torch.Tensor], *, warmup: int = 3, repeats: int = 15) -> float:
    """Median wall time in ms of ``run().sum().backward()`` (``run`` returns the outputs)."""
    for _ in range(warmup):
        run().sum().backward()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run().sum().backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def interleaved(runs: dict[str, Callable[[], torch.Tensor]], *, rounds: int = 5, repeats: int = 5,
                warmup: int = 3) -> dict[str, float]:
    """Median ms per candidate, alternating candidates round by round so machine noise
    (other processes on a shared 2-core box) hits them all alike."""
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
