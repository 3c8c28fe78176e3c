"""Executing a comparison: one process per run, resumable, with progress.

Layout of ``--out DIR``::

    compare.json                the comparison: name, cells, seeds, budget, command
    runs/<cell>-s<seed>/        one slot per run
        run.json                what the worker runs (config, budget, resume)
        signature.json          what makes the run the experiment it is
        output.log              the worker's stdout and stderr
        <cell>-s<seed>-<time>/  seqlab fit's run directory (config.yaml, metrics.csv,
                                summary.json, checkpoints/, grad_flow/, resources.json)
    results.csv, report.md, *.png   written by :mod:`seqlab.compare.report`

Running the same command again with the same ``--out`` continues the comparison: a slot
whose run directory has ``summary.json`` is finished and reused; one with a
``checkpoints/last.ckpt`` but no summary is resumed from it (``fit(resume=...)``: same
step count, optimiser state, wall-clock budget spent); one without a checkpoint is
deleted and started again. A slot made by a different command (another task, size,
optimiser, budget...) is an error unless ``force``, which starts it again.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.compare.layout import (
    LOG_FILE,
    PLAN_FILE,
    RESOURCES_FILE,
    RUNS_DIR,
    SIGNATURE_FILE,
    SPEC_FILE,
)
from seqlab.compare.plan import ComparisonPlan, RunPlan
from seqlab.errors import ConfigError, SeqlabError


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
    def ok(self) -> bool:
        return self.status != "failed" and self.run_dir is not None


@dataclass
class _Job:
    plan: RunPlan
    slot: Path
    spec_path: Path
    kind: str  # "ran", "resumed" or "restarted"
    started: float = 0.0
    proc: subprocess.Popen[bytes] | None = None
    log: Any = None


# -- the output directory ----------------------------------------------------------------------
def check_out_dir(out: Path) -> None:
    """Make ``out`` (and check it is writable) or raise ConfigError naming the fix."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"--out {str(out)!r} is not a writable directory ({exc.strerror or exc}); choose a "
            f"directory you can write, e.g. --out results/my-comparison."
        ) from None


def run_dirs(slot: Path, run_id: str) -> list[Path]:
    """seqlab fit's run directories in ``slot`` (``<run_id>-<YYYYmmdd-HHMMSS>[-n]``), oldest first."""
    if not slot.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(run_id)}-\d{{8}}-\d{{6}}(-\d+)?$")
    found = [p for p in slot.iterdir() if p.is_dir() and pattern.match(p.name)]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def finished_dir(slot: Path, run_id: str) -> Path | None:
    """The newest run directory of the slot holding a readable ``summary.json``."""
    for d in reversed(run_dirs(slot, run_id)):
        try:
            json.loads((d / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return d
    return None


def resumable_dir(slot: Path, run_id: str) -> Path | None:
    """The newest unfinished run directory that has a config and a last checkpoint."""
    for d in reversed(run_dirs(slot, run_id)):
        if (d / "config.yaml").is_file() and (d / "checkpoints" / "last.ckpt").is_file():
            return d
    return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')} ({old!r} → {new!r})"]


def prepare(
    plan: ComparisonPlan,
    out: Path,
    *,
    force: bool = False,
    command: Sequence[str] | None = None,
    threads: int | None = None,
) -> tuple[list[RunOutcome], list[_Job]]:
    """Sort the plan's runs into finished ones (reused) and jobs to run, writing each slot's
    ``run.json``; checks every existing slot was made by the same command."""
    check_out_dir(out)
    runs_root = out / RUNS_DIR
    mismatched: list[tuple[RunPlan, list[str]]] = []
    for run in plan.runs:
        saved = _read_json(runs_root / run.run_id / SIGNATURE_FILE)
        if saved is not None:
            diff = _differences(saved, run.signature(plan.budget))
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

    done: list[RunOutcome] = []
    jobs: list[_Job] = []
    for run in plan.runs:
        slot = runs_root / run.run_id
        finished = finished_dir(slot, run.run_id)
        if finished is not None:
            done.append(RunOutcome(run, "reused", finished, log=slot / LOG_FILE))
            continue
        resume = resumable_dir(slot, run.run_id)
        kind = (
            "resumed"
            if resume is not None
            else ("restarted" if (slot / SPEC_FILE).is_file() else "ran")
        )
        for d in run_dirs(slot, run.run_id):
            if d != resume:  # stopped before its first checkpoint: nothing to continue
                shutil.rmtree(d)
        slot.mkdir(parents=True, exist_ok=True)
        config = run.config
        overrides: dict[str, Any] = {
            "run.dir": str(slot),
            "run.name": run.run_id,
            "run.quiet": True,
        }
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
        jobs.append(_Job(run, slot, spec_path, kind))
    write_plan_record(plan, out, command)
    return done, jobs


def write_plan_record(plan: ComparisonPlan, out: Path, command: Sequence[str] | None) -> Path:
    record = {
        "name": plan.name,
        "command": shlex.join(command) if command else None,
        "cells": [c.label for c in plan.cells],
        "seeds": plan.seeds,
        "budget": {"max_steps": plan.budget.max_steps, "time_budget_s": plan.budget.time_budget_s},
        "match": plan.match,
        "target_parameters": plan.target_parameters,
        "grad_flow_every": plan.grad_flow_every,
        "runs": [
            {
                "run_id": r.run_id,
                "cell": r.cell.label,
                "seed": r.seed,
                "hidden_size": r.hidden_size,
                "parameters": r.parameters,
                "flops_per_step": r.flops_per_step,
            }
            for r in plan.runs
        ],
        "base_config": plan.base.to_dict(),
    }
    path = out / PLAN_FILE
    path.write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    return path


# -- executing -------------------------------------------------------------------------------------
def worker_command(spec_path: Path) -> list[str]:
    return [sys.executable, "-m", "seqlab.compare.worker", str(spec_path)]


def _outcome(job: _Job, code: int) -> RunOutcome:
    finished = finished_dir(job.slot, job.plan.run_id)
    status = job.kind if code == 0 and finished is not None else "failed"
    return RunOutcome(
        job.plan, status, finished, time.monotonic() - job.started, code, job.slot / LOG_FILE
    )


class Progress:
    """What the runner reports: a run started, a run ended (the CLI shows it with rich)."""

    def start(self, total: int, done: int) -> None: ...
    def run_started(self, job_id: str, running: Sequence[str]) -> None: ...
    def run_ended(
        self, outcome: RunOutcome, done: int, total: int, eta_s: float | None
    ) -> None: ...
    def stop(self) -> None: ...


def estimate_eta(
    durations: Sequence[float],
    pending: int,
    running_elapsed: Sequence[float],
    workers: int,
    budget_s: float | None,
) -> float | None:
    """Seconds left: the mean duration of the runs finished in this session (or the time
    budget before any has) × the runs left, spread over the workers."""
    if durations:
        mean = sum(durations) / len(durations)
    elif budget_s is not None:
        mean = budget_s * 1.2  # training plus start-up and the final evaluation
    else:
        return None
    remaining = mean * pending + sum(max(mean - e, 0.0) for e in running_elapsed)
    return remaining / max(1, min(workers, pending + len(running_elapsed)) or 1)


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
) -> list[RunOutcome]:
    """Run every run of ``plan`` not yet finished in ``out``; returns outcomes in plan order.

    Args:
        workers: runs at a time, each in its own process (``python -m
            seqlab.compare.worker``). ``0`` runs them one by one in this process (no
            isolation: peak memory is then this process's; for tests and debugging).
        force: discard runs of ``out`` made by a different command instead of failing.
        threads: torch's threads per run (``torch.set_num_threads`` and
            ``OMP_NUM_THREADS``). Default: cores / workers with several workers (unless the
            environment sets ``OMP_NUM_THREADS``), torch's default with one. On a machine
            shared with other jobs, 1 can be several times faster than 2: waiting
            OpenMP threads spin on cores that other processes need.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(
            f"--workers must be a positive integer (0: in this process), got {workers!r}."
        )
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ConfigError(f"--threads must be a positive integer, got {threads!r}.")
    out = Path(out)
    progress = progress or Progress()
    run_env = dict(os.environ if env is None else env)
    if threads is None and workers > 1 and "OMP_NUM_THREADS" not in run_env:
        threads = max(1, (os.cpu_count() or 1) // workers)
    if threads is not None:
        run_env["OMP_NUM_THREADS"] = str(threads)
    done, jobs = prepare(plan, out, force=force, command=command, threads=threads)
    order = {r.run_id: i for i, r in enumerate(plan.runs)}
    total = len(plan.runs)
    outcomes = list(done)
    progress.start(total, len(done))
    durations: list[float] = []
    if workers == 0:
        from seqlab.compare import worker

        for job in jobs:
            job.started = time.monotonic()
            progress.run_started(job.plan.run_id, [job.plan.run_id])
            spec = json.loads(job.spec_path.read_text(encoding="utf-8"))
            try:
                worker.run(spec)
                code = 0
            except SeqlabError:
                raise  # a user error (bad option, missing data) would fail every run alike
            except Exception as exc:  # a crashed run must not stop the others
                (job.slot / LOG_FILE).write_text(f"{type(exc).__name__}: {exc}\n", encoding="utf-8")
                code = 1
            outcome = _outcome(job, code)
            durations.append(outcome.seconds)
            outcomes.append(outcome)
            progress.run_ended(
                outcome,
                len(outcomes),
                total,
                estimate_eta(
                    durations, len(jobs) - len(durations), [], 1, plan.budget.time_budget_s
                ),
            )
        progress.stop()
        return sorted(outcomes, key=lambda o: order[o.plan.run_id])

    run_env.setdefault("WANDB_RUN_GROUP", plan.name)
    pending = list(jobs)
    running: list[_Job] = []
    received: list[int] = []
    with _stop_requests(received):
        try:
            _run_jobs(
                pending,
                running,
                workers,
                run_env,
                plan,
                durations,
                outcomes,
                total,
                progress,
                poll_s,
                received,
            )
        finally:
            progress.stop()
    return sorted(outcomes, key=lambda o: order[o.plan.run_id])


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGINT received: stop like Ctrl-C (workers are terminated, finished runs kept)."""


@contextmanager
def _stop_requests(received: list[int]) -> Iterator[None]:
    """Record SIGTERM and SIGINT in ``received`` instead of acting on them at once.

    The job loop checks ``received`` between its steps and stops there, so a signal can
    never land between starting a worker and recording it (which would leave that worker
    running). Signals that are ignored (a background job's SIGINT) stay ignored. Main
    thread only; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _run_jobs(
    pending: list[_Job],
    running: list[_Job],
    workers: int,
    run_env: dict[str, str],
    plan: ComparisonPlan,
    durations: list[float],
    outcomes: list[RunOutcome],
    total: int,
    progress: Progress,
    poll_s: float,
    received: list[int],
) -> None:
    """Start jobs up to ``workers`` at a time and collect them as they end."""
    try:
        while pending or running:
            if received:
                raise Terminated(f"signal {received[0]}")
            while pending and len(running) < workers:
                job = pending.pop(0)
                job.log = (job.slot / LOG_FILE).open("wb")
                job.started = time.monotonic()
                job.proc = subprocess.Popen(
                    worker_command(job.spec_path),
                    stdout=job.log,
                    stderr=subprocess.STDOUT,
                    env=run_env,
                )
                running.append(job)
                progress.run_started(job.plan.run_id, [j.plan.run_id for j in running])
            still: list[_Job] = []
            for job in running:
                assert job.proc is not None
                code = job.proc.poll()
                if code is None:
                    still.append(job)
                    continue
                job.log.close()
                outcome = _outcome(job, code)
                durations.append(outcome.seconds)
                outcomes.append(outcome)
                now = time.monotonic()
                eta = estimate_eta(
                    durations,
                    len(pending),
                    [now - j.started for j in still],
                    workers,
                    plan.budget.time_budget_s,
                )
                progress.run_ended(outcome, len(outcomes), total, eta)
            running[:] = still
            if running and not received:
                time.sleep(poll_s)
    except BaseException:
        # Ctrl-C reaches the workers too (one process group): each finishes its batch and
        # saves a checkpoint, and a signal from here would make them stop at once instead.
        # Otherwise (SIGTERM, an error here) pass a SIGTERM on: it stops them gracefully.
        ctrl_c = bool(received) and received[0] == signal.SIGINT
        for job in running:
            if job.proc is not None and not ctrl_c:
                job.proc.terminate()
        for job in running:
            if job.proc is not None:
                _reap(job.proc, terminated=not ctrl_c)
            if job.log is not None:
                job.log.close()
        raise


def _reap(proc: subprocess.Popen[bytes], *, terminated: bool, grace_s: float = 15.0) -> None:
    """Wait for a stopping worker; SIGTERM it if it was not yet, SIGKILL it as a last resort."""
    try:
        proc.wait(timeout=grace_s)
        return
    except subprocess.TimeoutExpired:
        pass
    if not terminated:
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    proc.wait()


def read_resources(run_dir: Path) -> dict[str, Any]:
    data = _read_json(run_dir / RESOURCES_FILE)
    return data if isinstance(data, dict) else {}


__all__ = [
    "LOG_FILE",
    "PLAN_FILE",
    "RUNS_DIR",
    "Progress",
    "RunOutcome",
    "check_out_dir",
    "estimate_eta",
    "execute",
    "finished_dir",
    "prepare",
    "read_resources",
    "resumable_dir",
    "run_dirs",
]
