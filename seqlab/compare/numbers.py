"""The numbers of a comparison's report: means ± std over seeds, geometric means, one
number format, and which cell is best (and whether the seeds' spread allows saying so)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from seqlab.compare.plan import CellSpec, ComparisonPlan
from seqlab.compare.results import RunResult


def values_of(results: Sequence[RunResult], key: str) -> list[float]:
    out = []
    for r in results:
        v = r.row.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
    return out


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None with fewer than 2 values)."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def geometric_mean(values: Sequence[float]) -> float | None:
    """Geometric mean of non-negative values (0 when any is 0: a gradient that underflowed)."""
    if not values:
        return None
    if any(v <= 0 for v in values):
        return 0.0
    return math.exp(statistics.fmean(math.log(v) for v in values))


def fmt(value: float | None, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits, one way for every size: thousands
    separated by commas from 1,000 up (``1,361``, ``11,170``), never in exponent form
    there."""
    if value is None:
        return "–"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{float(f'{value:.{digits}g}'):,.0f}"
    return f"{value:.{digits}g}"


def fmt_count(value: float | None) -> str:
    """An exact count (parameters, FLOPs) in full with thousands separators: ``1,221,249``;
    significant digits would make two models' counts look equal when they are not."""
    return "–" if value is None else f"{round(value):,}"


def fmt_mean_std(values: Sequence[float], digits: int = 4) -> str:
    mean, std = mean_std(values)
    if mean is None:
        return "–"
    return fmt(mean, digits) + (f" ± {std:.2g}" if std is not None else "")


def by_cell(plan: ComparisonPlan, results: Sequence[RunResult]) -> dict[CellSpec, list[RunResult]]:
    return {c: [r for r in results if r.plan.cell == c] for c in plan.cells}


def best_cell_sentence(
    plan: ComparisonPlan, results: Sequence[RunResult], key: str, mode: str
) -> str:
    """``Best mean KEY: **cell**.``, saying so when its mean ± std over seeds overlaps the
    runner-up's (the ranking could change with other seeds); ``""`` without results."""
    stats = {
        c.label: mean_std(v)
        for c, rs in by_cell(plan, results).items()
        if (v := values_of(rs, key))
    }
    if not stats:
        return ""
    ranked = sorted(stats, key=lambda c: stats[c][0], reverse=mode != "min")  # type: ignore[arg-type,return-value]
    best = ranked[0]
    sentence = f"Best mean {key}: **{best}**."
    if len(ranked) < 2:
        return sentence
    second = ranked[1]
    (m1, s1), (m2, s2) = stats[best], stats[second]
    assert m1 is not None and m2 is not None
    if s1 is None or s2 is None:
        return sentence + " (One seed per cell: no spread to judge the ranking by.)"
    if abs(m1 - m2) <= s1 + s2:
        return (
            f"Best mean {key}: **{best}**, but its spread over seeds (± {s1:.2g}) overlaps "
            f"that of {second} (± {s2:.2g}): not a clear winner; more seeds would tell."
        )
    return sentence


__all__ = [
    "best_cell_sentence",
    "by_cell",
    "fmt",
    "fmt_count",
    "fmt_mean_std",
    "geometric_mean",
    "mean_std",
    "values_of",
]
