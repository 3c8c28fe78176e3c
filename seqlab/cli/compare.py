"""``seqlab compare``: every cell × seed under one budget, then results.csv, report.md, plots."""

from __future__ import annotations

import fnmatch
import re
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from seqlab.cli.app import console, err_console
from seqlab.cli.options import ConfigArgs, ConfigBlock, RunnerArgs, RunnerBlock, schema_command
from seqlab.cli.tables import Column, fitted_table
from seqlab.errors import Interrupted

# Keys every run gets from the comparison itself: its cell (--cells), seed (--seeds), budget
# (--max-steps, --time-budget), gradient flow (--grad-flow) and where and how quietly it runs.
OWNED_KEYS = (
    "model.cell",
    "trainer.seed",
    "trainer.max_steps",
    "trainer.max_epochs",
    "log.grad_flow",
    "run.dir",
    "run.name",
    "run.quiet",
    "run.resume",
)
# The console table: these columns of summary_table (patterns: the metric's name varies).
SUMMARY_COLUMNS = (
    "cell",
    "hidden",
    "parameters",
    "* (mean ± std)",
    "baseline",
    "train time (s)",
    "samples/s",
    "grad-flow ratio (end)",
)


def _default_name(task: str, cells: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{task}-{cells}").strip("-.")[:80] or "comparison"


def console_table(
    title: str, header: list[str], rows: list[list[str]], width: int | None = None
) -> Table:
    """The columns of ``summary_table`` named in :data:`SUMMARY_COLUMNS`, fitted to ``width``
    (default: the console's): the cell label (with its options) and the metric are always
    shown, the other columns while they fit; no number or word is split."""
    picked = [
        next(i for i, h in enumerate(header) if fnmatch.fnmatchcase(h, pattern))
        for pattern in SUMMARY_COLUMNS
    ]
    importance = {0: 0, 3: 0}  # positions in SUMMARY_COLUMNS: the cell and the metric
    columns = [
        Column(
            header[i],
            justify="left" if k == 0 else "right",
            importance=importance.get(k, k),
        )
        for k, i in enumerate(picked)
    ]
    return fitted_table(
        columns,
        [[row[i] for i in picked] for row in rows],
        console.width if width is None else width,
        title=title,
        hint="report.md and results.csv have every column",
    )


def _report(comparison: str, budget: Any, result: Any) -> None:
    from seqlab.compare.report import summary_table

    header, rows = summary_table(result.plan, result.results)
    console.print(console_table(f"{comparison}: {budget.describe()} per run", header, rows))
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


@schema_command(
    "compare",
    ConfigBlock(exclude=OWNED_KEYS, cell_opt_help="Option KEY=VALUE for every cell (repeatable)."),
    RunnerBlock(
        min_workers=0, workers_help="Runs in parallel, one process each (0: in this process)."
    ),
)
def compare_cmd(
    args: ConfigArgs,
    runner: RunnerArgs,
    cells: str = typer.Option(
        "rnn,lstm,gru",
        "--cells",
        help="Cells to compare, comma-separated; options in brackets: lstm\\[forget_bias=0].",
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
    force: bool = typer.Option(
        False, "--force", help="Discard runs in --out made by a different command."
    ),
    grad_flow: str = typer.Option(
        "auto", "--grad-flow", help="Gradient flow: auto (every max_steps/20), off, every=N."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress; print only the table."),
) -> None:
    """Train every cell × seed under one budget; write results.csv, report.md and plots.

    Same budget (--max-steps or --time-budget), same data and data order per seed, same
    hyperparameters (or --match-params). Re-running the command continues it.
    """
    from seqlab.compare import Budget, build_plan, parse_cells, parse_seeds

    specs = parse_cells(cells)
    seed_values = parse_seeds(seeds, seed_list)
    budget = Budget(max_steps=max_steps, time_budget_s=time_budget)
    base = args.resolve(cell_options=False)  # --cell-opt applies to every cell of the plan
    out_dir = out if out is not None else Path("comparisons") / _default_name(base.task.name, cells)
    comparison = name or (report_dir if report_dir is not None else out_dir).resolve().name
    plan = build_plan(
        base,
        specs,
        seed_values,
        budget,
        name=comparison,
        cell_options=args.cell_options,
        match_params=match_params,
        param_budget=param_budget,
        grad_flow=grad_flow,
    )
    if not quiet:
        err_console.print(
            f"comparison [bold]{comparison}[/]: {len(specs)} cell(s) × {len(seed_values)} seed(s) = "
            f"{len(plan.runs)} runs of {base.task.name}, each {budget.describe()}, "
            f"{max(runner.workers, 1)} at a time → {out_dir}",
            highlight=False,
        )
    result = _run(plan, out_dir, runner, force=force, report_dir=report_dir, quiet=quiet)
    _report(comparison, budget, result)


def _run(
    plan: Any,
    out_dir: Path,
    runner: RunnerArgs,
    *,
    force: bool,
    report_dir: Path | None,
    quiet: bool,
) -> Any:
    """Run the comparison; Ctrl-C stops it with a hint to continue (exit 130)."""
    from seqlab.compare import run_comparison
    from seqlab.jobs import ConsoleProgress

    try:
        return run_comparison(
            plan,
            out_dir,
            workers=runner.workers,
            force=force,
            threads=runner.threads,
            report_dir=report_dir,
            progress=ConsoleProgress(quiet, console=err_console),
            command=["seqlab", *sys.argv[1:]] if _invoked_as_cli() else None,
            launcher=runner.launcher,
            launcher_options=runner.launcher_options,
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


def _invoked_as_cli() -> bool:
    """Whether sys.argv is this command's (not a test calling main([...]))."""
    return len(sys.argv) > 1 and sys.argv[1] == "compare"
