"""One trial: ``seqlab.training.fit`` of the base config with the trial's values, in process.

The objective is the task's validation metric (``val_<metric>`` of the best checkpoint,
in the task's direction); the trial never sees test data (``trainer.test`` is off). Each
validation reports that metric to Optuna through :class:`PruningReporter`; when the
pruner says the trial is worse than its peers at that step, the reporter stops training
(Lightning's ``should_stop``, so the run directory is complete) and the trial ends as
*pruned*. The same callback stops training at the tune's deadline, whatever
``trainer.max_time`` does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import optuna
from lightning.pytorch.callbacks import Callback

from seqlab.config import Config, resolve_config
from seqlab.training import FitResult, fit
from seqlab.tune.space import Dimension


class PruningReporter(Callback):
    """Reports ``monitor`` to an Optuna trial at each validation (its step: the count of
    validations, the same across trials whatever their batch size),
    and stops training when the trial should be pruned or ``deadline`` (a
    :func:`time.monotonic` time) has passed.

    Optuna's own ``PyTorchLightningPruningCallback`` lives in the separate
    optuna-integration package and raises inside Lightning's loop; this one stops the
    loop instead, so the run's checkpoints and ``summary.json`` are written as usual.
    """

    def __init__(self, trial: Any, monitor: str, deadline: float | None = None) -> None:
        self.trial = trial
        self.monitor = monitor
        self.deadline = deadline
        self.validations = 0
        self.pruned_at: int | None = None  # the validation the pruner stopped the trial at
        self.out_of_time = False

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.pruned_at is not None:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        value = float(value)
        self.validations += 1
        if math.isfinite(value):
            self.trial.report(value, self.validations)
        if not math.isfinite(value) or self.trial.should_prune():
            self.pruned_at = self.validations
            trainer.should_stop = True

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.out_of_time = True
            trainer.should_stop = True


@dataclass
class TrialOutcome:
    """What one trial gave: its value (``None``: failed), whether it was pruned, its run."""

    value: float | None
    pruned: bool
    run_dir: Path | None
    result: FitResult | None
    seconds: float
    error: str = ""


def cell_values(base: Config, cell: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` for ``cell``, with ``base``'s cell options (``--cell-opt``: every cell's)
    kept: changing ``model.cell`` alone would drop them."""
    return {"model.cell": cell, "model.cell_options": dict(base.model.cell_options), **params}


def trial_config(
    base: Config,
    cell: str,
    params: dict[str, Any],
    run_dir: Path,
    number: int,
    max_time: float | None,
) -> Config:
    """The config of trial ``number``: ``base`` with ``cell``, the trial's values, a quiet
    run under ``run_dir`` and no test; ``max_time`` caps its training time."""
    config = resolve_config(overrides=cell_values(base, cell, params), base=base)
    config.run.dir = str(run_dir)
    config.run.name = f"trial-{number:03d}"
    config.run.quiet = True
    config.run.resume = None
    config.trainer.test = False
    if max_time is not None:
        given = config.trainer.max_time
        config.trainer.max_time = max_time if given is None else min(given, max_time)
    return config.validate()


def suggest(trial: Any, dims: list[Dimension]) -> dict[str, Any]:
    """The trial's value of every dimension (fixed ones included)."""
    return {d.key: d.suggest(trial) for d in dims}


def run_trial(
    trial: Any, config: Config, monitor: str, deadline: float | None = None
) -> TrialOutcome:
    """Train ``config`` as ``trial``: its best checkpoint's ``monitor`` is the value.

    A :class:`~seqlab.errors.NonFiniteLossError` or another :class:`SeqlabError` of the
    trial's values fails the trial (``value`` ``None``, ``error`` says why); Ctrl-C
    (:class:`~seqlab.errors.Interrupted`) and bugs propagate.
    """
    from seqlab.errors import Interrupted, SeqlabError

    reporter = PruningReporter(trial, monitor, deadline)
    started = time.monotonic()
    try:
        result = fit(config, callbacks=[reporter])
    except Interrupted:
        raise
    except SeqlabError as exc:
        return TrialOutcome(None, False, None, None, time.monotonic() - started, str(exc))
    value = result.metrics.get(monitor)
    finite = value is not None and math.isfinite(value)
    return TrialOutcome(
        value if finite else None,
        reporter.pruned_at is not None,
        result.run_dir,
        result,
        time.monotonic() - started,
        "" if finite else f"{monitor} is {value}",
    )


def tell(study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome) -> None:
    """Record ``outcome``: complete with its value, pruned, or failed."""
    states = optuna.trial.TrialState
    if outcome.run_dir is not None:
        trial.set_user_attr("run_dir", str(outcome.run_dir))
    if outcome.result is not None:
        # the checkpoint its value was measured on: the best one, else the last
        result = outcome.result
        ckpt = result.best_checkpoint or result.last_checkpoint
        if ckpt is not None:
            trial.set_user_attr("checkpoint", str(ckpt))
    trial.set_user_attr("seconds", round(outcome.seconds, 3))
    if outcome.error:
        trial.set_user_attr("error", outcome.error[:500])
        study.tell(trial, state=states.FAIL)
    elif outcome.pruned:
        study.tell(trial, state=states.PRUNED)
    else:
        study.tell(trial, outcome.value)


__all__ = [
    "PruningReporter",
    "TrialOutcome",
    "cell_values",
    "run_trial",
    "suggest",
    "tell",
    "trial_config",
]
