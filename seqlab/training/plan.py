"""Planning a fit: every check that can fail on bad input, made before anything is written.

:func:`plan_fit` resolves the config (a resumed run's included), checks devices, strategy,
cell, task and Trainer settings, and builds the task and the model. Nothing touches the
run directory; an error here leaves the file system as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from seqlab.config import Config
from seqlab.errors import ConfigError, PluginError
from seqlab.models import SequenceModel, build_model
from seqlab.tasks import TaskInfo
from seqlab.tasks.base import Task
from seqlab.training.checkpoint import seqlab_metadata
from seqlab.training.devices import check_devices, check_strategy
from seqlab.training.quieting import lightning_output
from seqlab.training.resume import check_credentials, resume_config
from seqlab.training.rundir import previous_wall_time
from seqlab.training.task import task_from_config
from seqlab.training.trainer import (
    check_early_stop,
    check_trainer_settings,
    check_val_check_interval,
    trainer_settings,
)


@dataclass
class FitPlan:
    """What a fit will do, decided and checked before anything is written.

    Attributes:
        config: the validated config the run trains with.
        resume_dir: the run directory to continue (``None``: a new run).
        devices: the devices setting in Lightning's form.
        task: the task, its data made.
        info: what the task publishes (input and output kinds, metric, baselines).
        model: the model, initialised from ``config.trainer.seed``.
        metadata: seqlab's record stored in every checkpoint.
        trainer_settings: the Trainer's arguments (all but callbacks and loggers),
            already accepted by Lightning.
        time_spent: seconds the earlier fits of a resumed run took (``segments.jsonl``),
            counted against ``trainer.max_time``.
    """

    config: Config
    resume_dir: Path | None
    devices: int | str | list[int]
    task: Task
    info: TaskInfo
    model: SequenceModel
    metadata: dict[str, Any]
    trainer_settings: dict[str, Any]
    time_spent: float = 0.0

    @property
    def resuming(self) -> bool:
        return self.resume_dir is not None


def fit_config(config: Config | None, resume: str | Path | None) -> tuple[Path | None, Config]:
    """The run to continue (``resume``, else ``config.run.resume``; ``None``: a new run) and
    the validated config to train with (default: a resumed run's saved one, else defaults)."""
    if resume is None and config is not None and config.run.resume:
        resume = config.run.resume
    resume_dir = None
    if resume is not None:
        resume_dir, config = resume_config(resume, config)
        check_credentials(resume_dir, config)
    return resume_dir, (config if config is not None else Config()).validate()


def check_task_fits_model(config: Config, task: Task) -> None:
    """A task whose model predicts what comes next cannot take a bidirectional model."""
    if config.model.bidirectional and not getattr(task, "supports_bidirectional", True):
        raise ConfigError(
            f"task '{config.task.name}' cannot be used with a bidirectional model "
            f"(--bidirectional): its model predicts what comes next, so it must not see "
            f"the future. Drop --bidirectional (model.bidirectional=false)."
        )


def check_plugin_cell(config: Config, info: TaskInfo) -> None:
    """Run a plugin cell through the cell contract's shape and dtype check before
    training, so a cell that breaks seqlab's contract fails with its distribution's name
    instead of deep inside a training step. Built-in cells are tested in seqlab's own CI."""
    from seqlab.cells import cell_source
    from seqlab.cells.contract import check_cell_contract

    name = config.model.cell
    source = cell_source(name)
    if source.builtin:
        return
    if info.input_kind == "tokens":
        input_size = config.model.embedding_size or config.model.hidden_size
    else:
        input_size = info.input_size
    try:
        check_cell_contract(
            name,
            input_size=input_size,
            hidden_size=config.model.hidden_size,
            **config.model.cell_options,
        )
    except AssertionError as exc:
        raise PluginError(
            f"cell '{name}' from the distribution '{source.distribution}' "
            f"{source.version} breaks seqlab's cell contract, so it cannot be trained: "
            f"{' '.join(str(exc).split())} This is a bug in the plugin: run `seqlab cells "
            f"check {name}` for the full report and send it to the plugin's authors; "
            f"meanwhile pick another cell (seqlab cells lists them)."
        ) from exc


def hand_accumulation_to_model(config: Config, model: SequenceModel) -> None:
    """Lightning accumulates gradients only for models it optimises; one that optimises
    itself (the language model) is given ``trainer.accumulate_grad_batches`` instead."""
    k = config.trainer.accumulate_grad_batches
    if model.automatic_optimization or k == 1:
        return
    if not hasattr(type(model), "accumulate_grad_batches"):
        raise ConfigError(
            f"trainer.accumulate_grad_batches={k}: the {type(model).__name__} model steps its "
            f"optimiser itself and does not accumulate gradients. Drop the setting, or use a "
            f"larger task.batch_size for the same effect."
        )
    model.accumulate_grad_batches = k


def plan_fit(
    config: Config | None, resume: str | Path | None = None, *, callbacks: Sequence[Callback] = ()
) -> FitPlan:
    """Check everything about a fit that bad input can break, and build its task and model.

    ``callbacks`` are the caller's extra callbacks, checked with the Trainer settings.
    Raises a :class:`~seqlab.errors.SeqlabError` subclass for bad input; writes nothing.
    """
    resume_dir, config = fit_config(config, resume)
    devices = check_devices(config.trainer)
    check_strategy(config.trainer.strategy)
    check_early_stop(config)
    with lightning_output(config.run.quiet):
        from seqlab.cells import get_cell

        get_cell(config.model.cell)  # an unknown cell fails before any data is made
        L.seed_everything(config.trainer.seed, workers=True, verbose=False)
        task = task_from_config(config)
        check_task_fits_model(config, task)
        info = task.info
        check_plugin_cell(config, info)
        model = build_model(config.model, config.optim, info)
        hand_accumulation_to_model(config, model)
        metadata = seqlab_metadata(config, info)
        settings = trainer_settings(
            config, devices, automatic_optimization=model.automatic_optimization
        )
        check_trainer_settings(settings, callbacks)
        check_val_check_interval(config, task, devices)
    spent = previous_wall_time(resume_dir) if resume_dir is not None else 0.0
    return FitPlan(config, resume_dir, devices, task, info, model, metadata, settings, spent)


__all__ = [
    "FitPlan",
    "check_plugin_cell",
    "check_task_fits_model",
    "fit_config",
    "hand_accumulation_to_model",
    "plan_fit",
]
