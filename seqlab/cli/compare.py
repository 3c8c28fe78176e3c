"""``seqlab compare``: every cell × seed under one budget, then results.csv, report.md, plots."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from seqlab.cli.app import app, console, err_console
from seqlab.compare.runner import Progress, RunOutcome
from seqlab.errors import Interrupted

# compare's flags that map onto config keys exactly like seqlab fit's (cli/train.py)
_FIT_FLAGS = (
    "task",
    "hidden_size",
    "num_layers",
    "bidirectional",
    "dropout",
    "batch_size",
    "lr",
    "accelerator",
    "precision",
    "gradient_clip",
)
_LOG_FLAGS = {
    "logger": "log.logger",
    "wandb_project": "log.wandb_project",
    "wandb_entity": "log.wandb_entity",
    "wandb_tags": "log.wandb_tags",
    "wandb_mode": "log.wandb_mode",
}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours}h{minutes:02d}m"
        if hours
        else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")
    )


class RichProgress(Progress):
    """A rich progress bar (on a terminal) or one line per event (logs, pipes)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.live = None
        self.task_id: Any = None

    def _print(self, text: str) -> None:
        if self.quiet:
            return
        target = self.live.console if self.live is not None else err_console
        target.print(text, highlight=False, soft_wrap=True)

    def start(self, total: int, done: int) -> None:
        if done:
            self._print(f"{done} of {total} runs already finished; reusing them.")
        if self.quiet or not err_console.is_terminal or done == total:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichBar

        self.live = RichBar(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=err_console,
        )
        self.live.start()
        self.task_id = self.live.add_task("starting", total=total, completed=done, eta="?")

    def run_started(self, job_id: str, running: Sequence[str]) -> None:
        if self.live is not None:
            self.live.update(self.task_id, description=f"running {', '.join(running)}")
        else:
            self._print(f"started {job_id}")

    def run_ended(self, outcome: RunOutcome, done: int, total: int, eta_s: float | None) -> None:
        what = f"{outcome.plan.run_id} {outcome.status} in {_duration(outcome.seconds)}"
        if not outcome.ok:
            what += f" (exit {outcome.returncode}; see {outcome.log})"
        self._print(f"[{done}/{total}] {what}; ETA {_duration(eta_s) if done < total else 'done'}")
        if self.live is not None:
            self.live.update(self.task_id, completed=done, eta=_duration(eta_s))

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _default_name(task: str, cells: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{task}-{cells}").strip("-.")[:80] or "comparison"


@app.command("compare")
def compare_cmd(
    cells: str = typer.Option(
        "rnn,lstm,gru",
        "--cells",
        help="Cells to compare, comma-separated; options in brackets: lstm\\[forget_bias=0].",
    ),
    task: str | None = typer.Option(
        None, "--task", help="Task (seqlab tasks lists them). Default: adding."
    ),
    seeds: int | None = typer.Option(None, "--seeds", help="Seeds 0..N-1 per cell (default 3)."),
    seed_list: str | None = typer.Option(None, "--seed-list", help="Explicit seeds, e.g. 0,1,2."),
    max_steps: int | None = typer.Option(
        None, "--max-steps", help="Budget: optimiser steps per run."
    ),
    time_budget: float | None = typer.Option(
        None, "--time-budget", help="Budget: seconds of training wall clock per run."
    ),
    match_params: bool = typer.Option(
        False,
        "--match-params",
        help="Choose each cell's hidden size to match the first cell's parameter count.",
    ),
    param_budget: int | None = typer.Option(
        None, "--param-budget", help="Choose hidden sizes to match this many parameters."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Output directory (default comparisons/<task>-<cells>)."
    ),
    report_dir: Path | None = typer.Option(
        None, "--report-dir", help="Where results.csv, report.md and plots go (default: --out)."
    ),
    name: str | None = typer.Option(
        None,
        "--name",
        help="Comparison name (W&B group; default: the name of --report-dir, else of --out).",
    ),
    workers: int = typer.Option(
        1, "--workers", help="Runs in parallel, one process each (0: in this process)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="torch threads per run (default: cores / workers)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Discard runs in --out made by a different command."
    ),
    grad_flow: str = typer.Option(
        "auto", "--grad-flow", help="Gradient flow: auto (every max_steps/20), off, every=N."
    ),
    hidden_size: int | None = typer.Option(
        None, "--hidden-size", help="Units per layer and direction."
    ),
    num_layers: int | None = typer.Option(None, "--num-layers", help="Stacked recurrent layers."),
    bidirectional: bool | None = typer.Option(
        None, "--bidirectional/--no-bidirectional", help="Add a backward cell per layer."
    ),
    dropout: float | None = typer.Option(
        None, "--dropout", help="Dropout between layers and before the head."
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Sequences per batch."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate."),
    accelerator: str | None = typer.Option(None, "--accelerator", help="auto, cpu, gpu, mps."),
    precision: str | None = typer.Option(
        None, "--precision", help="32-true, 16-mixed, bf16-mixed..."
    ),
    gradient_clip: float | None = typer.Option(
        None, "--gradient-clip", help="Clip the gradient norm to this."
    ),
    task_opt: list[str] | None = typer.Option(
        None, "--task-opt", help="Task option KEY=VALUE (repeatable)."
    ),
    cell_opt: list[str] | None = typer.Option(
        None, "--cell-opt", help="Option KEY=VALUE for every cell (repeatable)."
    ),
    config: Path | None = typer.Option(None, "--config", help="A YAML config (see configs/)."),
    set_: list[str] | None = typer.Option(
        None, "--set", help="Override SECTION.KEY=VALUE (repeatable)."
    ),
    logger: str | None = typer.Option(None, "--logger", help="csv, wandb, tensorboard or none."),
    wandb_project: str | None = typer.Option(None, "--wandb-project"),
    wandb_entity: str | None = typer.Option(None, "--wandb-entity"),
    wandb_tags: str | None = typer.Option(None, "--wandb-tags"),
    wandb_mode: str | None = typer.Option(
        None, "--wandb-mode", help="online, offline or disabled."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress; print only the table."),
) -> None:
    """Train every cell × seed under one budget; write results.csv, report.md and plots.

    Same budget (--max-steps or --time-budget), same data and data order per seed, same
    hyperparameters (or --match-params). Re-running the command continues it.
    """
    from seqlab.cli.app import parse_key_values
    from seqlab.compare import Budget, build_plan, parse_cells, parse_seeds, run_comparison
    from seqlab.config import resolve_config

    values = dict(locals())
    specs = parse_cells(cells)
    seed_values = parse_seeds(seeds, seed_list)
    budget = Budget(max_steps=max_steps, time_budget_s=time_budget)
    from seqlab.cli.train import config_flags

    flags = config_flags({k: values[k] for k in _FIT_FLAGS}, task_opt, None, quiet=False)
    for arg, key in _LOG_FLAGS.items():
        if values[arg] is not None:
            flags[key] = values[arg]
    base = resolve_config(config, flags, set_ or None)
    out_dir = out if out is not None else Path("comparisons") / _default_name(base.task.name, cells)
    comparison = name or (report_dir if report_dir is not None else out_dir).resolve().name
    plan = build_plan(
        base,
        specs,
        seed_values,
        budget,
        name=comparison,
        cell_options=parse_key_values(cell_opt, "--cell-opt"),
        match_params=match_params,
        param_budget=param_budget,
        grad_flow=grad_flow,
    )
    if not quiet:
        err_console.print(
            f"comparison [bold]{comparison}[/]: {len(specs)} cell(s) × {len(seed_values)} seed(s) = "
            f"{len(plan.runs)} runs of {base.task.name}, each {budget.describe()}, "
            f"{max(workers, 1)} at a time → {out_dir}",
            highlight=False,
        )
    try:
        result = run_comparison(
            plan,
            out_dir,
            workers=workers,
            force=force,
            threads=threads,
            report_dir=report_dir,
            progress=RichProgress(quiet),
            command=["seqlab", *sys.argv[1:]] if _invoked_as_cli() else None,
        )
    except (KeyboardInterrupt, Interrupted):
        err_console.print(
            f"interrupted: the runs in progress were stopped. Run the same command again to "
            f"continue: finished runs are kept, stopped ones resume from their last checkpoint "
            f"({out_dir}).",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    from seqlab.compare.report import summary_table

    header, rows = summary_table(plan, result.results)
    table = Table(title=f"{comparison}: {budget.describe()} per run")
    keep = [0, 1, 2, 3, 5, 7, 8, 10]
    for i in keep:
        table.add_column(header[i], justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[row[i] for i in keep])
    console.print(table)
    console.print(
        f"results: {result.results_csv}\nreport: {result.report}", highlight=False, soft_wrap=True
    )
    if result.failed:
        err_console.print(
            f"[bold red]{len(result.failed)} run(s) failed:[/] "
            + ", ".join(f"{o.plan.run_id} (see {o.log})" for o in result.failed)
            + ". Run the same command again to retry them.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


def _invoked_as_cli() -> bool:
    """Whether sys.argv is this command's (not a test calling main([...]))."""
    return len(sys.argv) > 1 and sys.argv[1] == "compare"
