"""Executing a comparison: one job per run (:mod:`seqlab.jobs`), resumable, with progress.

The output directory is laid out as :mod:`seqlab.compare.layout` describes. Running the
same command again with the same ``--out`` continues the comparison: a slot whose run
directory has ``summary.json`` is finished and reused; one with a
``checkpoints/last.ckpt`` but no summary is resumed from it (``fit(resume=...)``: same
step count, optimiser state, wall-clock budget spent); one without a checkpoint is
deleted and started again. A slot made by a different command (another task, size,
optimiser, budget...) is an error unless ``force``, which starts it again.

Each run is a job of :func:`seqlab.jobs.run_jobs`: ``python -m seqlab.compare.worker
runs/<id>/run.json`` as a local process or a SLURM job (``launcher``), or
:func:`seqlab.compare.worker.run` in this process (``workers=0``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from seqlab.compare.layout import (
    LOG_FILE,
    PLAN_FILE,
    RESOURCES_FILE,
    RUNS_DIR,
    SIGNATURE_FILE,
    SPEC_FILE,
    SUBMITIT_DIR,
    check_out_dir,
    differences,
    read_json,
    write_plan_record,
)
from seqlab.compare.plan import ComparisonPlan, RunPlan
from seqlab.errors import ConfigError
from seqlab.jobs import (
    Job,
    Progress,
    Terminated,
    check_launcher,
    check_workers,
    estimate_eta,
    finished_dir,
    remove_stopped,
    resumable_dir,
    run_dirs,
    run_jobs,
    worker_threads,
)
from seqlab.validation import positive_int


@dataclass
class RunOutcome:
    """What happened to one run: ``status`` is reused, ran, resumed, restarted or failed."""

    plan: RunPlan
    status: str
    run_dir: Path | None
    seconds: float = 0.0
    returncode: int | None = None
    log: Path | None = None

    @property
    def job_id(self) -> str:
        return self.plan.run_id

    @property
    def ok(self) -> bool:
        return self.status != "failed" and self.run_dir is not None


@dataclass
class PreparedRun:
    """A run to execute: its slot, its ``run.json`` and why it runs (ran, resumed, restarted)."""

    plan: RunPlan
    slot: Path
    spec_path: Path
    kind: str


def _check_signatures(plan: ComparisonPlan, out: Path, force: bool) -> None:
    """Fail (or, with ``force``, delete the slots) where ``out`` holds runs of another command."""
    runs_root = out / RUNS_DIR
    mismatched: list[tuple[RunPlan, list[str]]] = []
    for run in plan.runs:
        saved = read_json(runs_root / run.run_id / SIGNATURE_FILE)
        if saved is not None:
            diff = differences(saved, run.signature(plan.budget))
            if diff:
                mismatched.append((run, diff))
    if mismatched and not force:
        run, diff = mismatched[0]
        shown = "; ".join(diff[:4]) + (f"; and {len(diff) - 4} more" if len(diff) > 4 else "")
        raise ConfigError(
            f"--out {str(out)!r} already holds runs of a different comparison: "
            f"{len(mismatched)} run(s) differ from this command, e.g. {run.run_id}: {shown}. "
            f"Use another --out directory, or --force to discard those runs and run them again."
        )
    for run, _ in mismatched:
        shutil.rmtree(runs_root / run.run_id)


def _prepare_slot(
    plan: ComparisonPlan, run: RunPlan, slot: Path, threads: int | None
) -> PreparedRun:
    """Write the slot's ``run.json`` and ``signature.json``, keeping a run to resume."""
    resume = resumable_dir(slot, run.run_id)
    kind = (
        "resumed"
        if resume is not None
        else ("restarted" if (slot / SPEC_FILE).is_file() else "ran")
    )
    remove_stopped(slot, run.run_id, keep=resume)  # stopped before a checkpoint: start again
    slot.mkdir(parents=True, exist_ok=True)
    config = run.config
    overrides: dict[str, Any] = {"run.dir": str(slot), "run.name": run.run_id, "run.quiet": True}
    if plan.grad_flow_every and "grad_flow" in config.log.__dict__:
        overrides["log.grad_flow"] = f"every={plan.grad_flow_every}"
    if "wandb_group" in config.log.__dict__ and not getattr(config.log, "wandb_group", None):
        overrides["log.wandb_group"] = plan.name
    config = config.replace(overrides)
    spec = {
        "config": config.to_dict(),
        "resume": str(resume) if resume is not None else None,
        "time_budget_s": plan.budget.time_budget_s,
        "grad_flow_every": plan.grad_flow_every,
        "threads": threads,
        "comparison": plan.name,
        "run_id": run.run_id,
    }
    spec_path = slot / SPEC_FILE
    spec_path.write_text(json.dumps(spec, indent=1, default=str) + "\n", encoding="utf-8")
    (slot / SIGNATURE_FILE).write_text(
        json.dumps(run.signature(plan.budget), indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    return PreparedRun(run, slot, spec_path, kind)


def prepare(
    plan: ComparisonPlan,
    out: Path,
    *,
    force: bool = False,
    command: Sequence[str] | None = None,
    threads: int | None = None,
) -> tuple[list[RunOutcome], list[PreparedRun]]:
    """Sort the plan's runs into finished ones (reused) and runs to execute, writing each
    slot's ``run.json``; checks every existing slot was made by the same command."""
    check_out_dir(out)
    _check_signatures(plan, out, force)
    done: list[RunOutcome] = []
    todo: list[PreparedRun] = []
    for run in plan.runs:
        slot = out / RUNS_DIR / run.run_id
        finished = finished_dir(slot, run.run_id)
        if finished is not None:
            done.append(RunOutcome(run, "reused", finished, log=slot / LOG_FILE))
        else:
            todo.append(_prepare_slot(plan, run, slot, threads))
    write_plan_record(plan, out, command)
    return done, todo


# -- executing -------------------------------------------------------------------------------------
def worker_command(spec_path: Path) -> list[str]:
    return [sys.executable, "-m", "seqlab.compare.worker", str(spec_path)]


def _in_process(spec_path: Path) -> None:
    from seqlab.compare import worker

    worker.run(json.loads(spec_path.read_text(encoding="utf-8")))


def _job(prepared: PreparedRun) -> Job:
    return Job(
        prepared.plan.run_id,
        prepared.slot,
        worker_command(prepared.spec_path),
        prepared.slot / LOG_FILE,
        call=partial(_in_process, prepared.spec_path),
    )


def execute(
    plan: ComparisonPlan,
    out: str | Path,
    *,
    workers: int = 1,
    force: bool = False,
    progress: Progress | None = None,
    command: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
    threads: int | None = None,
    poll_s: float = 0.2,
    launcher: str = "local",
    launcher_options: Mapping[str, Any] | None = None,
) -> list[RunOutcome]:
    """Run every run of ``plan`` not yet finished in ``out``; returns outcomes in plan order.

    Args:
        workers: runs at a time, each in its own process (``python -m
            seqlab.compare.worker``). ``0`` runs them one by one in this process (no
            isolation: peak memory is then this process's; for tests and debugging).
        force: discard runs of ``out`` made by a different command instead of failing.
        threads: torch's threads per run (``torch.set_num_threads`` and
            ``OMP_NUM_THREADS``). Default: cores / workers with several workers (unless the
            environment sets ``OMP_NUM_THREADS``), torch's default with one; on ``slurm``
            the ``cpus_per_task`` launcher option. On a machine shared with other jobs, 1
            can be several times faster than 2: waiting OpenMP threads spin on cores that
            other processes need.
        launcher, launcher_options: ``local`` processes, or ``slurm`` jobs through
            submitit (options: ``cluster``, ``timeout_min``, ``slurm_partition``...; see
            :mod:`seqlab.jobs.slurm`); submitit's files go to ``out/submitit``.
    """
    launcher = check_launcher(launcher, launcher_options)
    check_workers(workers, launcher)
    if threads is not None:
        positive_int("--threads", threads)
    out = Path(out)
    run_env = dict(os.environ if env is None else env)
    threads = worker_threads(threads, workers, run_env, launcher, launcher_options)
    done, todo = prepare(plan, out, force=force, command=command, threads=threads)
    run_env.setdefault("WANDB_RUN_GROUP", plan.name)
    prepared = {p.plan.run_id: p for p in todo}

    def outcome(job: Job, code: int | None, seconds: float) -> RunOutcome:
        run = prepared[job.job_id]
        finished = finished_dir(run.slot, job.job_id)
        status = run.kind if code == 0 and finished is not None else "failed"
        return RunOutcome(run.plan, status, finished, seconds, code, job.log)

    ran = run_jobs(
        [_job(p) for p in todo],
        workers=workers,
        env=run_env,
        threads=threads,
        launcher=launcher,
        launcher_options=launcher_options,
        folder=out / SUBMITIT_DIR,
        progress=progress,
        outcome=outcome,
        finished=len(done),
        expected_s=plan.budget.time_budget_s,
        poll_s=poll_s,
    )
    order = {r.run_id: i for i, r in enumerate(plan.runs)}
    return sorted([*done, *ran], key=lambda o: order[o.plan.run_id])


def read_resources(run_dir: Path) -> dict[str, Any]:
    data = read_json(run_dir / RESOURCES_FILE)
    return data if isinstance(data, dict) else {}


__all__ = [
    "LOG_FILE",
    "PLAN_FILE",
    "RUNS_DIR",
    "PreparedRun",
    "Progress",
    "RunOutcome",
    "Terminated",
    "check_out_dir",
    "estimate_eta",
    "execute",
    "finished_dir",
    "prepare",
    "read_resources",
    "resumable_dir",
    "run_dirs",
]
