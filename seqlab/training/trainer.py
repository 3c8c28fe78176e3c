"""The Lightning Trainer of a fit: its settings, its callbacks and loggers, built once.

:func:`trainer_settings` and :func:`check_trainer_settings` run while the fit is planned,
before anything is written; :func:`build_session` runs once the run directory exists, so
every callback and logger is made with its final path.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
from lightning.pytorch.callbacks import (
    Callback,
    EarlyStopping,
    ModelCheckpoint,
    RichProgressBar,
    Timer,
)
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from lightning.pytorch.loggers import Logger
from lightning.pytorch.trainer.states import RunningStage

from seqlab.config import Config
from seqlab.diagnostics.attention import AttentionMaps
from seqlab.diagnostics.grad_flow import GradientFlow
from seqlab.errors import ConfigError
from seqlab.tasks import TaskInfo
from seqlab.tracking.loggers import build_loggers, describe_run, wandb_run_id
from seqlab.tracking.metrics_csv import CSVMetricsLogger
from seqlab.tracking.samples import TextSamples
from seqlab.tracking.translations import TranslationSamples
from seqlab.training.callbacks import (
    CheckpointMetadata,
    GracefulStop,
    LastCheckpoint,
    LineProgress,
    StepSeeder,
)
from seqlab.training.checkpoint import AtomicCheckpointIO
from seqlab.training.data import TrainingData
from seqlab.training.nonfinite import NonFiniteLossPolicy
from seqlab.training.quieting import silenced

if TYPE_CHECKING:
    from seqlab.training.plan import FitPlan


def trainer_settings(
    config: Config, devices: int | str | list[int], *, automatic_optimization: bool
) -> dict[str, Any]:
    """The Trainer's arguments for ``config``, all but its callbacks and loggers.

    Gradients are clipped and accumulated by Lightning only under automatic optimisation
    (Lightning refuses both for a model that optimises itself, the language model, which
    does them itself). ``trainer.max_time`` is not among them: :func:`fit_callbacks`
    installs its :class:`TrainingBudget`.
    """
    t = config.trainer
    quiet = config.run.quiet
    clip = config.optim.gradient_clip if automatic_optimization else None
    accumulate = t.accumulate_grad_batches if automatic_optimization else 1
    settings: dict[str, Any] = dict(
        accelerator=t.accelerator,
        devices=devices,
        strategy=t.strategy,
        num_nodes=t.num_nodes,
        precision=t.precision,
        max_epochs=t.max_epochs,
        max_steps=t.max_steps,
        check_val_every_n_epoch=t.check_val_every_n_epoch,
        limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches,
        limit_test_batches=t.limit_test_batches,
        num_sanity_val_steps=t.num_sanity_val_steps,
        log_every_n_steps=config.log.every_n_steps,
        deterministic=t.deterministic or None,
        gradient_clip_val=clip,
        gradient_clip_algorithm="norm" if clip is not None else None,
        accumulate_grad_batches=accumulate,
        enable_checkpointing=True,
        enable_progress_bar=not quiet,
        # Lightning's summary adds nothing to seqlab's own line (parameters) but "FLOPs 0"
        enable_model_summary=False,
        default_root_dir=str(Path(config.run.dir)),
        use_distributed_sampler=False,  # seqlab shards (and resumes) the training data itself
    )
    if t.val_check_interval is not None:
        settings["val_check_interval"] = t.val_check_interval
    return settings


def _trainer(settings: dict[str, Any], callbacks: list[Callback], loggers: Any) -> L.Trainer:
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    try:
        return L.Trainer(
            **settings, callbacks=callbacks, logger=loggers, plugins=[AtomicCheckpointIO()]
        )
    except (MisconfigurationException, ValueError) as exc:
        raise ConfigError(f"Lightning rejected the trainer settings: {exc}") from None


def check_trainer_settings(settings: dict[str, Any], callbacks: Sequence[Callback] = ()) -> None:
    """Let Lightning reject ``settings`` (and the caller's ``callbacks``) now, before the
    run directory exists: a Trainer made and dropped, silently (about 10 ms)."""
    quiet = not settings["enable_progress_bar"]
    with silenced():
        _trainer(settings, [*progress_bar(quiet), *callbacks], False)


def world_size(config: Config, devices: int | str | list[int]) -> int:
    """Processes sharing the training data: devices per node × nodes (1 for ``auto``)."""
    if isinstance(devices, list):
        per_node = len(devices)
    elif isinstance(devices, int) and devices > 0:
        per_node = devices
    else:
        per_node = 1
    return per_node * config.trainer.num_nodes


def training_batches(config: Config, task: Any, world: int = 1) -> int | None:
    """Training batches per epoch and process, as Lightning counts them (each of ``world``
    processes gets its share of the examples, then ``limit_train_batches`` applies;
    ``None`` when the loader has no length)."""
    loader = task.train_dataloader()
    try:
        examples, batch_size = len(loader.dataset), loader.batch_size
    except (TypeError, AttributeError):
        examples, batch_size = 0, None
    if batch_size:
        share = math.ceil(examples / world)
        batches = share // batch_size if loader.drop_last else math.ceil(share / batch_size)
    else:  # a stream that batches itself (charlm) splits its batches among the processes
        try:
            batches = math.ceil(len(loader) / world)
        except TypeError:
            return None
    limit = config.trainer.limit_train_batches
    if isinstance(limit, int) and not isinstance(limit, bool):
        return min(batches, limit)
    return int(batches * float(limit))


def check_val_check_interval(config: Config, task: Any, devices: int | str | list[int] = 1) -> None:
    """An integer ``val_check_interval`` larger than an epoch's batches, while validation
    also counts epochs, is refused by Lightning only once training starts: refuse it now."""
    t = config.trainer
    interval = t.val_check_interval
    if not isinstance(interval, int) or isinstance(interval, bool):
        return
    if t.check_val_every_n_epoch is None:
        return  # validation counts batches across epochs: any interval works
    world = world_size(config, devices)
    batches = training_batches(config, task, world)
    if batches is None or interval <= batches:
        return
    per = f" per process ({world} processes)" if world > 1 else ""
    raise ConfigError(
        f"trainer.val_check_interval={interval} is more than the {batches} training batches of "
        f"one epoch{per} (task '{config.task.name}', batch size {config.task.batch_size}), so "
        f"validation would never run within an epoch. Use at most "
        f"--set trainer.val_check_interval={batches}, a fraction of an epoch such as 0.5, or "
        f"count across epochs with --set trainer.check_val_every_n_epoch=null."
    )


def progress_bar(quiet: bool) -> list[Callback]:
    """Rich's bar on a terminal, plain lines in logs (no ``\r`` or cursor escapes), none
    when ``quiet``."""
    if quiet:
        return []
    if sys.stdout.isatty():
        return [RichProgressBar(leave=True)]
    return [LineProgress()]


def diagnostic_callbacks(config: Config, info: TaskInfo, run_dir: Path) -> list[Callback]:
    """Gradient flow (``log.grad_flow``); text samples of language models; sample
    translations and attention maps of sequence-to-sequence models."""
    out: list[Callback] = []
    grad_flow = GradientFlow.from_option(config.log.grad_flow, run_dir)
    if grad_flow is not None:
        out.append(grad_flow)
    if config.log.samples and info.output_kind == "language_model" and info.itos:
        out.append(TextSamples(run_dir, seed=config.trainer.seed))
    if config.log.samples and info.output_kind == "seq2seq":
        out += [TranslationSamples(run_dir), AttentionMaps(run_dir)]
    return out


class TrainingBudget(Timer):
    """Lightning's :class:`Timer` for ``trainer.max_time``: stops training once the run has
    used ``max_time`` seconds, counting ``spent``, the wall time of the run's earlier fits
    (``segments.jsonl``), so a resumed run gets what is left.

    The checkpoint's own timer state is ignored: ``segments.jsonl`` is the one record of
    time spent, the same one ``--resume`` reads to tell a run with no time left.
    """

    def __init__(self, max_time: float, spent: float = 0.0) -> None:
        super().__init__(duration=timedelta(seconds=max_time), interval="step", verbose=False)
        self.max_time, self.spent = max_time, spent

    def time_elapsed(self, stage: str = RunningStage.TRAINING) -> float:
        earlier = self.spent if RunningStage(stage) == RunningStage.TRAINING else 0.0
        return super().time_elapsed(stage) + earlier

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass  # segments.jsonl, not the checkpoint, says how much time was spent

    @property
    def reached(self) -> bool:
        remaining = self.time_remaining()
        return remaining is not None and remaining <= 0


class EarlyStop(EarlyStopping):
    """Lightning's :class:`EarlyStopping` on the task's validation metric, checked after
    every validation (patience counts validations, not epochs). A resumed run keeps the
    count and best score so far but uses the patience it is given now."""

    def __init__(self, monitor: str, mode: str, patience: int) -> None:
        super().__init__(
            monitor=monitor, mode=mode, patience=patience, check_on_train_epoch_end=False
        )
        self.configured_patience = patience

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.patience = self.configured_patience
        # this fit has not stopped (yet), whatever stopped an earlier one
        self.stopping_reason = EarlyStoppingReason.NOT_STOPPED
        self.stopping_reason_message = None

    @property
    def stopped(self) -> bool:
        """Whether it stopped this fit."""
        return self.stopping_reason != EarlyStoppingReason.NOT_STOPPED

    def describe(self) -> str:
        """Why it stopped, in words (``early_stop=3: val_mse did not improve...``)."""
        if self.stopping_reason == EarlyStoppingReason.PATIENCE_EXHAUSTED:
            return (
                f"early_stop={self.patience}: {self.monitor} did not improve for "
                f"{self.wait_count} validations (best {float(self.best_score):.4g})"
            )
        return f"early_stop: {self.stopping_reason_message}"


def limit_callbacks(plan: FitPlan) -> list[Callback]:
    """The time budget (``trainer.max_time``) and early stopping (``trainer.early_stop``)
    the config asks for."""
    t, out = plan.config.trainer, []
    if t.max_time is not None:
        out.append(TrainingBudget(t.max_time, plan.time_spent))
    if t.early_stop is not None:
        out.append(EarlyStop(plan.model.monitor, plan.info.metric_mode, t.early_stop))
    return out


def check_early_stop(config: Config) -> None:
    """Early stopping needs validations: refuse it where none would run."""
    t = config.trainer
    if t.early_stop is None:
        return
    if t.limit_val_batches == 0:
        raise ConfigError(
            f"trainer.early_stop={t.early_stop} watches the validation metric, but "
            f"trainer.limit_val_batches=0 turns validation off, so it could never stop the "
            f"run. Let validation run (e.g. --set trainer.limit_val_batches=1.0) or drop "
            f"--early-stop."
        )


@dataclass
class FitCallbacks:
    """The callbacks a fit reads back after training, and the full list in Trainer order."""

    best: ModelCheckpoint
    last: LastCheckpoint
    stopper: GracefulStop
    policy: NonFiniteLossPolicy
    all: list[Callback]


def fit_callbacks(plan: FitPlan, run_dir: Path, extra: Sequence[Callback]) -> FitCallbacks:
    """seqlab's callbacks around the caller's ``extra`` ones, aimed at ``run_dir``.

    The checkpoint callbacks come last so that the state they save includes what the
    others did at the same step.
    """
    config, checkpoints = plan.config, run_dir / "checkpoints"
    best = ModelCheckpoint(
        dirpath=checkpoints,
        filename="best",
        monitor=plan.model.monitor,
        mode=plan.info.metric_mode,
        save_top_k=1,
        save_last=False,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    last = LastCheckpoint(checkpoints / "last.ckpt")
    stopper = GracefulStop()
    policy = NonFiniteLossPolicy(
        config.trainer.nonfinite_loss, config.trainer.max_consecutive_skips
    )
    everything: list[Callback] = [
        CheckpointMetadata(plan.metadata),
        StepSeeder(config.trainer.seed),
        policy,
        stopper,
        *limit_callbacks(plan),
        *progress_bar(config.run.quiet),
        *extra,
        *diagnostic_callbacks(config, plan.info, run_dir),
        best,
        last,
    ]
    return FitCallbacks(best, last, stopper, policy, everything)


def fit_loggers(
    plan: FitPlan, run_dir: Path, csv_logger: CSVMetricsLogger, last_checkpoint: Path
) -> list[Logger]:
    """``csv_logger`` (``metrics.csv``) first, then the logger ``log.logger`` names (a
    resumed run continues its W&B run)."""
    config = plan.config
    return build_loggers(
        # absolute: W&B's service process is shared by the runs of one Python process
        # and does not follow later changes of the working directory
        config.log.logger,
        run_dir.resolve(),
        project=config.log.wandb_project,
        entity=config.log.wandb_entity,
        group=config.log.wandb_group,
        tags=config.log.wandb_tags or None,
        mode=config.log.wandb_mode,
        name=run_dir.name,
        log_model=config.log.log_model,
        config_dict=config.to_dict(),
        run_metadata=describe_run(
            plan.model, cell=config.model.cell, task=config.task.name, task_info=plan.info
        ),
        run_id=wandb_run_id(run_dir) if plan.resuming else None,
        csv_logger=csv_logger,
        last_checkpoint=last_checkpoint,
    )


@dataclass
class FitSession:
    """A fit ready to run: the Trainer with its callbacks and loggers, and the data."""

    run_dir: Path
    trainer: L.Trainer
    callbacks: FitCallbacks
    loggers: list[Logger]
    data: TrainingData


def build_session(plan: FitPlan, run_dir: Path, extra: Sequence[Callback]) -> FitSession:
    """The Trainer of ``plan``, writing to ``run_dir`` (which exists on global rank 0)."""
    callbacks = fit_callbacks(plan, run_dir, extra)
    csv_logger = CSVMetricsLogger(run_dir / "metrics.csv", resume=plan.resuming)
    trainer = _trainer(plan.trainer_settings, callbacks.all, [csv_logger])
    loggers = fit_loggers(plan, run_dir, csv_logger, callbacks.last.path)
    trainer.loggers = loggers
    data = TrainingData(plan.task, plan.config.trainer.seed)
    return FitSession(run_dir, trainer, callbacks, loggers, data)


__all__ = [
    "EarlyStop",
    "FitCallbacks",
    "FitSession",
    "TrainingBudget",
    "build_session",
    "check_early_stop",
    "check_trainer_settings",
    "check_val_check_interval",
    "diagnostic_callbacks",
    "fit_callbacks",
    "fit_loggers",
    "limit_callbacks",
    "progress_bar",
    "trainer_settings",
    "training_batches",
    "world_size",
]
