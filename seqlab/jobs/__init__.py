"""One job runner for ``seqlab compare`` and ``seqlab sweep``.

A job is an id, a slot directory, a command (argv) and its log file, plus an optional
in-process callable for ``workers=0``. :func:`run_jobs` runs them ``workers`` at a time
with threads per worker (``OMP_NUM_THREADS``), an environment, progress with an ETA and
graceful Ctrl-C/SIGTERM handling, on a launcher: ``local`` (subprocesses) or ``slurm``
(submitit; ``pip install "seqlab[cluster]"``).

>>> from pathlib import Path
>>> from seqlab.jobs import Job, run_jobs
>>> job = Job("hello", Path("out/hello"), ["echo", "hi"], Path("out/hello/output.log"))
>>> [o.status for o in run_jobs([job], workers=1)]                     # doctest: +SKIP
['ok']

Modules: :mod:`~seqlab.jobs.model` (jobs, outcomes, progress, ETA),
:mod:`~seqlab.jobs.runner` (:func:`run_jobs`), :mod:`~seqlab.jobs.local` and
:mod:`~seqlab.jobs.slurm` (the launchers), :mod:`~seqlab.jobs.signals` (Ctrl-C and
SIGTERM), :mod:`~seqlab.jobs.rundirs` (seqlab fit's run directories: reuse and resume),
:mod:`~seqlab.jobs.console` (:class:`ConsoleProgress`).
"""

from __future__ import annotations

from seqlab.jobs.console import ConsoleProgress
from seqlab.jobs.model import (
    LAUNCHERS,
    Job,
    JobOutcome,
    Outcome,
    Progress,
    default_outcome,
    estimate_eta,
    format_duration,
)
from seqlab.jobs.rundirs import finished_dir, remove_stopped, resumable_dir, run_dirs
from seqlab.jobs.runner import check_launcher, check_workers, run_jobs, worker_threads
from seqlab.jobs.signals import Terminated
from seqlab.jobs.slurm import INSTALL_HINT

__all__ = [
    "INSTALL_HINT",
    "LAUNCHERS",
    "ConsoleProgress",
    "Job",
    "JobOutcome",
    "Outcome",
    "Progress",
    "Terminated",
    "check_launcher",
    "check_workers",
    "default_outcome",
    "estimate_eta",
    "finished_dir",
    "format_duration",
    "remove_stopped",
    "resumable_dir",
    "run_dirs",
    "run_jobs",
    "worker_threads",
]
