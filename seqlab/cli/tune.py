"""``seqlab tune``: hyperparameter search on Optuna within a budget (see :mod:`seqlab.tune`)."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from seqlab.cli.app import console, err_console
from seqlab.cli.options import ConfigArgs, ConfigBlock, schema_command

# Set per trial by the tune: its cell (--cells), its run directory under --out, quietly.
OWNED_KEYS = ("model.cell", "run.dir", "run.name", "run.quiet", "run.resume")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in params.items())


def print_result(result: Any) -> None:
    """The best trial of each cell: validation and test metric, values, next to the
    task's baselines."""
    from seqlab.tune.report import test_baselines

    m = result.metric
    better = "lower" if result.mode == "min" else "higher"
    table = Table(title=f"tune {result.study}: best per cell ({better} {m} is better)")
    for col in ("cell", "trials", f"val_{m}", f"test_{m}", "values", "config"):
        table.add_column(col, justify="left" if col in ("cell", "values", "config") else "right")
    for b in result.best:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(b.trials.items()))
        config = b.config_file.name if b.config_file else "-"
        table.add_row(b.cell, counts, _fmt(b.val), _fmt(b.test), _params(b.params), config)
    console.print(table)
    for base in test_baselines(result.info.baselines, m):
        console.print(
            f"baseline ({base.split}): {base.metric} {_fmt(base.value)} ({base.description})",
            highlight=False,
        )
    console.print(f"trials: {result.trials_csv}  plot: {result.plot}", highlight=False)


def _default_out(task: str, cells: list[str]) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{task}-{'-'.join(cells)}").strip("-.")[:80]
    return Path("tunes") / (name or "tune")


def _dim(message: str) -> None:
    err_console.print(message, style="dim", highlight=False, soft_wrap=True)


@schema_command("tune", ConfigBlock(exclude=OWNED_KEYS))
def tune_cmd(
    args: ConfigArgs,
    cells: str | None = typer.Option(
        None,
        "--cells",
        help="Cells to tune, comma-separated, each in its own study (default: the config's "
        "model.cell). --cell-opt applies to every cell.",
    ),
    space: Path | None = typer.Option(
        None, "--space", help="Search space YAML (default: the task's; see docs/tune.md)."
    ),
    trials: int | None = typer.Option(
        None, "--trials", help="Trials per cell, counting those already in the study."
    ),
    time_budget: float | None = typer.Option(
        None, "--time-budget", help="Wall seconds for the whole command, shared among the cells."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Output directory (default tunes/<task>-<cells>); rerun to resume."
    ),
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL (default: sqlite:///<out>/study.db)."
    ),
    pruner: str = typer.Option("median", "--pruner", help="median, halving or none."),
    sampler_seed: int = typer.Option(0, "--sampler-seed", help="Seed of the TPE sampler."),
    name: str | None = typer.Option(
        None, "--name", help="Study name prefix and W&B group (default: the name of --out)."
    ),
) -> int:
    """Search hyperparameters with Optuna (TPE, pruning) within a budget; per-cell bests.

    Writes trials.csv, best-<cell>.yaml (runnable with seqlab fit --config) and search.png
    under --out, then measures each cell's best trial on the test split. Without --trials
    or --time-budget: 20 trials per cell.
    """
    from seqlab.tune import DEFAULT_TRIALS, tune

    base = args.resolve()
    cell_list = [c.strip() for c in (cells or base.model.cell).split(",") if c.strip()]
    out_dir = out if out is not None else _default_out(base.task.name, cell_list)
    if trials is None and time_budget is None:
        _dim(f"no --trials or --time-budget: {DEFAULT_TRIALS} trials per cell")
    result = tune(
        base,
        cells=cell_list,
        space=space,
        trials=trials,
        time_budget=time_budget,
        out=out_dir,
        storage=storage,
        pruner=pruner,
        seed=sampler_seed,
        name=name,
        notify=_dim,
    )
    print_result(result)
    if result.interrupted:
        again = shlex.join(["seqlab", *sys.argv[1:]]) if sys.argv[1:2] == ["tune"] else None
        err_console.print(
            f"interrupted: the running trial was stopped and does not count. Run the same "
            f"command again to resume the study in {out_dir}" + (f": {again}" if again else "."),
            highlight=False,
            soft_wrap=True,
        )
        return 130
    return 0
