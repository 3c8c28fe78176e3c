"""The task a config names, made the same way for training and for evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
from lightning.pytorch.utilities.model_helpers import is_overridden

from seqlab.config import Config
from seqlab.config.experiment import set_recipe_source
from seqlab.errors import UnknownNameError
from seqlab.tasks import REGISTRY, create_task
from seqlab.tasks.base import Task


def task_from_config(config: Config, *, batch_size: int | None = None) -> Task:
    """The task of ``config.task``, its data drawn with ``config.trainer.seed``.

    ``batch_size`` replaces ``config.task.batch_size`` when given (evaluation may use
    another).
    """
    return create_task(
        config.task.name,
        batch_size=batch_size or config.task.batch_size,
        seed=config.trainer.seed,
        num_workers=config.task.num_workers,
        **config.task.options,
    )


def task_recipe(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe of task ``name`` with ``options`` (:meth:`Task.recipe`): the config
    defaults suited to it, as dotted keys; ``{}`` for an unknown name (building the task
    explains that error)."""
    try:
        cls = REGISTRY.get(name)
    except UnknownNameError:
        return {}
    return dict(cls.recipe(options))


# Every config resolved once training is imported gets the task's recipe (the config layer
# cannot import tasks itself).
set_recipe_source(task_recipe)


def has_test_split(task: Task) -> bool:
    """Whether the task provides a test split (not every task does)."""
    return is_overridden("test_dataloader", task, L.LightningDataModule)


__all__ = ["has_test_split", "task_from_config", "task_recipe"]
