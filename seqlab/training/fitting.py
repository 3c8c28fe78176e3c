"""``fit``, ``validate``, ``test`` and ``generate``: the plain functions behind the CLI."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar, TQDMProgressBar
from lightning.pytorch.utilities.model_helpers import is_overridden

from seqlab.config import Config, TrainerConfig
from seqlab.diagnostics.grad_flow import GradientFlow
from seqlab.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    Interrupted,
    NonFiniteLossError,
    PluginError,
    did_you_mean,
)
from seqlab.tasks import Baseline, TaskInfo, create_task
from seqlab.tasks.base import Task
from seqlab.tracking.loggers import (
    build_loggers,
    describe_run,
    finish_loggers,
    record_summary,
    sync_hint,
    wandb_run_id,
)
from seqlab.tracking.samples import TextSamples
from seqlab.training.callbacks import (
    CheckpointMetadata,
    GracefulStop,
    LastCheckpoint,
    StepSeeder,
)
from seqlab.training.checkpoint import (
    AtomicCheckpointIO,
    LoadedCheckpoint,
    finite,
    load_checkpoint,
    plain,
    seqlab_metadata,
)
from seqlab.training.data import TrainingData
from seqlab.training.logger import CSVMetricsLogger
from seqlab.training.rundir import (
    env_global_rank,
    new_run_dir,
    remove_stale_temporaries,
    run_lock,
    write_config,
    write_summary,
)

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu", "hpu")

# Changing these between an interrupted run and its resumption would make it another
# experiment; everything else (how long, where, how verbose) may change.
_FIXED_ON_RESUME = ("model", "task", "optim")


@dataclass
class FitResult:
    """What ``fit`` returns (``summary`` is what ``summary.json`` holds).

    ``metrics`` are the best checkpoint's final ``val_*`` and ``test_*`` metrics (plus the
    last ``train_loss``); ``baseline`` is the task's trivial baseline for the split the
    headline metric was measured on.
    """

    run_dir: Path
    metrics: dict[str, float]
    metric: str
    metric_mode: str
    baseline: Baseline | None
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    global_step: int
    epochs: int
    wall_time_s: float
    parameters: dict[str, int]
    summary: dict[str, Any] = field(default_factory=dict)
    is_global_zero: bool = True
    sync_hint: str | None = None  # the `wandb sync` command of an offline W&B run

    @property
    def headline_key(self) -> str:
        test = f"test_{self.metric}"
        return test if test in self.metrics else f"val_{self.metric}"

    @property
    def headline(self) -> float | None:
        return self.metrics.get(self.headline_key)


# -- checks made before Lightning starts ------------------------------------------------------
def _normalise_devices(devices: int | str) -> int | str | list[int]:
    if isinstance(devices, int):
        return devices
    text = devices.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if "," in text or text.startswith("["):
        try:
            return [int(p) for p in text.strip("[]").split(",") if p.strip()]
        except ValueError:
            pass
    if text != "auto":
        raise ConfigError(
            f"trainer.devices={devices!r} is not a device count, 'auto' or a list of device "
            f"indices such as '0,1'."
        )
    return text


def check_devices(trainer: TrainerConfig) -> int | str | list[int]:
    """The devices setting, checked against what this machine has (before any process starts)."""
    accelerator = trainer.accelerator.lower()
    if accelerator not in ACCELERATORS:
        raise ConfigError(
            f"unknown accelerator '{trainer.accelerator}'.{did_you_mean(accelerator, ACCELERATORS)} "
            f"Use one of: {', '.join(ACCELERATORS)}."
        )
    devices = _normalise_devices(trainer.devices)
    cuda = torch.cuda.device_count()
    if accelerator in ("gpu", "cuda"):
        if cuda == 0:
            raise ConfigError(
                f"--accelerator {trainer.accelerator} asks for a CUDA GPU, but none is visible "
                f"(torch.cuda.device_count() is 0). Use --accelerator cpu (or auto)."
            )
        available, kind = cuda, "CUDA GPU(s)"
    elif accelerator == "cpu" or (accelerator == "auto" and cuda == 0):
        available, kind = os.cpu_count() or 1, "CPU core(s) (os.cpu_count())"
    elif accelerator == "auto":
        available, kind = cuda, "CUDA GPU(s)"
    else:
        return devices  # mps, tpu, hpu: Lightning checks these itself
    if isinstance(devices, int) and devices > available:
        raise ConfigError(
            f"--devices {devices} asks for {devices} devices, but this machine has "
            f"{available} {kind}. Use --devices {available} or fewer (on CPU each device is "
            f"one process)."
        )
    if isinstance(devices, list) and any(i >= available or i < 0 for i in devices):
        raise ConfigError(
            f"--devices {trainer.devices} names device indices outside 0..{available - 1}; "
            f"this machine has {available} {kind}."
        )
    return devices


def check_strategy(name: str) -> None:
    from lightning.pytorch.strategies import StrategyRegistry

    known = ["auto", *StrategyRegistry.available_strategies()]
    if name not in known:
        raise ConfigError(
            f"unknown strategy '{name}'.{did_you_mean(name, known)} Lightning's strategies "
            f"include: auto, ddp, ddp_spawn, ddp_fork, fsdp, deepspeed."
        )


def _resume_config(resume: str | Path, config: Config | None) -> tuple[Path, Config]:
    run_dir = Path(resume)
    saved_file = run_dir / "config.yaml"
    if not run_dir.is_dir() or not saved_file.is_file():
        what = "does not exist" if not run_dir.exists() else "has no config.yaml"
        raise CheckpointError(
            f"cannot resume {run_dir}: it {what}. --resume takes a run directory made by "
            f"`seqlab fit` (runs/<name>-<timestamp>)."
        )
    if not (run_dir / "checkpoints" / "last.ckpt").is_file():
        raise CheckpointError(
            f"cannot resume {run_dir}: it has no checkpoints/last.ckpt (the run stopped "
            f"before its first checkpoint). Start it again instead."
        )
    saved = Config.load(saved_file)
    if config is None:
        return run_dir, saved
    new, old = config.to_dict(), saved.to_dict()
    changed = [
        f"{section}.{key} ({old[section][key]!r} → {new[section][key]!r})"
        for section in _FIXED_ON_RESUME
        for key in old[section]
        if section != "task" or key != "num_workers"
        if not _same_unless_masked(old[section][key], new[section][key])
    ]
    if new["trainer"]["seed"] != old["trainer"]["seed"]:
        changed.append(f"trainer.seed ({old['trainer']['seed']!r} → {new['trainer']['seed']!r})")
    if changed:
        raise ConfigError(
            f"cannot resume {run_dir} with a different {', '.join(changed)}: a resumed run "
            f"continues the same experiment. Only trainer limits, devices and logging may "
            f"change; start a new run for the rest."
        )
    return run_dir, config


def _same_unless_masked(saved: Any, new: Any) -> bool:
    """Whether a value of the saved config equals the new one, where a credential the saved
    config masks matches whatever is passed again."""
    from seqlab.tracking.secrets import MASK

    if saved == MASK:
        return True
    if isinstance(saved, dict) and isinstance(new, dict):
        return saved.keys() == new.keys() and all(
            _same_unless_masked(v, new[k]) for k, v in saved.items()
        )
    return saved == new


def masked_keys(data: Any, prefix: str = "") -> list[str]:
    """Dotted keys of ``data`` whose value is the credential mask ``***``."""
    from seqlab.tracking.secrets import MASK

    if isinstance(data, dict):
        return [k for key, v in data.items() for k in masked_keys(v, f"{prefix}{key}.")]
    return [prefix.rstrip(".")] if data == MASK else []


# -- quieting Lightning ------------------------------------------------------------------------
_NOISE = (
    r".*does not have many workers.*",
    r".*is smaller than the logging interval.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*`isinstance\(treespec, LeafSpec\)` is deprecated.*",
    r".*LeafSpec.*is deprecated.*",
    # Evaluation metrics are torchmetrics objects, already reduced across processes.
    r".*recommended to use `self.log\(.*sync_dist=True\)`.*",
    # Tasks with contiguous batches (charlm) split their streams among workers themselves.
    r".*`IterableDataset` has `__len__` defined.*",
    # A run stopped by max_steps before its first validation has no score to rank yet.
    r".*could not find the monitored key in the returned metrics.*",
)


@contextmanager
def lightning_output(quiet: bool) -> Iterator[None]:
    """Drop warnings that do not apply to seqlab's in-memory tasks; with ``quiet``, also
    Lightning's informational messages (devices found, model summary...)."""
    names = ("lightning", "lightning.pytorch", "lightning.fabric")
    levels = {n: logging.getLogger(n).level for n in names}
    with warnings.catch_warnings():
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        if quiet:
            for n in names:
                logging.getLogger(n).setLevel(logging.WARNING)
        try:
            yield
        finally:
            for n, level in levels.items():
                logging.getLogger(n).setLevel(level)


def _progress_bar(quiet: bool) -> list[Callback]:
    if quiet:
        return []
    if sys.stdout.isatty():
        return [RichProgressBar(leave=True)]
    return [TQDMProgressBar(refresh_rate=50)]


def _make_trainer(
    config: Config,
    devices: int | str | list[int],
    automatic_optimization: bool,
    callbacks: list[Callback],
    loggers: list[Any] | bool,
    *,
    quiet: bool,
    default_root_dir: Path,
) -> L.Trainer:
    t = config.trainer
    clip = config.optim.gradient_clip if automatic_optimization else None
    kwargs: dict[str, Any] = dict(
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
        callbacks=callbacks,
        logger=loggers,
        enable_checkpointing=True,
        enable_progress_bar=not quiet,
        enable_model_summary=not quiet,
        default_root_dir=str(default_root_dir),
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # seqlab shards (and resumes) the training data itself
    )
    if t.val_check_interval is not None:
        kwargs["val_check_interval"] = t.val_check_interval
    check_strategy(t.strategy)
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    try:
        return L.Trainer(**kwargs)
    except (MisconfigurationException, ValueError) as exc:
        raise ConfigError(f"Lightning rejected the trainer settings: {exc}") from None


def _create_task(config: Config) -> Task:
    return create_task(
        config.task.name,
        batch_size=config.task.batch_size,
        seed=config.trainer.seed,
        num_workers=config.task.num_workers,
        **config.task.options,
    )


def _has_test_split(task: Task) -> bool:
    return is_overridden("test_dataloader", task, L.LightningDataModule)


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    params = list(model.parameters())  # shared (tied) parameters appear once
    recurrent = getattr(model, "recurrent", None)
    return {
        "total": sum(p.numel() for p in params),
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "recurrent": sum(p.numel() for p in recurrent.parameters()) if recurrent is not None else 0,
    }


def _floats(results: Sequence[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in results:
        for k, v in r.items():
            out[k] = float(v)
    return out


# -- fit -----------------------------------------------------------------------------------------
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
    with contextlib.ExitStack() as held:
        return _fit(config, resume, callbacks, held)


def _fit(
    config: Config | None,
    resume: str | Path | None,
    callbacks: Sequence[Callback],
    held: contextlib.ExitStack,
) -> FitResult:
    started = time.perf_counter()
    run_dir: Path | None = None
    if resume is None and config is not None and config.run.resume:
        resume = config.run.resume
    if resume is not None:
        run_dir, config = _resume_config(resume, config)
        masked = masked_keys(config.to_dict())
        if masked:
            raise ConfigError(
                f"the config of {run_dir} holds credentials that seqlab masked instead of "
                f"writing them ({', '.join(masked)}). Pass them again to resume, e.g. "
                f"seqlab fit --resume {run_dir} --set {masked[0]}=VALUE (better: have the "
                f"task or cell read them from an environment variable)."
            )
    config = (config if config is not None else Config()).validate()
    devices = check_devices(config.trainer)
    check_strategy(config.trainer.strategy)
    quiet = config.run.quiet
    seed = config.trainer.seed
    with lightning_output(quiet):
        from seqlab.cells import get_cell

        get_cell(config.model.cell)  # an unknown cell fails before any data is made
        L.seed_everything(seed, workers=True, verbose=False)
        task = _create_task(config)
        if config.model.bidirectional and not getattr(task, "supports_bidirectional", True):
            raise ConfigError(
                f"task '{config.task.name}' cannot be used with a bidirectional model "
                f"(--bidirectional): its model predicts what comes next, so it must not see "
                f"the future. Drop --bidirectional (model.bidirectional=false)."
            )
        info = task.info
        from seqlab.models import build_model

        check_plugin_cell(config, info)
        model = build_model(config.model, config.optim, info)
        model.nonfinite_loss = config.trainer.nonfinite_loss
        model.max_consecutive_skips = config.trainer.max_consecutive_skips
        metadata = seqlab_metadata(config, info)
        is_rank_zero = env_global_rank() == 0
        planned = run_dir if run_dir is not None else new_run_dir(config, create=False)
        best_cb = ModelCheckpoint(
            dirpath=planned / "checkpoints",
            filename="best",
            monitor=model.monitor,
            mode=info.metric_mode,
            save_top_k=1,
            save_last=False,
            auto_insert_metric_name=False,
            enable_version_counter=False,
        )
        last_cb = LastCheckpoint(planned / "checkpoints" / "last.ckpt")
        csv_logger = CSVMetricsLogger(planned / "metrics.csv", resume=resume is not None)
        diagnostics = diagnostic_callbacks(config, info, planned)
        stopper = GracefulStop()
        all_callbacks: list[Callback] = [
            CheckpointMetadata(metadata),
            StepSeeder(seed),
            stopper,
            *_progress_bar(quiet),
            *callbacks,
            *diagnostics,
            best_cb,
            last_cb,
        ]
        # The Trainer checks its settings before anything is written.
        trainer = _make_trainer(
            config,
            devices,
            model.automatic_optimization,
            all_callbacks,
            [csv_logger],
            quiet=quiet,
            default_root_dir=Path(config.run.dir),
        )
        run_dir = planned
        if resume is None and is_rank_zero:
            run_dir = new_run_dir(config, create=True)  # another run may have taken `planned`
            best_cb.dirpath = os.path.realpath(run_dir / "checkpoints")  # as its __init__ does
            last_cb.path = run_dir / "checkpoints" / "last.ckpt"
            csv_logger.path = run_dir / "metrics.csv"
            for cb in diagnostics:
                _point_at(cb, run_dir)
        if is_rank_zero:
            held.enter_context(run_lock(run_dir))
            remove_stale_temporaries(run_dir)  # left by a process killed mid-write
            write_config(run_dir, config)  # on resume: the limits it now runs under
        last_path = last_cb.path
        loggers = build_loggers(
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
                model, cell=config.model.cell, task=config.task.name, task_info=info
            ),
            run_id=wandb_run_id(run_dir) if resume is not None else None,
            csv_logger=csv_logger,
            last_checkpoint=last_path,
        )
        trainer.loggers = loggers
        data = TrainingData(task, seed)
        try:
            try:
                with stopper.handling_signals():
                    trainer.fit(
                        model,
                        datamodule=data,
                        ckpt_path=str(last_path) if resume is not None else None,
                        weights_only=True,
                    )
            except (KeyboardInterrupt, SystemExit):
                if stopper.received is None:
                    raise
                # Lightning ends a SIGTERM'd fit with SystemExit even after a graceful stop
                at_once = stopper.stopped_at is None
                raise _interrupted(stopper, last_cb, run_dir, at_once=at_once) from None
            except NonFiniteLossError as exc:
                raise NonFiniteLossError(f"{exc} {_last_good(last_cb, run_dir)}") from None
            if stopper.received is not None:
                raise _interrupted(stopper, last_cb, run_dir, at_once=False)
            train_loss = trainer.callback_metrics.get("train_loss")

            best = Path(best_cb.best_model_path) if best_cb.best_model_path else None
            final_ckpt = (
                best
                if best is not None and best.exists()
                else (last_path if last_path.exists() else None)
            )
            final_ckpt = trainer.strategy.broadcast(final_ckpt, src=0)  # rank 0's files decide
            tested = (
                config.trainer.test
                and config.trainer.limit_test_batches != 0
                and _has_test_split(task)
            )
            metrics = _final_metrics(
                trainer,
                model,
                data,
                final_ckpt,
                validate=config.trainer.limit_val_batches != 0,
                test=tested,
            )
        except BaseException:
            # closes a W&B run as failed (its exit record written) instead of leaving it open
            finish_loggers(loggers[1:], success=False)
            raise
        if train_loss is not None:
            metrics["train_loss"] = float(train_loss)
    wall = time.perf_counter() - started
    baseline = info.baseline("test" if tested else "val")
    result = FitResult(
        run_dir=run_dir,
        metrics=metrics,
        metric=info.metric,
        metric_mode=info.metric_mode,
        baseline=baseline,
        best_checkpoint=best if best is not None and best.exists() else None,
        last_checkpoint=last_path if last_path.exists() else None,
        global_step=int(trainer.global_step),
        epochs=int(trainer.current_epoch),
        wall_time_s=wall,
        parameters=parameter_counts(model),
        is_global_zero=trainer.is_global_zero,
    )
    result.summary = _summary(
        result,
        config,
        info,
        metadata,
        trainer,
        resumed=resume is not None,
        best_score=best_cb.best_model_score,
    )
    if trainer.is_global_zero:
        write_summary(run_dir, result.summary)
        record_summary(loggers[1:], result.summary)
    finish_loggers(loggers[1:], success=True)
    if trainer.is_global_zero:
        result.sync_hint = sync_hint(run_dir)
    return result


def _saved_step(last_cb: LastCheckpoint) -> str:
    return f" (step {last_cb.saved_step})" if last_cb.saved_step is not None else ""


def _interrupted(
    stopper: GracefulStop, last_cb: LastCheckpoint, run_dir: Path, *, at_once: bool
) -> Interrupted:
    name = stopper.signal_name
    if not last_cb.path.exists():
        return Interrupted(
            f"stopped by {name} before the run's first checkpoint was written; there is "
            f"nothing to resume. Start the run again."
        )
    if at_once:
        what = (
            f"stopped at once by a second {name}: the last checkpoint, {last_cb.path}"
            f"{_saved_step(last_cb)}, is intact, and the steps after it are lost."
        )
    else:
        what = (
            f"stopped by {name} after step {stopper.stopped_at}; its state is saved in "
            f"{last_cb.path}."
        )
    return Interrupted(f"{what} Resume with: seqlab fit --resume {run_dir}")


def _last_good(last_cb: LastCheckpoint, run_dir: Path) -> str:
    if not last_cb.path.exists():
        return "No checkpoint was written before it."
    return (
        f"The last good checkpoint is {last_cb.path}{_saved_step(last_cb)}: continue from it "
        f"with seqlab fit --resume {run_dir} --set trainer.nonfinite_loss=skip, or start "
        f"again with another learning rate."
    )


def check_plugin_cell(config: Config, info: TaskInfo) -> None:
    """Run a plugin cell through the conformance suite's shape and dtype check before
    training, so a cell that breaks seqlab's contract fails with its distribution's name
    instead of deep inside a training step. Built-in cells are tested in seqlab's own CI."""
    from seqlab.cells import cell_source
    from seqlab.testing import get_check

    name = config.model.cell
    source = cell_source(name)
    if source.builtin:
        return
    if info.input_kind == "tokens":
        input_size = config.model.embedding_size or config.model.hidden_size
    else:
        input_size = info.input_size
    try:
        get_check("check_shapes")(
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
        ) from None


def diagnostic_callbacks(config: Config, info: Any, run_dir: Path) -> list[Callback]:
    """Gradient flow (``log.grad_flow``) and, for language models, text samples."""
    out: list[Callback] = []
    grad_flow = GradientFlow.from_option(config.log.grad_flow, run_dir)
    if grad_flow is not None:
        out.append(grad_flow)
    if config.log.samples and info.output_kind == "language_model" and info.itos:
        out.append(TextSamples(run_dir, seed=config.trainer.seed))
    return out


def _point_at(callback: Callback, run_dir: Path) -> None:
    """Aim a diagnostic callback at the run directory finally chosen (after a name clash)."""
    if isinstance(callback, GradientFlow):
        callback.run_dir = run_dir
    elif isinstance(callback, TextSamples):
        callback.path = run_dir / "samples.jsonl"


def _final_metrics(
    trainer: L.Trainer,
    model: L.LightningModule,
    data: TrainingData,
    ckpt: Path | None,
    *,
    validate: bool,
    test: bool,
) -> dict[str, float]:
    """Validation and test metrics of ``ckpt`` (the best checkpoint), outside the training
    record: the loggers are detached, so metrics.csv holds the training history only."""
    trainer.loggers = []
    path = str(ckpt) if ckpt is not None else None
    metrics: dict[str, float] = {}
    if validate:
        metrics.update(
            _floats(
                trainer.validate(
                    model, datamodule=data, ckpt_path=path, verbose=False, weights_only=True
                )
            )
        )
    if test:
        metrics.update(
            _floats(
                trainer.test(
                    model, datamodule=data, ckpt_path=path, verbose=False, weights_only=True
                )
            )
        )
    return metrics


def _summary(
    result: FitResult,
    config: Config,
    info: TaskInfo,
    metadata: dict[str, Any],
    trainer: L.Trainer,
    *,
    resumed: bool,
    best_score: Any,
) -> dict[str, Any]:
    def rel(p: Path | None) -> str | None:
        return None if p is None else os.path.relpath(p, result.run_dir)

    metrics = {k: finite(v) for k, v in result.metrics.items()}
    headline = result.headline
    baseline = result.baseline
    return {
        "seqlab_version": metadata["seqlab_version"],
        "run_dir": str(result.run_dir),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": {
            "name": config.task.name,
            "options": plain(config.task.options),
            "output_kind": info.output_kind,
            "metric": info.metric,
            "metric_mode": info.metric_mode,
        },
        "cell": metadata["cell"],
        "result": {
            "metric": result.headline_key,
            "value": None if headline is None else finite(headline),
            "baseline": None if baseline is None else finite(baseline.value),
            "baseline_description": None if baseline is None else baseline.description,
        },
        "metrics": metrics,
        "best_val": {
            "metric": f"val_{info.metric}",
            "value": None if best_score is None else finite(float(best_score)),
        },
        "baselines": [plain(b) for b in info.baselines],
        "parameters": result.parameters,
        "global_step": result.global_step,
        "epochs": result.epochs,
        "wall_time_s": round(result.wall_time_s, 3),
        "resumed": resumed,
        "skipped_batches": int(getattr(trainer.lightning_module, "skipped_batches", 0)),
        "world_size": int(trainer.world_size),
        "checkpoints": {"best": rel(result.best_checkpoint), "last": rel(result.last_checkpoint)},
    }


# -- evaluating and sampling a checkpoint -------------------------------------------------------
_INFO_FIELDS = (
    "output_kind",
    "input_kind",
    "input_size",
    "num_outputs",
    "vocab_size",
    "target_shape",
    "itos",
)


def _task_for(loaded: LoadedCheckpoint, batch_size: int | None) -> Task:
    config = loaded.config
    task = create_task(
        config.task.name,
        batch_size=batch_size or config.task.batch_size,
        seed=config.trainer.seed,
        num_workers=config.task.num_workers,
        **config.task.options,
    )
    info = task.info
    for name in _INFO_FIELDS:
        then, now = getattr(loaded.info, name), getattr(info, name)
        if (tuple(then) if isinstance(then, list | tuple) else then) != (
            tuple(now) if isinstance(now, list | tuple) else now
        ):
            raise DataError(
                f"the data of task '{config.task.name}' changed since checkpoint {loaded.path} "
                f"was written: {name} was {_short(then)}, now {_short(now)}. Evaluate with the "
                f"data it was trained on (task options: {config.task.options})."
            )
    return task


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


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
) -> dict[str, float]:
    """The metrics of a checkpoint on its task's validation or test split.

    ``ckpt`` is a checkpoint file, a run directory, or a checkpoint already loaded with
    :func:`~seqlab.training.load_checkpoint` (``trust`` then does not apply).
    """
    loaded = ckpt if isinstance(ckpt, LoadedCheckpoint) else load_checkpoint(ckpt, trust=trust)
    config = loaded.config
    trainer_cfg = TrainerConfig(accelerator=accelerator, devices=devices)
    devs = check_devices(trainer_cfg)
    with lightning_output(quiet):
        task = _task_for(loaded, batch_size)
        if split == "test" and not _has_test_split(task):
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
        )
        if limit_batches is not None:
            kwargs["limit_val_batches" if split == "val" else "limit_test_batches"] = limit_batches
        trainer = L.Trainer(**kwargs)
        data = TrainingData(task, config.trainer.seed)
        run = trainer.validate if split == "val" else trainer.test
        results = run(loaded.model, datamodule=data, verbose=not quiet)
    return _floats(results)


def validate(ckpt: str | Path, **kwargs: Any) -> dict[str, float]:
    """``val_*`` metrics of a checkpoint (file or run directory); see :func:`evaluate`."""
    return evaluate("val", ckpt, **kwargs)


def test(ckpt: str | Path, **kwargs: Any) -> dict[str, float]:
    """``test_*`` metrics of a checkpoint (file or run directory); see :func:`evaluate`."""
    return evaluate("test", ckpt, **kwargs)


test.__test__ = False  # type: ignore[attr-defined]  # not a pytest test function


def encode_prompt(prompt: str, itos: Sequence[str]) -> list[int]:
    """Token ids of ``prompt``: per character for character vocabularies, else per word."""
    stoi = {s: i for i, s in enumerate(itos)}
    chars = all(len(s) == 1 for s in itos)
    pieces = list(prompt) if chars else prompt.split()
    unknown = sorted({p for p in pieces if p not in stoi})
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:10])
        raise ConfigError(
            f"the prompt holds {len(unknown)} {'character' if chars else 'word'}(s) the model "
            f"never saw: {shown}. Use only the training text's "
            f"{'characters' if chars else 'vocabulary'}."
        )
    return [stoi[p] for p in pieces]


def generate(
    ckpt: str | Path,
    prompt: str,
    length: int = 500,
    temperature: float = 0.8,
    top_k: int | None = None,
    *,
    seed: int | None = None,
    trust: bool = False,
) -> str:
    """``prompt`` followed by ``length`` sampled tokens of a language-model checkpoint."""
    from seqlab.models import LanguageModel

    loaded = load_checkpoint(ckpt, trust=trust)
    model = loaded.model
    if not isinstance(model, LanguageModel):
        raise ConfigError(
            f"checkpoint {loaded.path} is a {loaded.info.output_kind} model of task "
            f"'{loaded.config.task.name}'; seqlab generate needs a language model (e.g. charlm)."
        )
    itos = loaded.info.itos
    if not itos:
        raise CheckpointError(
            f"checkpoint {loaded.path} records no vocabulary (itos) to decode with."
        )
    if not prompt:
        raise ConfigError(
            "the prompt is empty; give at least one character, e.g. --prompt 'ROMEO:'."
        )
    ids = encode_prompt(prompt, itos)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    out = model.generate(ids, length, temperature=temperature, top_k=top_k, generator=gen)
    if all(len(s) == 1 for s in itos):
        return prompt + "".join(itos[i] for i in out)
    return " ".join([prompt, *(itos[i] for i in out)])


def describe(result: FitResult) -> str:
    """One line: the headline metric next to its baseline."""
    value = result.headline
    text = f"{result.headline_key} {_fmt(value)}"
    if result.baseline is not None:
        b = result.baseline
        better = value is not None and (
            value < b.value if result.metric_mode == "min" else value > b.value
        )
        text += f" vs baseline {_fmt(b.value)} ({b.description})"
        if value is not None and b.value and result.metric_mode == "min" and value > 0:
            text += f", {b.value / value:.1f}× lower" if better else ", not better"
        elif value is not None:
            text += "" if better else ", not better"
    return text


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"
