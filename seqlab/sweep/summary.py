"""A local sweep's summary: ``summary.csv`` and ``summary.md``, the best run marked."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from seqlab.sweep.running import RunResult
from seqlab.sweep.sampling import describe_params
from seqlab.sweep.spec import SweepSpec

# summary.json keys shown next to the metrics (seqlab fit's layout), and their column names
_EXTRA_COLUMNS = {
    "result.baseline": "baseline",
    "parameters.total": "parameters",
    "wall_time_s": "wall_time_s",
}


def metric_value(metrics: Mapping[str, Any], name: str) -> Any:
    """A run's value of ``name``: the flattened key itself, or ``metrics.<name>`` (seqlab fit's layout)."""
    return metrics[name] if name in metrics else metrics.get(f"metrics.{name}")


def _metric_columns(results: Sequence[RunResult], metric: str | None) -> list[tuple[str, str]]:
    """``(column, flattened key)`` pairs: ``metrics.*`` of seqlab fit's summary.json plus a few
    extras, or every numeric value of a summary laid out otherwise; the sweep's metric first."""
    keys: list[str] = []
    for r in results:
        keys += [k for k in r.metrics if k not in keys]
    if any(k.startswith("metrics.") for k in keys):
        cols = sorted((k.removeprefix("metrics."), k) for k in keys if k.startswith("metrics."))
        cols += [(name, k) for k, name in _EXTRA_COLUMNS.items() if k in keys]
    else:
        numeric = {
            k
            for r in results
            for k, v in r.metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        cols = sorted((k, k) for k in keys if k in numeric)
    if metric is not None:
        first = [c for c in cols if metric in c]
        cols = first[:1] + [c for c in cols if c not in first[:1]]
    return cols


def best_run(results: Sequence[RunResult], metric: Mapping[str, Any] | None) -> RunResult | None:
    """The run with the best value of the sweep's metric (None without a metric or values)."""
    if not metric:
        return None
    name = metric["name"]
    scored = [
        r
        for r in results
        if isinstance(metric_value(r.metrics, name), int | float)
        and math.isfinite(metric_value(r.metrics, name))
    ]
    if not scored:
        return None
    pick = min if metric.get("goal", "minimize") == "minimize" else max
    return pick(scored, key=lambda r: metric_value(r.metrics, name))


def summary_rows(
    spec: SweepSpec, results: Sequence[RunResult]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The summary table: columns and one row per run (swept parameters, metrics, run dir)."""
    metric_name = spec.metric["name"] if spec.metric else None
    params = spec.swept_keys or list(spec.parameters)
    metrics = _metric_columns(results, metric_name)
    columns = ["run", "status", *params, *[c for c, _ in metrics], "seconds", "run_dir"]
    rows = []
    for r in results:
        row: dict[str, Any] = {"run": r.run_id, "status": r.status}
        row.update({k: _plain(r.params.get(k)) for k in params})
        row.update({c: r.metrics.get(k) for c, k in metrics})
        row["seconds"] = round(r.seconds, 1)
        row["run_dir"] = str(r.run_dir) if r.run_dir else ""
        rows.append(row)
    return columns, rows


def _plain(value: Any) -> Any:
    """Lists and mappings as JSON text (CSV and Markdown cells hold strings)."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def _md(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def write_summary(
    spec: SweepSpec, results: Sequence[RunResult], out_dir: str | Path
) -> tuple[Path, Path]:
    """Write ``summary.csv`` and ``summary.md`` (best run marked) into ``out_dir``."""
    out = Path(out_dir)
    columns, rows = summary_rows(spec, results)
    csv_path, md_path = out / "summary.csv", out / "summary.md"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    best = best_run(results, spec.metric)
    lines = [
        f"# Sweep {spec.name}",
        "",
        f"{len(results)} runs, method {spec.method}"
        + (f", metric {spec.metric['name']} ({spec.metric['goal']})" if spec.metric else "")
        + ".",
        "",
    ]
    if best is not None:
        swept = {k: best.params[k] for k in spec.swept_keys} or best.params
        lines += [
            f"Best: **{best.run_id}** ({describe_params(swept)}), "
            f"{spec.metric['name']} = {_md(metric_value(best.metrics, spec.metric['name']))}.",
            "",
        ]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for r, row in zip(results, rows, strict=True):
        cells = [_md(row[c]) for c in columns]
        if best is not None and r is best:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path, md_path


__all__ = ["best_run", "metric_value", "summary_rows", "write_summary"]
