"""Running jobs ``workers`` at a time, locally or on a cluster, with progress and an ETA.

:func:`run_jobs` starts jobs up to ``workers`` at a time on the chosen backend, collects
them as they end (each becomes an outcome through the caller's ``outcome`` function) and
reports to a :class:`~seqlab.jobs.model.Progress`, with an ETA from the mean duration of
the jobs finished so far. SIGINT and SIGTERM are recorded and acted on between steps:

- Ctrl-C (SIGINT) reached the local workers too (one process group): each finishes its
  batch and saves a checkpoint; they are waited for, not signalled again;
- a SIGTERM to this process alone is passed on to the local workers as a SIGTERM, which
  stops them just as gracefully;
- on the ``slurm`` launcher every submitted job not yet finished is cancelled;

then :class:`~seqlab.jobs.signals.Terminated` (a ``KeyboardInterrupt``) is raised. Running
the same command again continues: the callers reuse finished jobs and resume stopped ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from seqlab.errors import ConfigError, SeqlabError, did_you_mean
from seqlab.jobs.local import LocalBackend
from seqlab.jobs.model import LAUNCHERS, Job, Progress, default_outcome, estimate_eta
from seqlab.jobs.signals import Terminated, stop_requests, was_ctrl_c
from seqlab.jobs.slurm import SubmititBackend, require_submitit
from seqlab.validation import int_at_least, positive_int

OutcomeFn = Callable[[Job, int | None, float], Any]


def check_launcher(name: str, options: Mapping[str, Any] | None = None) -> str:
    """``name`` if it is a launcher (ConfigError with a did-you-mean otherwise); for
    ``slurm``, MissingDependencyError when submitit is not installed. ``options`` (the
    launcher options, when given) must be empty for ``local``."""
    if name not in LAUNCHERS:
        raise ConfigError(
            f"--launcher {name!r} is not a launcher.{did_you_mean(str(name), LAUNCHERS)} "
            f"Choose one of: {', '.join(LAUNCHERS)}."
        )
    if name == "slurm":
        require_submitit()
    elif options:
        raise ConfigError(
            f"--launcher-opt ({', '.join(map(str, options))}) applies to --launcher slurm; "
            f"the local launcher takes no options."
        )
    return name


def check_workers(workers: int, launcher: str = "local") -> int:
    """``workers`` if it is an integer ≥ 0 (0: in this process, only with ``local``)."""
    int_at_least("--workers", workers, 0, what="0: in this process")
    if workers == 0 and launcher != "local":
        raise ConfigError(
            "--workers 0 runs the jobs in this process; --launcher slurm needs --workers 1 or "
            "more (jobs submitted at a time)."
        )
    return workers


def worker_threads(
    threads: int | None,
    workers: int,
    env: Mapping[str, str] | None = None,
    launcher: str = "local",
    launcher_options: Mapping[str, Any] | None = None,
) -> int | None:
    """Threads per job (``OMP_NUM_THREADS``; None: leave it to the environment).

    ``threads`` when given; on ``slurm`` the ``cpus_per_task`` option (each job has its own
    allocation); locally, with several workers and no ``OMP_NUM_THREADS`` in ``env``,
    cores / workers (waiting OpenMP threads spin on cores that other workers need).
    """
    if threads is not None:
        return positive_int("--threads", threads)
    if launcher == "slurm":
        cpus = (launcher_options or {}).get("cpus_per_task")
        cpus = int(cpus) if isinstance(cpus, int | str) and str(cpus).isdigit() else None
        return cpus or None
    env = os.environ if env is None else env
    if workers > 1 and "OMP_NUM_THREADS" not in env:
        return max(1, (os.cpu_count() or 1) // workers)
    return None


def run_jobs(
    jobs: Sequence[Job],
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    threads: int | None = None,
    launcher: str = "local",
    launcher_options: Mapping[str, Any] | None = None,
    folder: str | Path | None = None,
    progress: Progress | None = None,
    outcome: OutcomeFn | None = None,
    finished: int = 0,
    expected_s: float | None = None,
    poll_s: float = 0.2,
) -> list[Any]:
    """Run ``jobs``; returns their outcomes in job order.

    Args:
        workers: jobs at a time (on ``slurm``: submitted at a time); ``0`` calls each job's
            ``call`` in this process, one after the other.
        env: the jobs' environment (default: this process's); ``OMP_NUM_THREADS`` is set
            from :func:`worker_threads`. On ``slurm`` only what differs from this process's
            environment is passed on, on top of the node's.
        launcher, launcher_options: ``local``, or ``slurm`` with submitit's parameters.
        folder: submitit's folder (``slurm``; default ``./submitit``).
        progress: receives the events (default: none).
        outcome: ``(job, exit code or None, seconds)`` → the outcome (default: ok/failed).
        finished: jobs finished before (reused), counted in the progress's totals.
        expected_s: a job's expected duration, for an ETA before any job has ended.
    """
    launcher = check_launcher(launcher, launcher_options)
    check_workers(workers, launcher)
    run_env = dict(os.environ if env is None else env)
    threads = worker_threads(threads, workers, run_env, launcher, launcher_options)
    if threads is not None:
        run_env["OMP_NUM_THREADS"] = str(threads)
    backend: Any = None
    if workers and jobs:
        if launcher == "local":
            backend = LocalBackend(run_env)
        else:
            extra = {k: v for k, v in run_env.items() if os.environ.get(k) != v}
            where = Path(folder) if folder is not None else Path("submitit")
            backend = SubmititBackend(where, launcher_options, extra, threads)
    session = _Session(jobs, workers, progress or Progress(), outcome, finished, expected_s)
    session.progress.start(session.total, finished)
    try:
        if backend is None:
            session.run_in_process()
        else:
            session.run(backend, max(poll_s, backend.min_poll_s))
    finally:
        session.progress.stop()
    order = {job.job_id: i for i, job in enumerate(jobs)}
    return sorted(session.outcomes, key=lambda o: order[o.job_id])


class _Session:
    """The state of one :func:`run_jobs` call."""

    def __init__(
        self,
        jobs: Sequence[Job],
        workers: int,
        progress: Progress,
        outcome: OutcomeFn | None,
        finished: int,
        expected_s: float | None,
    ) -> None:
        self.pending = list(jobs)
        self.running: list[Any] = []
        self.workers = workers
        self.progress = progress
        self.outcome = outcome or default_outcome
        self.finished = finished
        self.total = finished + len(jobs)
        self.expected_s = expected_s
        self.durations: list[float] = []
        self.outcomes: list[Any] = []

    def record(self, job: Job, code: int | None, seconds: float, elapsed: list[float]) -> None:
        outcome = self.outcome(job, code, seconds)
        self.durations.append(outcome.seconds)
        self.outcomes.append(outcome)
        eta = estimate_eta(
            self.durations, len(self.pending), elapsed, self.workers, self.expected_s
        )
        self.progress.run_ended(outcome, self.finished + len(self.outcomes), self.total, eta)

    def run_in_process(self) -> None:
        """``workers=0``: each job's ``call`` here, one after the other."""
        while self.pending:
            job = self.pending.pop(0)
            if job.call is None:
                raise ValueError(f"job {job.job_id} has no call to run in this process")
            job.slot.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            self.progress.run_started(job.job_id, [job.job_id])
            try:
                job.call()
                code = 0
            except SeqlabError:
                raise  # a user error (bad option, missing data) would fail every job alike
            except Exception as exc:  # a crashed job must not stop the others
                job.log.write_text(f"{type(exc).__name__}: {exc}\n", encoding="utf-8")
                code = 1
            self.record(job, code, time.monotonic() - started, [])

    def run(self, backend: Any, pause_s: float) -> None:
        """Start jobs up to ``workers`` at a time and collect them as they end."""
        received: list[int] = []
        with stop_requests(received):
            try:
                while self.pending or self.running:
                    if received:
                        raise Terminated(f"signal {received[0]}")
                    while self.pending and len(self.running) < self.workers:
                        job = self.pending.pop(0)
                        job.slot.mkdir(parents=True, exist_ok=True)
                        self.running.append(backend.start(job))
                        running = [r.job.job_id for r in self.running]
                        self.progress.run_started(job.job_id, running)
                    self.collect()
                    if self.running and not received:
                        time.sleep(pause_s)
            except BaseException:
                backend.stop(self.running, ctrl_c=was_ctrl_c(received))
                raise

    def collect(self) -> None:
        ended: list[tuple[Any, int | None]] = []
        still = []
        for run in self.running:
            done, code = run.poll()
            if done:
                ended.append((run, code))
            else:
                still.append(run)
        self.running[:] = still
        for run, code in ended:
            now = time.monotonic()
            self.record(run.job, code, now - run.started, [now - r.started for r in still])


__all__ = ["check_launcher", "check_workers", "run_jobs", "worker_threads"]
