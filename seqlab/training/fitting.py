"""``fit``: training as a sequence of phases, each in its own module.

1. plan (:mod:`~seqlab.training.plan`): config, devices, strategy, cell, task, model and
   Trainer settings checked; nothing written.
2. open the run (:func:`~seqlab.training.rundir.open_run`): the run directory created
   and locked, ``config.yaml`` written.
3. build the Trainer (:mod:`~seqlab.training.trainer`): callbacks and loggers aimed at
   the run directory.
4. execute (:mod:`~seqlab.training.execute`): train, then measure the best checkpoint.
5. summarise (:mod:`~seqlab.training.summary`): ``summary.json`` and the
   :class:`~seqlab.training.result.FitResult`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from lightning.pytorch.callbacks import Callback

from seqlab.config import Config
from seqlab.training.execute import execute
from seqlab.training.plan import plan_fit
from seqlab.training.quieting import lightning_output
from seqlab.training.result import FitResult
from seqlab.training.rundir import open_run
from seqlab.training.summary import summarise
from seqlab.training.trainer import build_session


def fit(
    config: Config | None = None,
    *,
    resume: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
) -> FitResult:
    """Train a model as ``config`` says; store everything in a new run directory.

    Args:
        config: the experiment (default: :class:`~seqlab.config.Config`'s defaults).
        resume: a run directory to continue from its ``checkpoints/last.ckpt`` with the
            same model, task, optimiser, scheduler state and step count (default:
            ``config.run.resume``). ``config`` may then only change how long and where to
            train (default: the saved config).
        callbacks: extra Lightning callbacks (diagnostics, loggers' hooks...).

    Returns the best checkpoint's validation and test metrics next to the task's
    baseline. Under DDP every process returns; only global rank 0 has written the run
    directory (``is_global_zero``).

    Raises :class:`~seqlab.errors.Interrupted` when Ctrl-C (SIGINT) or SIGTERM stopped
    training (after saving ``last.ckpt``; the message says how to resume),
    :class:`~seqlab.errors.NonFiniteLossError` for a NaN/Inf loss (see
    ``trainer.nonfinite_loss``), :class:`~seqlab.errors.RunInUseError` when another process
    is writing the run directory, and other :class:`~seqlab.errors.SeqlabError` subclasses for bad
    input, before anything is written.
    """
    started = time.perf_counter()
    plan = plan_fit(config, resume, callbacks=callbacks)
    with open_run(plan.config, plan.resume_dir) as run_dir, lightning_output(plan.config.run.quiet):
        session = build_session(plan, run_dir, callbacks)
        measured = execute(plan, session)
        return summarise(plan, session, measured, time.perf_counter() - started)


__all__ = ["fit"]
