"""The results of a comparison: one row per run, read back from its run directory.

Each row joins what the run wrote — ``summary.json`` (every final metric by its logged
name, the baseline, parameter count, steps), ``resources.json`` (training time, samples/s,
peak memory; :mod:`seqlab.compare.worker`) and ``grad_flow/grad_flow.npz`` — with what the
plan measured (FLOPs per step). ``results.csv`` holds the rows.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.compare.plan import RunPlan
from seqlab.compare.runner import RunOutcome, read_resources

# The fixed columns of results.csv before the metrics, and after them.
LEADING = ("cell", "cell_name", "seed", "hidden_size", "parameters")
TRAILING = (
    "baseline",
    "global_step",
    "epochs",
    "train_time_s",
    "samples_per_s",
    "tokens_per_s",
    "peak_memory_mb",
    "flops_per_step",
    "grad_flow_ratio",
    "grad_flow_ratio_init",
    "wall_time_s",
    "status",
    "run_dir",
)


@dataclass
class RunResult:
    """One finished run: its plan, its row of ``results.csv``, and its summary."""

    plan: RunPlan
    row: dict[str, Any]
    summary: dict[str, Any]
    run_dir: Path

    @property
    def metrics(self) -> dict[str, float]:
        return {
            k: v for k, v in self.summary.get("metrics", {}).items() if isinstance(v, int | float)
        }


def grad_flow_ratios(run_dir: Path) -> tuple[float | None, float | None]:
    """(last, first) ‖∂L/∂h₁‖/‖∂L/∂h_T‖ of the first layer's record (None: not measured)."""
    from seqlab.diagnostics.grad_flow import gradient_ratio, load_grad_flow
    from seqlab.errors import DataError

    try:
        history = load_grad_flow(run_dir)
    except (DataError, OSError, KeyError, ValueError):
        return None, None
    if not history:
        return None, None
    h = history["l0"] if "l0" in history else next(iter(history.values()))
    if not h.norms:
        return None, None
    return _finite(gradient_ratio(h.norms[-1])), _finite(gradient_ratio(h.norms[0]))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def collect(outcomes: Sequence[RunOutcome]) -> list[RunResult]:
    """The rows of the finished runs, in plan order (failed runs have no row)."""
    results = []
    for o in outcomes:
        if not o.ok or o.run_dir is None:
            continue
        summary = json.loads((o.run_dir / "summary.json").read_text(encoding="utf-8"))
        res = read_resources(o.run_dir)
        ratio, ratio_init = grad_flow_ratios(o.run_dir)
        plan = o.plan
        row: dict[str, Any] = {
            "cell": plan.cell.label,
            "cell_name": plan.cell.name,
            "seed": plan.seed,
            "hidden_size": plan.hidden_size,
            "parameters": summary.get("parameters", {}).get("total", plan.parameters),
        }
        row.update({k: v for k, v in summary.get("metrics", {}).items()})
        row.update(
            {
                "baseline": summary.get("result", {}).get("baseline"),
                "global_step": summary.get("global_step"),
                "epochs": summary.get("epochs"),
                "train_time_s": res.get("train_time_s"),
                "samples_per_s": res.get("samples_per_s"),
                "tokens_per_s": res.get("tokens_per_s"),
                "peak_memory_mb": res.get("peak_memory_mb"),
                "flops_per_step": plan.flops_per_step,
                "grad_flow_ratio": ratio,
                "grad_flow_ratio_init": ratio_init,
                "wall_time_s": summary.get("wall_time_s"),
                "status": o.status,
                "run_dir": str(o.run_dir),
            }
        )
        results.append(RunResult(plan, row, summary, o.run_dir))
    return results


def metric_columns(results: Sequence[RunResult]) -> list[str]:
    """Every final metric any run logged: ``val_*`` first, then ``test_*``, then the rest."""
    names: set[str] = set()
    for r in results:
        names.update(r.summary.get("metrics", {}))

    def order(name: str) -> tuple[int, str]:
        return ({"val": 0, "test": 1}.get(name.split("_", 1)[0], 2), name)

    return sorted(names, key=order)


def columns(results: Sequence[RunResult]) -> list[str]:
    return [*LEADING, *metric_columns(results), *TRAILING]


def write_csv(results: Sequence[RunResult], path: str | Path) -> Path:
    """``results.csv``: one row per finished run; empty cells where a value is missing."""
    path = Path(path)
    cols = columns(results)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        for r in results:
            writer.writerow({c: "" if r.row.get(c) is None else r.row.get(c) for c in cols})
    tmp.replace(path)
    return path


def headline_metric(results: Sequence[RunResult]) -> tuple[str, str]:
    """``(column, mode)``: ``test_<metric>`` when every run has it, else ``val_<metric>``."""
    if not results:
        return "", "min"
    task = results[0].summary.get("task", {})
    metric, mode = task.get("metric", ""), task.get("metric_mode", "min")
    test = f"test_{metric}"
    key = test if all(test in r.metrics for r in results) else f"val_{metric}"
    return key, mode


__all__ = [
    "RunResult",
    "collect",
    "columns",
    "grad_flow_ratios",
    "headline_metric",
    "metric_columns",
    "write_csv",
]
