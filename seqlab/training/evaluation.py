"""Measuring a checkpoint: ``evaluate``, ``validate`` and ``test``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import lightning as L

from seqlab.config import TrainerConfig
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.base import Task
from seqlab.training.checkpoint import LoadedCheckpoint, load_checkpoint
from seqlab.training.data import TrainingData
from seqlab.training.devices import check_devices
from seqlab.training.quieting import lightning_output
from seqlab.training.task import has_test_split, task_from_config
from seqlab.training.trainer import progress_bar

# What the model was built for: the task's data must still publish the same.
_INFO_FIELDS = (
    "output_kind",
    "input_kind",
    "input_size",
    "num_outputs",
    "vocab_size",
    "target_shape",
    "itos",
)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


def _comparable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


def with_data(loaded: LoadedCheckpoint, data: str | Path | None) -> LoadedCheckpoint:
    """``loaded`` with its task reading ``data`` (a moved data file) instead of the path
    it was trained with; a recorded path that no longer exists is a
    :class:`~seqlab.errors.DataError` saying how to pass the new one."""
    options = loaded.config.task.options
    if data is not None:
        p = Path(data).expanduser()
        if not p.is_file():
            raise DataError(f"--data {str(data)!r} is not a file; pass the moved data file.")
        options["path"] = str(p.resolve())
    elif isinstance(options.get("path"), str) and not Path(options["path"]).expanduser().exists():
        raise DataError(
            f"the data file of checkpoint {loaded.path}, {options['path']!r}, does not exist "
            f"(moved, or named relative to the directory it was trained in). Pass its new "
            f"location: --data FILE (data=FILE in Python)."
        )
    return loaded


def checkpoint_task(loaded: LoadedCheckpoint, batch_size: int | None = None) -> Task:
    """The task a checkpoint was trained on, made again from its config; raises
    :class:`~seqlab.errors.DataError` if its data no longer fits the model."""
    config = loaded.config
    task = task_from_config(config, batch_size=batch_size)
    info = task.info
    for name in _INFO_FIELDS:
        then, now = getattr(loaded.info, name), getattr(info, name)
        if _comparable(then) != _comparable(now):
            raise DataError(
                f"the data of task '{config.task.name}' changed since checkpoint {loaded.path} "
                f"was written: {name} was {_short(then)}, now {_short(now)}. Evaluate with the "
                f"data it was trained on (task options: {config.task.options})."
            )
    return task


def evaluate(
    split: Literal["val", "test"],
    ckpt: str | Path | LoadedCheckpoint,
    *,
    accelerator: str = "auto",
    devices: int | str = 1,
    batch_size: int | None = None,
    limit_batches: int | float | None = None,
    quiet: bool = True,
    trust: bool = False,
    data: str | Path | None = None,
) -> dict[str, float]:
    """The metrics of a checkpoint on its task's validation or test split.

    ``ckpt`` is a checkpoint file, a run directory, or a checkpoint already loaded with
    :func:`~seqlab.training.load_checkpoint` (``trust`` then does not apply). ``data``:
    the task's data file where it moved since training (see :func:`with_data`).
    """
    loaded = ckpt if isinstance(ckpt, LoadedCheckpoint) else load_checkpoint(ckpt, trust=trust)
    loaded = with_data(loaded, data)
    config = loaded.config
    devs = check_devices(TrainerConfig(accelerator=accelerator, devices=devices))
    with lightning_output(quiet):
        task = checkpoint_task(loaded, batch_size)
        if split == "test" and not has_test_split(task):
            raise ConfigError(f"task '{config.task.name}' has no test split; use seqlab validate.")
        kwargs: dict[str, Any] = dict(
            accelerator=accelerator,
            devices=devs,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=not quiet,
            enable_model_summary=False,
            use_distributed_sampler=False,
            default_root_dir=str(loaded.path.parent),
            callbacks=progress_bar(quiet),  # plain lines, not \r bars, in logs
        )
        if limit_batches is not None:
            kwargs["limit_val_batches" if split == "val" else "limit_test_batches"] = limit_batches
        trainer = L.Trainer(**kwargs)
        data = TrainingData(task, config.trainer.seed)
        run = trainer.validate if split == "val" else trainer.test
        results = run(loaded.model, datamodule=data, verbose=False)  # callers print a table
    return {k: float(v) for r in results for k, v in r.items()}


def validate(ckpt: str | Path, **kwargs: Any) -> dict[str, float]:
    """``val_*`` metrics of a checkpoint (file or run directory); see :func:`evaluate`."""
    return evaluate("val", ckpt, **kwargs)


def test(ckpt: str | Path, **kwargs: Any) -> dict[str, float]:
    """``test_*`` metrics of a checkpoint (file or run directory); see :func:`evaluate`."""
    return evaluate("test", ckpt, **kwargs)


test.__test__ = False  # type: ignore[attr-defined]  # not a pytest test function

__all__ = ["checkpoint_task", "evaluate", "test", "validate", "with_data"]
