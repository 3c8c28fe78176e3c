"""The ``local`` launcher: each job a subprocess of this process, its output in its log."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from seqlab.jobs.model import Job
from seqlab.jobs.signals import reap


@dataclass
class LocalRun:
    """A started subprocess."""

    job: Job
    started: float
    proc: subprocess.Popen[bytes]
    output: IO[bytes]

    def poll(self) -> tuple[bool, int | None]:
        """``(ended, exit code)``."""
        code = self.proc.poll()
        if code is None:
            return False, None
        self.output.close()
        return True, code


class LocalBackend:
    """Runs jobs as subprocesses of this process (one process group: Ctrl-C reaches them)."""

    min_poll_s = 0.0

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)

    def start(self, job: Job) -> LocalRun:
        output = job.log.open("wb")
        started = time.monotonic()
        proc = subprocess.Popen(job.argv, stdout=output, stderr=subprocess.STDOUT, env=self.env)
        return LocalRun(job, started, proc, output)

    def stop(self, running: Sequence[LocalRun], *, ctrl_c: bool) -> None:
        """Stop the running jobs gracefully and wait for them.

        Ctrl-C reaches the workers too (one process group): each finishes its batch and
        saves a checkpoint, and a signal from here would make them stop at once instead.
        Otherwise (SIGTERM, an error here) pass a SIGTERM on: it stops them gracefully.
        """
        for run in running:
            if not ctrl_c:
                run.proc.terminate()
        for run in running:
            reap(run.proc, terminated=not ctrl_c)
            run.output.close()


__all__ = ["LocalBackend", "LocalRun"]
