"""``seqlab compare``: which cell, at what cost, and why — measured on one task.

Every cell × seed is trained under the same budget, on the same data in the same order,
with the same hyperparameters (or matched parameter counts), each run in its own process
and its own run directory; the results are gathered into ``results.csv``, ``report.md``
and plots.

>>> from seqlab.compare import Budget, build_plan, parse_cells, run_comparison
>>> from seqlab.config import resolve_config
>>> base = resolve_config(flags={"task.name": "adding", "model.hidden_size": 32})
>>> plan = build_plan(base, parse_cells("rnn,lstm"), [0, 1], Budget(max_steps=200),
...                   name="demo")                                   # doctest: +SKIP
>>> report = run_comparison(plan, "results/demo")                    # doctest: +SKIP

Modules: :mod:`~seqlab.compare.plan` (cells, seeds, budgets, matched parameter counts),
:mod:`~seqlab.compare.layout` (the output directory), :mod:`~seqlab.compare.runner`
(resume; the jobs run through :mod:`seqlab.jobs`), :mod:`~seqlab.compare.worker` (one
run), :mod:`~seqlab.compare.results` (``results.csv``), :mod:`~seqlab.compare.report`
(``report.md`` and plots).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.compare.layout import check_out_dir
from seqlab.compare.plan import (
    Budget,
    CellSpec,
    ComparisonPlan,
    RunPlan,
    build_plan,
    parse_cells,
    parse_seeds,
)
from seqlab.compare.report import write_report
from seqlab.compare.results import RunResult, collect, write_csv
from seqlab.compare.runner import RunOutcome, execute
from seqlab.jobs import Progress


@dataclass
class ComparisonResult:
    """What :func:`run_comparison` made: every run's outcome, the rows, the files."""

    plan: ComparisonPlan
    outcomes: list[RunOutcome]
    results: list[RunResult]
    results_csv: Path
    report: Path

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if not o.ok]


def run_comparison(
    plan: ComparisonPlan,
    out: str | Path,
    *,
    workers: int = 1,
    force: bool = False,
    progress: Progress | None = None,
    command: Sequence[str] | None = None,
    threads: int | None = None,
    report_dir: str | Path | None = None,
    launcher: str = "local",
    launcher_options: Mapping[str, Any] | None = None,
) -> ComparisonResult:
    """Run (or continue) the comparison ``plan`` in ``out`` and write its results and report.

    ``report_dir`` (default ``out``) receives ``results.csv``, ``report.md`` and the plots:
    several comparisons may share one ``out`` (runs with the same config are trained once)
    and keep their reports apart. ``workers``, ``threads``, ``launcher`` and
    ``launcher_options``: see :func:`seqlab.compare.runner.execute`.
    """
    import shlex

    out = Path(out)
    outcomes = execute(
        plan,
        out,
        workers=workers,
        force=force,
        progress=progress,
        command=command,
        threads=threads,
        launcher=launcher,
        launcher_options=launcher_options,
    )
    results = collect(outcomes)
    where = Path(report_dir) if report_dir is not None else out
    if where != out:
        check_out_dir(where)
    csv_path = write_csv(results, where / "results.csv")
    failed = [o.plan.run_id for o in outcomes if not o.ok]
    report = write_report(
        plan, results, where, failed=failed, command=shlex.join(command) if command else None
    )
    return ComparisonResult(plan, outcomes, results, csv_path, report)


__all__ = [
    "Budget",
    "CellSpec",
    "ComparisonPlan",
    "ComparisonResult",
    "RunPlan",
    "build_plan",
    "parse_cells",
    "parse_seeds",
    "run_comparison",
]
