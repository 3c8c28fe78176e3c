"""Running a planned fit: training under signal handling, then measuring the best checkpoint.

A stop turns into an error that says how to go on: :class:`~seqlab.errors.Interrupted`
(Ctrl-C or SIGTERM, with the command to resume) or
:class:`~seqlab.errors.NonFiniteLossError` (with the last good checkpoint).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Timer
from lightning.pytorch.loggers import Logger

from seqlab.errors import Interrupted, NonFiniteLossError
from seqlab.tracking.loggers import finish_loggers
from seqlab.training.callbacks import GracefulStop, LastCheckpoint
from seqlab.training.plan import FitPlan
from seqlab.training.task import has_test_split
from seqlab.training.trainer import EarlyStop, FitSession, TrainingBudget


def _saved_step(last: LastCheckpoint) -> str:
    return f" (step {last.saved_step})" if last.saved_step is not None else ""


def interrupted(
    stopper: GracefulStop, last: LastCheckpoint, run_dir: Path, *, at_once: bool
) -> Interrupted:
    """The error for a fit a signal stopped: what is saved, and how to resume it."""
    name = stopper.signal_name
    if not last.path.exists():
        return Interrupted(
            f"stopped by {name} before the run's first checkpoint was written; there is "
            f"nothing to resume. Start the run again."
        )
    if at_once:
        what = (
            f"stopped at once by a second {name}: the last checkpoint, {last.path}"
            f"{_saved_step(last)}, is intact, and the steps after it are lost."
        )
    else:
        what = (
            f"stopped by {name} after step {stopper.stopped_at}; its state is saved in {last.path}."
        )
    return Interrupted(f"{what} Resume with: seqlab fit --resume {run_dir}")


def last_good(last: LastCheckpoint, run_dir: Path) -> str:
    """Where a run a non-finite loss stopped can continue from."""
    if not last.path.exists():
        return "No checkpoint was written before it."
    return (
        f"The last good checkpoint is {last.path}{_saved_step(last)}: continue from it "
        f"with seqlab fit --resume {run_dir} --set trainer.nonfinite_loss=skip, or start "
        f"again with another learning rate."
    )


def train(plan: FitPlan, session: FitSession) -> None:
    """``trainer.fit`` with Ctrl-C/SIGTERM stopping gracefully (a resumed run continues
    from ``last.ckpt``)."""
    trainer, stopper, last = session.trainer, session.callbacks.stopper, session.callbacks.last
    try:
        with stopper.handling_signals():
            trainer.fit(
                plan.model,
                datamodule=session.data,
                ckpt_path=str(last.path) if plan.resuming else None,
                weights_only=True,
            )
    except (KeyboardInterrupt, SystemExit):
        if stopper.received is None:
            raise
        # Lightning ends a SIGTERM'd fit with SystemExit even after a graceful stop
        at_once = stopper.stopped_at is None
        raise interrupted(stopper, last, session.run_dir, at_once=at_once) from None
    except NonFiniteLossError as exc:
        raise NonFiniteLossError(f"{exc} {last_good(last, session.run_dir)}") from None
    if stopper.received is not None:
        raise interrupted(stopper, last, session.run_dir, at_once=False)


def _floats(results: Sequence[dict[str, Any]]) -> dict[str, float]:
    return {k: float(v) for r in results for k, v in r.items()}


@dataclass
class Measured:
    """The final metrics of a fit and where they were measured."""

    metrics: dict[str, float]
    tested: bool  # test metrics measured (else the headline is a validation metric)
    best: Path | None  # the best checkpoint, if one was written
    stopped_because: str = ""  # why training ended (see stop_reason)


def stop_reason(plan: FitPlan, trainer: Any) -> str:
    """Why training ended, in words, starting with the limit or control that ended it:
    ``max_steps=100 reached (epoch 3)``, ``max_epochs=...``, ``early_stop=3: ...``,
    ``max_time=60 s reached ...``, or the callback that asked Lightning to stop."""
    t = plan.config.trainer
    step, epoch = int(trainer.global_step), int(trainer.current_epoch)
    if t.max_steps != -1 and step >= t.max_steps:
        return f"max_steps={t.max_steps} reached (epoch {epoch})"
    if t.max_epochs is not None and epoch >= t.max_epochs:
        lifted = "" if t.max_steps != -1 else "; set --max-steps alone for a step budget"
        return f"max_epochs={t.max_epochs} reached (step {step}{lifted})"
    for c in trainer.callbacks:
        if isinstance(c, EarlyStop) and c.stopped:
            return f"{c.describe()} (step {step}, epoch {epoch})"
    for c in trainer.callbacks:
        if isinstance(c, TrainingBudget) and c.reached:
            return f"max_time={c.max_time:g} s reached (step {step}, epoch {epoch})"
        remaining = c.time_remaining() if isinstance(c, Timer) else None
        if remaining is not None and remaining <= 0:  # a caller's Timer (seqlab compare's)
            limit = c.time_elapsed() + remaining
            return f"time limit of {limit:.3g} s reached (step {step}, epoch {epoch})"
    asked = [type(c).__name__ for c in trainer.callbacks if getattr(c, "stopped_epoch", 0)]
    if asked:
        return f"stopped by {', '.join(asked)} at step {step}"
    return f"stopped by a callback at step {step}, epoch {epoch}"


def measure(plan: FitPlan, session: FitSession) -> Measured:
    """Validation and test metrics of the best checkpoint (else the last one), outside the
    training record: the loggers are detached, so metrics.csv holds the training history
    only. ``train_loss`` is the last training loss logged."""
    trainer, callbacks, t = session.trainer, session.callbacks, plan.config.trainer
    train_loss = trainer.callback_metrics.get("train_loss")
    best = Path(callbacks.best.best_model_path) if callbacks.best.best_model_path else None
    last = callbacks.last.path
    final = best if best is not None and best.exists() else (last if last.exists() else None)
    final = trainer.strategy.broadcast(final, src=0)  # rank 0's files decide
    tested = t.test and t.limit_test_batches != 0 and has_test_split(plan.task)
    trainer.loggers = []
    path = str(final) if final is not None else None
    metrics: dict[str, float] = {}
    for run, wanted in ((trainer.validate, t.limit_val_batches != 0), (trainer.test, tested)):
        if wanted:
            results = run(
                plan.model,
                datamodule=session.data,
                ckpt_path=path,
                verbose=False,
                weights_only=True,
            )
            metrics.update(_floats(results))
    if train_loss is not None:
        metrics["train_loss"] = float(train_loss)
    return Measured(metrics, bool(tested), best)


@contextmanager
def closing_loggers_on_error(loggers: Sequence[Logger]) -> Iterator[None]:
    """On any error, close the loggers after the first (``metrics.csv``, always complete)
    as failed: a W&B run gets its exit record instead of being left open."""
    try:
        yield
    except BaseException:
        finish_loggers(loggers[1:], success=False)
        raise


def execute(plan: FitPlan, session: FitSession) -> Measured:
    """Train, then measure the best checkpoint."""
    with closing_loggers_on_error(session.loggers):
        train(plan, session)
        reason = stop_reason(plan, session.trainer)
        measured = measure(plan, session)
        measured.stopped_because = reason
        return measured


__all__ = [
    "Measured",
    "closing_loggers_on_error",
    "execute",
    "interrupted",
    "last_good",
    "measure",
    "stop_reason",
    "train",
]
