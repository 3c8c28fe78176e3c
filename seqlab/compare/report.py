"""``report.md`` and the plots of a comparison (matplotlib, Agg: no display needed).

- ``learning_curves.png``: the validation metric (and the training loss) against the
  training step, per cell: the mean over seeds as a line and the min–max range as a band;
  the task's trivial baseline dashed.
- ``metric_vs_parameters.png``: the final headline metric (mean ± std over seeds) against
  the model's parameter count, one point per cell.
- ``grad_flow_heatmaps.png``: ‖∂L/∂h_t‖ over time step × training step for each cell (its
  first seed), side by side; ``grad_flow_profiles.png``: the profile against t at the first
  and the last measurement, mean over seeds, per cell.

The table in ``report.md`` gives, per cell, the mean ± sample standard deviation over
seeds of the headline metric, next to the trivial baseline, parameters, FLOPs per step,
training time, samples/s, peak memory and the gradient-flow ratio (geometric mean over
seeds, since it spans orders of magnitude).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.compare.numbers import (
    best_cell_sentence,
    by_cell,
    fmt,
    fmt_count,
    fmt_mean_std,
    geometric_mean,
    mean_std,
    values_of,
)
from seqlab.compare.plan import CellSpec, ComparisonPlan
from seqlab.compare.results import RunResult, headline_metric

LEARNING_CURVES = "learning_curves.png"
METRIC_VS_PARAMETERS = "metric_vs_parameters.png"
GRAD_FLOW_HEATMAPS = "grad_flow_heatmaps.png"
GRAD_FLOW_PROFILES = "grad_flow_profiles.png"


def summary_table(
    plan: ComparisonPlan, results: Sequence[RunResult]
) -> tuple[list[str], list[list[str]]]:
    """The per-cell table of report.md: header and rows of formatted cells."""
    key, _mode = headline_metric(results)
    header = [
        "cell",
        "hidden",
        "parameters",
        f"{key} (mean ± std)",
        "runs",
        "baseline",
        "FLOPs/step",
        "train time (s)",
        "samples/s",
        "peak memory (MB)",
        "grad-flow ratio (end)",
        "grad-flow ratio (start)",
    ]
    rows = []
    for cell, rs in by_cell(plan, results).items():
        if not rs:
            rows.append([cell.label, "", "", "no finished run", "0"] + [""] * (len(header) - 5))
            continue
        hidden = sorted({r.plan.hidden_size for r in rs})
        rows.append(
            [
                cell.label,
                ", ".join(str(h) for h in hidden),
                fmt_count(statistics.fmean(values_of(rs, "parameters"))),
                fmt_mean_std(values_of(rs, key)),
                str(len(rs)),
                fmt(statistics.fmean(values_of(rs, "baseline")))
                if values_of(rs, "baseline")
                else "–",
                fmt_count(statistics.fmean(values_of(rs, "flops_per_step")))
                if values_of(rs, "flops_per_step")
                else "–",
                fmt_mean_std(values_of(rs, "train_time_s"), 3),
                fmt_mean_std(values_of(rs, "samples_per_s"), 3),
                fmt(statistics.fmean(values_of(rs, "peak_memory_mb")), 4)
                if values_of(rs, "peak_memory_mb")
                else "–",
                fmt(geometric_mean(values_of(rs, "grad_flow_ratio")), 2),
                fmt(geometric_mean(values_of(rs, "grad_flow_ratio_init")), 2),
            ]
        )
    return header, rows


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def _describe_setup(plan: ComparisonPlan) -> list[str]:
    base = plan.base
    opts = ", ".join(f"{k}={v}" for k, v in base.task.options.items())
    m, o = base.model, base.optim
    lines = [
        f"- task: **{base.task.name}** ({opts}), batch {base.task.batch_size}",
        f"- cells: {', '.join(c.label for c in plan.cells)}; seeds {', '.join(map(str, plan.seeds))}"
        f" (a seed fixes the data and its order for every cell)",
        f"- budget per run: {plan.budget.describe()}",
        f"- model: hidden {m.hidden_size}, {m.num_layers} layer(s)"
        + (", bidirectional" if m.bidirectional else "")
        + (f", dropout {m.dropout}" if m.dropout else "")
        + (f", embedding {m.embedding_size}" if m.embedding_size else ""),
        f"- optimiser: {o.name}, lr {o.lr:g}, schedule {o.scheduler}, clip {o.gradient_clip}",
    ]
    if plan.match != "none":
        lines.append(
            f"- hidden sizes chosen so that every model has about as many parameters as "
            f"{plan.match} (the whole model: embedding, recurrent stack, head)"
        )
    if plan.grad_flow_every:
        lines.append(f"- gradient flow measured every {plan.grad_flow_every} steps")
    return lines


def write_report(
    plan: ComparisonPlan,
    results: Sequence[RunResult],
    out: str | Path,
    *,
    failed: Sequence[str] = (),
    command: str | None = None,
) -> Path:
    """Write the plots and ``report.md`` into ``out``; returns the report's path."""
    out = Path(out)
    key, mode = headline_metric(results)
    images = plot_all(plan, results, out)
    header, rows = summary_table(plan, results)
    lines = [f"# Comparison: {plan.name}", ""]
    if command:
        lines += ["```", command, "```", ""]
    lines += [*_describe_setup(plan), ""]
    if results:
        baseline = results[0].summary.get("result", {}).get("baseline_description")
        lines += [
            f"**{key}** ({'lower' if mode == 'min' else 'higher'} is better) of the best "
            f"validation checkpoint of each run, mean ± sample standard deviation over seeds. "
            f"Trivial baseline: {baseline or 'none'}.",
            "",
        ]
        lines += [*_md_table(header, rows), ""]
        best = best_cell_sentence(plan, results, key, mode)
        if best:
            lines += [best, ""]
    else:
        lines += ["No run finished.", ""]
    if failed:
        lines += [f"Failed runs (see their output.log): {', '.join(failed)}.", ""]
    lines += [
        "Columns: *parameters* — the whole model as trained; *FLOPs/step* — forward FLOPs of "
        "one time step of the recurrent stack for one sequence (matrix products, torch's "
        "counter); *train time* — the training loop without validation; *samples/s* — "
        "training sequences per second of it; *peak memory* — "
        + _memory_kind(results)
        + "; *grad-flow ratio* — ‖∂L/∂h₁‖/‖∂L/∂h_T‖ of the first layer at the last (end) "
        "and first (start) measurement, geometric mean over seeds (≪ 1: vanishing gradient).",
        "",
    ]
    for title, name in (
        ("Learning curves", LEARNING_CURVES),
        ("Final metric against parameters", METRIC_VS_PARAMETERS),
        ("Gradient flow through time", GRAD_FLOW_HEATMAPS),
        ("Gradient-flow profiles", GRAD_FLOW_PROFILES),
    ):
        if name in images:
            lines += [f"## {title}", "", f"![{title}]({name})", ""]
    lines += ["Per-run numbers: `results.csv`; run directories: `runs/`."]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _memory_kind(results: Sequence[RunResult]) -> str:
    from seqlab.compare.runner import read_resources

    kinds = {read_resources(r.run_dir).get("peak_memory_kind") for r in results} - {None}
    if kinds == {"torch.cuda.max_memory_allocated"}:
        return "torch.cuda.max_memory_allocated of the run"
    return (
        "the peak resident set size of the run's process (Python, torch and Lightning "
        "included, about 0.4–0.5 GB of it before any data)"
    )


# -- plots -------------------------------------------------------------------------------------------
def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _colors(n: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def curve(run_dir: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``column`` in a run's metrics.csv (rows where it was logged)."""
    from seqlab.tracking.metrics_csv import read_metrics

    path = run_dir / "metrics.csv"
    if not path.is_file():
        return np.zeros(0), np.zeros(0)
    points: dict[float, float] = {}
    for row in read_metrics(path):
        v, s = row.get(column), row.get("step")
        if v is not None and s is not None and math.isfinite(v):
            points[s] = v  # a step logged twice (resumed run): the later value
    steps = np.array(sorted(points))
    return steps, np.array([points[s] for s in steps])


def band(
    curves: Sequence[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max over runs on the union of their steps (each run interpolated
    linearly inside its own range only)."""
    grid = np.unique(np.concatenate([s for s, _ in curves])) if curves else np.zeros(0)
    stack = np.full((len(curves), len(grid)), np.nan)
    for i, (s, v) in enumerate(curves):
        if len(s) == 0:
            continue
        inside = (grid >= s[0]) & (grid <= s[-1])
        stack[i, inside] = np.interp(grid[inside], s, v)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return grid, np.nanmean(stack, 0), np.nanmin(stack, 0), np.nanmax(stack, 0)


def _val_baseline(results: Sequence[RunResult], metric: str) -> float | None:
    for b in results[0].summary.get("baselines", []) if results else []:
        if b.get("split") == "val" and b.get("metric") == metric:
            return b.get("value")
    return None


def _maybe_log(ax: Any, values: Sequence[float], axis: str = "y") -> None:
    positive = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if positive and len(positive) == len(values) and max(positive) / min(positive) > 20:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def plot_learning_curves(
    plan: ComparisonPlan, results: Sequence[RunResult], path: Path
) -> Path | None:
    metric = results[0].summary.get("task", {}).get("metric", "") if results else ""
    val_key = f"val_{metric}"
    groups = by_cell(plan, results)
    panels = [(val_key, f"validation {metric}"), ("train_loss", "training loss")]
    data = {
        k: {c: [curve(r.run_dir, k) for r in rs] for c, rs in groups.items()} for k, _ in panels
    }
    panels = [(k, t) for k, t in panels if any(len(s) for cs in data[k].values() for s, _ in cs)]
    if not panels:
        return None
    fig = _figure(6.2 * len(panels), 4.2)
    for i, (key, title) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        everything: list[float] = []
        for color, (cell, curves) in zip(_colors(len(groups)), data[key].items(), strict=True):
            curves = [c for c in curves if len(c[0])]
            if not curves:
                continue
            grid, mean, lo, hi = band(curves)
            ax.plot(
                grid,
                mean,
                color=color,
                label=f"{cell.label} (n={len(curves)})",
                marker="o" if len(grid) < 15 else None,
                markersize=3,
            )
            if len(curves) > 1:
                ax.fill_between(grid, lo, hi, color=color, alpha=0.2, linewidth=0)
            everything += [v for v in np.concatenate([lo, hi]) if math.isfinite(v)]
        baseline = _val_baseline(results, metric) if key == val_key else None
        if baseline is not None:
            ax.axhline(
                baseline, color="grey", linestyle="--", linewidth=1, label="trivial baseline"
            )
            everything.append(baseline)
        _maybe_log(ax, everything)
        ax.set_xlabel("training step")
        ax.set_ylabel(key)
        ax.set_title(f"{title}: mean and min–max over seeds", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
    fig.savefig(path)
    return path


def plot_metric_vs_parameters(
    plan: ComparisonPlan, results: Sequence[RunResult], path: Path
) -> Path | None:
    key, _mode = headline_metric(results)
    groups = by_cell(plan, results)
    points = []
    for cell, rs in groups.items():
        ys, xs = values_of(rs, key), values_of(rs, "parameters")
        if ys and xs:
            mean, std = mean_std(ys)
            points.append((cell, statistics.fmean(xs), mean, std or 0.0))
    if not points:
        return None
    fig = _figure(6.4, 4.4)
    ax = fig.add_subplot(1, 1, 1)
    for color, (cell, x, y, err) in zip(_colors(len(points)), points, strict=True):
        ax.errorbar([x], [y], yerr=[err], fmt="o", color=color, capsize=4, label=cell.label)
        ax.annotate(cell.label, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    baseline = (
        statistics.fmean(values_of(results, "baseline")) if values_of(results, "baseline") else None
    )
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle="--", linewidth=1, label="trivial baseline")
    _maybe_log(ax, [p[1] for p in points], "x")
    _maybe_log(ax, [p[2] for p in points] + ([baseline] if baseline else []))
    ax.set_xlabel("parameters (whole model)")
    ax.set_ylabel(f"{key} (mean ± std over seeds)")
    ax.set_title(f"{key} against model size", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.12, top=0.92)
    fig.savefig(path)
    return path


def _histories(
    plan: ComparisonPlan, results: Sequence[RunResult]
) -> dict[CellSpec, list[tuple[int, Any]]]:
    from seqlab.diagnostics.grad_flow import load_grad_flow
    from seqlab.errors import DataError

    out: dict[CellSpec, list[tuple[int, Any]]] = {}
    for cell, rs in by_cell(plan, results).items():
        for r in rs:
            try:
                history = load_grad_flow(r.run_dir)
            except (DataError, OSError, KeyError, ValueError):
                continue
            h = history.get("l0") or next(iter(history.values()), None)
            if h is not None and h.norms:
                out.setdefault(cell, []).append((r.plan.seed, h))
    return out


def plot_grad_flow(
    plan: ComparisonPlan, results: Sequence[RunResult], heatmaps: Path, profiles: Path
) -> list[Path]:
    """Heatmaps side by side (first seed of each cell) and the start/end profiles."""
    from seqlab.diagnostics.grad_flow import plot_heatmaps

    found = _histories(plan, results)
    if not found:
        return []
    plot_heatmaps(
        {f"{cell.label} (seed {hs[0][0]})": hs[0][1] for cell, hs in found.items()}, heatmaps
    )
    fig = _figure(6.8, 4.4)
    ax = fig.add_subplot(1, 1, 1)
    for color, (cell, hs) in zip(_colors(len(found)), found.items(), strict=True):
        for which, style in ((0, ":"), (-1, "-")):
            profs = [np.asarray(h.norms[which], dtype=float) for _, h in hs]
            t_max = min(len(p) for p in profs)
            with np.errstate(divide="ignore", invalid="ignore"):
                # A gradient that underflowed to 0 in any seed makes the mean 0: a gap on
                # the log axis, rather than a mean over the seeds that did not underflow.
                mean = 10 ** np.mean(np.log10(np.stack([p[:t_max] for p in profs])), 0)
            step = hs[0][1].steps[which]
            ax.plot(
                np.arange(1, t_max + 1),
                mean,
                style,
                color=color,
                label=f"{cell.label}, step {step}",
            )
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel("‖∂L/∂h_t‖ (geometric mean over seeds; gaps: 0)")
    ax.set_title(
        "gradient reaching each step: first (dotted) and last (solid) measurement", fontsize=9
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.12, top=0.92)
    fig.savefig(profiles)
    return [heatmaps, profiles]


def plot_all(plan: ComparisonPlan, results: Sequence[RunResult], out: Path) -> dict[str, Path]:
    """Every plot that has data; ``{file name: path}``."""
    made: dict[str, Path] = {}
    if not results:
        return made
    for name, draw in (
        (LEARNING_CURVES, plot_learning_curves),
        (METRIC_VS_PARAMETERS, plot_metric_vs_parameters),
    ):
        p = draw(plan, results, out / name)
        if p is not None:
            made[name] = p
    for p in plot_grad_flow(plan, results, out / GRAD_FLOW_HEATMAPS, out / GRAD_FLOW_PROFILES):
        made[p.name] = p
    return made


__all__ = [
    "GRAD_FLOW_HEATMAPS",
    "GRAD_FLOW_PROFILES",
    "LEARNING_CURVES",
    "METRIC_VS_PARAMETERS",
    "band",
    "best_cell_sentence",
    "curve",
    "fmt_mean_std",
    "geometric_mean",
    "mean_std",
    "plot_all",
    "summary_table",
    "write_report",
]
