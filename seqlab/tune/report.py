"""What a tune leaves: ``trials.csv``, ``best-<cell>.yaml``, ``search.png`` and the best
trial of each cell measured on the test split.

The report is made from the storage, so it covers every process that worked on the
studies. The test split is touched here only, once per cell, by evaluating the best
trial's best checkpoint (:func:`seqlab.training.evaluate`): the search itself saw
validation data only.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from seqlab.config import Config, resolve_config
from seqlab.errors import SeqlabError
from seqlab.tasks import Baseline
from seqlab.tune.objective import cell_values
from seqlab.tune.selection import chosen_trial
from seqlab.tune.space import Dimension
from seqlab.tune.study import counted

TRIALS_CSV = "trials.csv"
PLOT = "search.png"


@dataclass
class CellBest:
    """The best trial of one cell's study.

    Attributes:
        cell: the cell. trials: counted trials by state (``complete``, ``pruned``...).
        number: the best trial's number (``None``: no trial completed).
        val: its validation metric. test: its best checkpoint's test metric (``None``:
            no test split, or no checkpoint). params: its values of the space.
        config_file: ``best-<cell>.yaml``, runnable with ``seqlab fit --config``.
        run_dir: the best trial's run directory.
    """

    cell: str
    trials: dict[str, int] = field(default_factory=dict)
    number: int | None = None
    val: float | None = None
    test: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    config_file: Path | None = None
    run_dir: Path | None = None


def _value(v: Any) -> Any:
    return "" if v is None else v


def trial_rows(studies: dict[str, optuna.Study], monitor: str) -> list[dict[str, Any]]:
    """One row per counted trial of every cell: state, value, seconds, values, run."""
    rows = []
    for cell, study in studies.items():
        for t in study.get_trials(deepcopy=False):
            if not counted(t):
                continue
            rows.append(
                {
                    "cell": cell,
                    "trial": t.number,
                    "state": t.state.name.lower(),
                    monitor: _value(t.value),
                    "seconds": _value(t.user_attrs.get("seconds")),
                    **{k: v for k, v in t.params.items()},
                    "run_dir": t.user_attrs.get("run_dir", ""),
                    "error": t.user_attrs.get("error", ""),
                }
            )
    return rows


def write_trials_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    tail = [c for c in ("run_dir", "error") if c in columns]
    columns = [c for c in columns if c not in tail] + tail
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def best_config(base: Config, cell: str, dims: list[Dimension], trial: Any) -> Config:
    """The config of ``trial`` as ``seqlab fit`` would train it again: ``base`` with its
    cell and values (fixed ones included), in the default run directory, tested."""
    values = {d.key: d.values[0] for d in dims if d.fixed}
    values.update(trial.params)
    config = resolve_config(overrides=cell_values(base, cell, values), base=base)
    config.trainer.test = True
    return config.validate()


def test_metric(trial: Any, metric: str) -> float | None:
    """The test ``metric`` of the checkpoint the trial's value was measured on (its best,
    else its last; ``None`` without one, or when the task has no test split)."""
    from seqlab.training import evaluate

    ckpt = trial.user_attrs.get("checkpoint")
    if not ckpt or not Path(ckpt).exists():
        return None
    try:
        metrics = evaluate("test", ckpt, accelerator="cpu", quiet=True)
    except SeqlabError:
        return None
    return metrics.get(f"test_{metric}")


def cell_best(
    cell: str,
    study: optuna.Study,
    base: Config,
    dims: list[Dimension],
    out: Path,
    metric: str,
    min_gain: float = 0.0,
) -> CellBest:
    """The best trial of ``cell`` (:func:`~seqlab.tune.selection.chosen_trial`): its
    numbers, ``best-<cell>.yaml`` written, test measured."""
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        if counted(t):
            counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    best = CellBest(cell, counts)
    trial = chosen_trial(study, min_gain)
    if trial is None:  # no complete trial
        return best
    best.number, best.val, best.params = trial.number, trial.value, dict(trial.params)
    best.config_file = out / f"best-{cell}.yaml"
    header = (
        f"# seqlab tune: the best of {sum(counts.values())} trials of {cell} "
        f"(trial {trial.number}, val_{metric} {trial.value:.6g}).\n"
        f"# Train it again: seqlab fit --config {best.config_file.name}\n"
    )
    best.config_file.write_text(
        header + best_config(base, cell, dims, trial).to_yaml(), encoding="utf-8"
    )
    run_dir = trial.user_attrs.get("run_dir")
    best.run_dir = Path(run_dir) if run_dir else None
    best.test = test_metric(trial, metric)
    return best


def plot_search(
    rows: list[dict[str, Any]], monitor: str, mode: str, path: Path, baseline: float | None = None
) -> Path | None:
    """``search.png``: each trial's value (dots) and the running best (a step line), one
    colour per cell, against the trial number, and the task's validation ``baseline``
    (dashed); ``None`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for cell in dict.fromkeys(r["cell"] for r in rows):
        done = [r for r in rows if r["cell"] == cell and r["state"] == "complete"]
        done.sort(key=lambda r: r["trial"])
        xs, ys = [r["trial"] for r in done], [float(r[monitor]) for r in done]
        if not xs:
            continue
        (dots,) = ax.plot(xs, ys, "o", alpha=0.5, label=f"{cell} trials")
        pick = min if mode == "min" else max
        running = [pick(ys[: i + 1]) for i in range(len(ys))]
        ax.step(xs, running, where="post", color=dots.get_color(), label=f"{cell} best so far")
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle="--", linewidth=1, label="trivial baseline")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(monitor)
    ax.set_title(f"search: {monitor} ({'lower' if mode == 'min' else 'higher'} is better)")
    if ax.lines:
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def test_baselines(baselines: tuple[Baseline, ...], metric: str) -> list[Baseline]:
    """The task's baselines of ``metric`` on the test split (else on any split)."""
    own = [b for b in baselines if b.metric == metric]
    return [b for b in own if b.split == "test"] or own


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


__all__ = [
    "PLOT",
    "TRIALS_CSV",
    "CellBest",
    "best_config",
    "cell_best",
    "finite",
    "plot_search",
    "test_baselines",
    "test_metric",
    "trial_rows",
    "write_trials_csv",
]
