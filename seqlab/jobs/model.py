"""What the job runner runs and reports: jobs, their outcomes, progress events, the ETA."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

LAUNCHERS = ("local", "slurm")
"""Where jobs run: ``local`` (subprocesses of this process) or ``slurm`` (through submitit)."""


@dataclass
class Job:
    """One unit of work.

    Attributes:
        job_id: a name unique among the jobs of one run (``gru-s0``, ``run-003``).
        slot: the job's working directory (made before the job starts; the command still
            runs in this process's working directory, so relative paths keep their meaning).
        argv: the command, run as a subprocess (``local``) or as a cluster job (``slurm``).
        log: the file receiving the command's stdout and stderr.
        call: what runs instead of ``argv`` with ``workers=0`` (in this process, one job
            after the other; a return counts as exit code 0, an exception other than a
            :class:`~seqlab.errors.SeqlabError` as exit code 1 with its text in ``log``).
    """

    job_id: str
    slot: Path
    argv: list[str]
    log: Path
    call: Callable[[], Any] | None = None


@dataclass
class JobOutcome:
    """What happened to one job (the default outcome; callers may return their own
    objects with these attributes, e.g. compare's ``RunOutcome``)."""

    job_id: str
    status: str  # "ok" or "failed"
    seconds: float = 0.0
    returncode: int | None = None
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class Outcome(Protocol):
    """What progress reporting reads of an outcome: :class:`JobOutcome` and its kin."""

    @property
    def job_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def seconds(self) -> float: ...
    @property
    def returncode(self) -> int | None: ...
    @property
    def log(self) -> Path | None: ...
    @property
    def ok(self) -> bool: ...


def default_outcome(job: Job, returncode: int | None, seconds: float) -> JobOutcome:
    """``ok`` for exit code 0, else ``failed`` (no exit code: the job never reported one)."""
    status = "ok" if returncode == 0 else "failed"
    return JobOutcome(job.job_id, status, seconds, returncode, job.log)


class Progress:
    """What the runner reports: started, a job started, a job ended, stopped (no-op here)."""

    def start(self, total: int, done: int) -> None:
        """``total`` jobs, of which ``done`` were already finished (reused, not run)."""

    def run_started(self, job_id: str, running: Sequence[str]) -> None:
        """``job_id`` started; ``running`` are the jobs running now, it included."""

    def run_ended(self, outcome: Outcome, done: int, total: int, eta_s: float | None) -> None:
        """A job ended; ``done`` of ``total`` are finished, about ``eta_s`` seconds are left."""

    def stop(self) -> None:
        """No more events (also after an error or an interruption)."""


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


def format_duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``1h02m``; ``?`` for an unknown duration."""
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours}h{minutes:02d}m"
        if hours
        else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")
    )


__all__ = [
    "LAUNCHERS",
    "Job",
    "JobOutcome",
    "Outcome",
    "Progress",
    "default_outcome",
    "estimate_eta",
    "format_duration",
]
