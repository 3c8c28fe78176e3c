"""Stopping on Ctrl-C and SIGTERM: record the signal, stop the workers gracefully, re-raise."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGINT received: stop like Ctrl-C (workers are stopped, finished runs kept)."""


@contextmanager
def stop_requests(received: list[int]) -> Iterator[None]:
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


def was_ctrl_c(received: list[int]) -> bool:
    """Whether the stop was a Ctrl-C (SIGINT first), which reached the workers too."""
    return bool(received) and received[0] == signal.SIGINT


def reap(proc: subprocess.Popen[bytes], *, terminated: bool, grace_s: float = 15.0) -> None:
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


__all__ = ["Terminated", "reap", "stop_requests", "was_ctrl_c"]
