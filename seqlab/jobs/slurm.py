"""The ``slurm`` launcher: each job a cluster job, submitted with submitit.

``submitit.AutoExecutor(folder=..., cluster=...)`` submits :func:`run_command` with the
job's argv; the launcher options go to ``executor.update_parameters`` (``timeout_min``,
``mem_gb``, ``gpus_per_node``, ``cpus_per_task``, ``slurm_partition``, ``slurm_account``...),
except ``cluster`` (default ``slurm``; ``local`` runs the jobs as local processes through
submitit's LocalExecutor, ``debug`` in this process) and ``folder`` (submitit's own files:
pickles and its logs; default given by the caller). The job's output goes to its log as
with the local launcher, so the cluster and this process must share the file system
(SLURM's usual setup).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from seqlab.errors import ConfigError, MissingDependencyError
from seqlab.jobs.model import Job

INSTALL_HINT = 'pip install "seqlab[cluster]"'


def require_submitit() -> Any:
    """The submitit module, or MissingDependencyError naming the install command."""
    try:
        import submitit
    except ImportError:
        raise MissingDependencyError(
            f"--launcher slurm submits jobs with submitit, which is not installed; install it "
            f"with: {INSTALL_HINT}"
        ) from None
    return submitit


# -- inside the cluster job ---------------------------------------------------------------------
def run_command(argv: Sequence[str], log: str, env: Mapping[str, str] | None = None) -> int:
    """What each cluster job runs: ``argv`` with stdout and stderr in ``log``; its exit code.

    ``env`` is added to the node's environment. On SLURM a cancelled job's processes all
    get SLURM's SIGTERM (seqlab fit then saves a checkpoint), so nothing is forwarded.
    Elsewhere (submitit's local executor signals only this process) the command runs in
    its own session and the first SIGINT or SIGTERM is passed on to it as one SIGTERM.
    """
    on_slurm = _cluster() == "slurm"
    with open(log, "wb") as output:
        proc = subprocess.Popen(
            list(argv),
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=not on_slurm,
        )
        if on_slurm:
            return proc.wait()
        with _forwarding(proc):
            return proc.wait()


def _cluster() -> str | None:
    try:
        import submitit

        return str(submitit.JobEnvironment().cluster)
    except Exception:  # not inside a submitit job
        return None


@contextmanager
def _forwarding(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sent: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if not sent and proc.poll() is None:
            sent.append(signum)
            proc.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# -- here: submitting and watching --------------------------------------------------------------
def _scalar(value: Any) -> Any:
    """``"60"`` → 60, ``"true"`` → True (values from the command line); others unchanged."""
    if not isinstance(value, str):
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return parsed if isinstance(parsed, int | float | bool) else value


def split_options(
    options: Mapping[str, Any] | None, threads: int | None
) -> tuple[str, Path | None, dict[str, Any]]:
    """``(cluster, folder, parameters for update_parameters)`` from the launcher options;
    ``threads`` becomes ``cpus_per_task`` unless the options set it."""
    params = {str(k): _scalar(v) for k, v in (options or {}).items()}
    cluster = str(params.pop("cluster", "slurm"))
    folder = params.pop("folder", None)
    if threads and not {"cpus_per_task", "slurm_cpus_per_task"} & set(params):
        params["cpus_per_task"] = threads
    return cluster, Path(folder) if folder is not None else None, params


@dataclass
class SubmititRun:
    """A submitted job."""

    job: Job
    started: float
    handle: Any  # submitit.Job

    def poll(self) -> tuple[bool, int | None]:
        """``(ended, exit code)``; no exit code when the cluster job itself failed."""
        if not self.handle.done():
            return False, None
        try:
            return True, int(self.handle.result())
        except Exception as exc:  # cancelled, timed out, node failure: say so in the log
            with self.job.log.open("a", encoding="utf-8") as f:
                f.write(f"\ncluster job {self.handle.job_id} did not finish: {exc}\n")
            return True, None


class SubmititBackend:
    """Submits jobs with ``submitit.AutoExecutor``; cancels the unfinished ones on a stop."""

    min_poll_s = 1.0

    def __init__(
        self,
        folder: Path,
        options: Mapping[str, Any] | None,
        env: Mapping[str, str],
        threads: int | None = None,
        grace_s: float = 30.0,
    ) -> None:
        submitit = require_submitit()
        cluster, chosen, params = split_options(options, threads)
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise ConfigError(
                "--launcher slurm submits with SLURM's sbatch, which is not on PATH here: run "
                "on the cluster's login node, or pass --launcher-opt cluster=local to try the "
                "launcher with local processes."
            )
        try:
            self.executor = submitit.AutoExecutor(folder=chosen or folder, cluster=cluster)
            self.executor.update_parameters(**params)
        except (ValueError, NameError, AssertionError, TypeError) as exc:
            raise ConfigError(f"--launcher-opt: {exc}") from None
        self.named = "name" in params
        self.env = dict(env)
        self.grace_s = grace_s

    def start(self, job: Job) -> SubmititRun:
        if not self.named:
            self.executor.update_parameters(name=job.job_id)
        started = time.monotonic()
        handle = self.executor.submit(run_command, list(job.argv), str(job.log), self.env)
        return SubmititRun(job, started, handle)

    def stop(self, running: Sequence[SubmititRun], *, ctrl_c: bool) -> None:
        """Cancel every submitted job not yet finished (queued ones never start; running
        ones get the cluster's SIGTERM and save a checkpoint), then wait a little for them."""
        for run in running:
            if not run.handle.done():
                run.handle.cancel(check=False)
        deadline = time.monotonic() + self.grace_s
        while any(not r.handle.done() for r in running) and time.monotonic() < deadline:
            time.sleep(0.5)


__all__ = [
    "INSTALL_HINT",
    "SubmititBackend",
    "SubmititRun",
    "require_submitit",
    "run_command",
    "split_options",
]
