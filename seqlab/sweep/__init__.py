"""Sweeps over cells and hyperparameters: registered with W&B, or run here or on SLURM.

A sweep file is a W&B sweep configuration whose parameter names are seqlab's dotted config
keys (the keys ``--set`` takes)::

    name: cells-vs-lr
    method: grid                 # grid | random (| bayes: W&B server only)
    metric: {name: val_mse, goal: minimize}
    parameters:
      model.cell: {values: [lstm, gru, mingru]}
      optim.lr: {values: [0.001, 0.003]}
      trainer.max_epochs: {value: 5}
    # command: defaults to [${env}, ${interpreter}, -m, seqlab, fit, --logger, wandb, ${args_no_hyphens}]

**Registered** (:func:`register_sweep`): the file goes to ``wandb.sweep`` as it is, with the
command above when it has none; W&B's agent then runs ``seqlab fit --logger wandb
model.cell=gru optim.lr=0.003 ...`` — ``${args_no_hyphens}`` expands to ``key=value`` words,
which ``seqlab fit`` takes as positional overrides, exactly like ``--set key=value``.

**Local** (:func:`run_local`): no W&B server. The grid is expanded (or ``count`` random
configurations are drawn with a seed, from ``values`` or W&B's distributions), and each
run is a separate job ``python -m seqlab fit [--config OUT/base.yaml] --set key=value ...
--set run.dir=OUT/run-003 --set run.name=run-003 --set run.quiet=true`` (``workers`` at a
time, as local processes or SLURM jobs: :mod:`seqlab.jobs`), its output in
``OUT/run-003/output.log``. Then ``OUT/summary.csv`` and ``summary.md`` hold one row per
run: status, the swept parameters, the final metrics from the run's ``summary.json``
(nested keys flattened with dots) and the run directory. Running again continues: runs
already finished in ``OUT`` with the same parameters are reused, runs stopped after a
checkpoint (Ctrl-C, SIGTERM, a cancelled job) resume from it, the others start again.

Modules: :mod:`~seqlab.sweep.spec` (the sweep file), :mod:`~seqlab.sweep.sampling` (grid,
random draws, ``--set`` arguments), :mod:`~seqlab.sweep.running` (the jobs, resume, base
config), :mod:`~seqlab.sweep.summary` (``summary.csv``, ``summary.md``),
:mod:`~seqlab.sweep.register` (W&B's sweep server).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqlab.jobs import Progress
from seqlab.sweep.register import register_sweep, wandb_sweep_config
from seqlab.sweep.running import RunResult, flatten, run_sweep
from seqlab.sweep.sampling import (
    check_runs,
    expand_grid,
    format_value,
    plan_runs,
    sample_random,
    set_arguments,
)
from seqlab.sweep.spec import DEFAULT_WANDB_COMMAND, SweepSpec, load_sweep, parse_sweep
from seqlab.sweep.summary import best_run, metric_value, summary_rows, write_summary
from seqlab.validation import positive_int

if TYPE_CHECKING:
    from seqlab.config import Config


def default_command() -> list[str]:
    """``python -m seqlab fit`` with this interpreter: what each local run executes."""
    return [sys.executable, "-m", "seqlab", "fit"]


def run_local(
    spec: SweepSpec,
    out_dir: str | Path,
    *,
    runs: Sequence[Mapping[str, Any]] | None = None,
    command: Sequence[str] | None = None,
    count: int | None = None,
    seed: int = 0,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    notify: Callable[[str], None] = print,
    poll_s: float = 0.1,
    base: Config | None = None,
    threads: int | None = None,
    launcher: str = "local",
    launcher_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> list[RunResult]:
    """Run the sweep, each run a separate job, ``workers`` at a time; rerunning continues it.

    Args:
        spec: the checked sweep.
        out_dir: one ``run-NNN`` directory per run is made here, plus the summary files.
        runs: the parameter sets (default: :func:`plan_runs` with ``count`` and ``seed``).
        command: the program each run executes, before its ``--set`` arguments (default
            ``python -m seqlab fit``); a run resumed from its checkpoint executes
            ``command --resume RUN_DIR``.
        workers: runs at a time (on ``slurm``: jobs submitted at a time).
        env: the environment of the runs (default: this process's), plus
            ``WANDB_RUN_GROUP`` = the sweep's name when unset.
        notify: progress messages, one per event (when ``progress`` is not given).
        base: a base config, written to ``out_dir/base.yaml``; every run gets ``--config
            out_dir/base.yaml`` before its swept ``--set`` arguments.
        threads: ``OMP_NUM_THREADS`` of each run (default: cores / workers with several
            workers unless the environment sets it; on ``slurm`` the ``cpus_per_task``
            option).
        launcher, launcher_options: ``local`` processes, or ``slurm`` jobs through
            submitit (options such as ``timeout_min``, ``slurm_partition``, ``gpus_per_node``,
            ``cluster``; see :mod:`seqlab.jobs.slurm`).
        progress: receives the events instead of ``notify`` (e.g.
            :class:`seqlab.jobs.ConsoleProgress`).

    Ctrl-C or SIGTERM stops the runs gracefully (each saves a checkpoint) and raises
    ``KeyboardInterrupt``; running the same sweep again resumes them. Returns the results
    in run order; the summary is written by :func:`write_summary`.
    """
    positive_int("--workers", workers)
    plan = [dict(p) for p in (runs if runs is not None else plan_runs(spec, count, seed))]
    return run_sweep(
        spec,
        out_dir,
        plan,
        list(command) if command is not None else default_command(),
        workers=workers,
        env=env,
        notify=notify,
        poll_s=poll_s,
        base=base,
        threads=threads,
        launcher=launcher,
        launcher_options=launcher_options,
        progress=progress,
    )


__all__ = [
    "DEFAULT_WANDB_COMMAND",
    "RunResult",
    "SweepSpec",
    "best_run",
    "check_runs",
    "default_command",
    "expand_grid",
    "flatten",
    "format_value",
    "load_sweep",
    "metric_value",
    "parse_sweep",
    "plan_runs",
    "register_sweep",
    "run_local",
    "sample_random",
    "set_arguments",
    "summary_rows",
    "wandb_sweep_config",
    "write_summary",
]
