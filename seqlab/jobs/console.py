"""Progress on the console: a rich bar on a terminal, one line per event otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console

from seqlab.jobs.model import Outcome, Progress, format_duration


class ConsoleProgress(Progress):
    """A rich progress bar (on a terminal) or one line per event (logs, pipes).

    Args:
        quiet: print nothing.
        console: where to print (default: a console on stderr).
    """

    def __init__(self, quiet: bool = False, console: Console | None = None) -> None:
        self.quiet = quiet
        self.console = console if console is not None else Console(stderr=True)
        self.live: Any = None
        self.task_id: Any = None

    def _print(self, text: str) -> None:
        if self.quiet:
            return
        target = self.live.console if self.live is not None else self.console
        target.print(text, highlight=False, soft_wrap=True)

    def start(self, total: int, done: int) -> None:
        if done:
            self._print(f"{done} of {total} runs already finished; reusing them.")
        if self.quiet or not self.console.is_terminal or done == total:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichBar

        self.live = RichBar(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=self.console,
        )
        self.live.start()
        self.task_id = self.live.add_task("starting", total=total, completed=done, eta="?")

    def run_started(self, job_id: str, running: Sequence[str]) -> None:
        if self.live is not None:
            self.live.update(self.task_id, description=f"running {', '.join(running)}")
        else:
            self._print(f"started {job_id}")

    def run_ended(self, outcome: Outcome, done: int, total: int, eta_s: float | None) -> None:
        what = f"{outcome.job_id} {outcome.status} in {format_duration(outcome.seconds)}"
        if not outcome.ok:
            what += f" (exit {outcome.returncode}; see {outcome.log})"
        eta = format_duration(eta_s) if done < total else "done"
        self._print(f"[{done}/{total}] {what}; ETA {eta}")
        if self.live is not None:
            self.live.update(self.task_id, completed=done, eta=format_duration(eta_s))

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


__all__ = ["ConsoleProgress"]
