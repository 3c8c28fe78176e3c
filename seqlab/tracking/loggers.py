"""The Lightning loggers of a run: a local CSV record always, W&B or TensorBoard on request.

:func:`build_loggers` is what ``seqlab fit`` calls. The CSV logger comes first, so
``trainer.log_dir`` (and checkpoint paths derived from it) is the run directory itself, and
``metrics.csv`` lands there whatever else is chosen.

W&B (``--logger wandb``) runs in the mode :func:`~seqlab.tracking.wandb_mode.resolve_wandb_mode`
chooses (never prompting, never hanging), writes under ``<run_dir>/wandb``, and records once
per run: the resolved config as a nested dict plus a ``meta`` section (cell name, source and
version, parameter counts, task and its trivial baseline, seqlab version and git commit) —
scrubbed of credentials, as is the command line W&B stores. Metrics use Lightning's
``trainer/global_step`` axis. Lightning's loggers act on global rank 0 only, so a DDP fit
makes one W&B run, not one per process. With ``log_model`` the best and last checkpoints
become W&B model artifacts with the aliases ``best`` and ``last`` (Lightning's own logger
tags every top-k file and calls the newest ``latest``).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger

from seqlab.errors import ConfigError, MissingDependencyError, did_you_mean
from seqlab.tracking.metrics_csv import RunCSVLogger
from seqlab.tracking.process import Notify, is_rank_zero, log_step, to_stderr
from seqlab.tracking.run_metadata import describe_run
from seqlab.tracking.secrets import scrub
from seqlab.tracking.wandb_mode import resolve_wandb_mode

LOGGERS = ("wandb", "csv", "tensorboard", "none")
DEFAULT_PROJECT = "seqlab"
INIT_TIMEOUT_S = 60.0

_RUN_DIR = re.compile(r"(?:offline-)?run-(\d{8}_\d{6})-(\w+)")


def _wandb_logger_class() -> type[Logger]:
    """seqlab's W&B logger class, imported on first use (it imports Lightning's W&B support)."""
    from seqlab.tracking.wandb_logger import SeqlabWandbLogger

    return SeqlabWandbLogger


def _tags(tags: str | Sequence[str] | None) -> list[str] | None:
    if tags is None:
        return None
    items = tags.split(",") if isinstance(tags, str) else list(tags)
    return [t.strip() for t in items if str(t).strip()] or None


def _checked_choice(logger: str) -> str:
    choice = str(logger).strip().lower()
    if choice not in LOGGERS:
        raise ConfigError(
            f"--logger {logger!r} is not a logger seqlab knows.{did_you_mean(choice, LOGGERS)} "
            f"Choose one of: {', '.join(LOGGERS)} (a local metrics.csv is always written)."
        )
    return choice


def _tensorboard_logger(run_dir: Path) -> Logger:
    try:
        import tensorboard  # noqa: F401 - Lightning falls back silently without it
        from lightning.pytorch.loggers import TensorBoardLogger
    except ImportError:
        raise MissingDependencyError(
            "--logger tensorboard needs the tensorboard package; install it with "
            "pip install 'seqlab[tensorboard]' or choose --logger wandb or csv."
        ) from None
    return TensorBoardLogger(
        save_dir=str(run_dir), name="tensorboard", version="", default_hp_metric=False
    )


def _wandb_logger(
    run_dir: Path,
    *,
    project: str | None,
    config_dict: Mapping[str, Any] | None,
    run_metadata: Mapping[str, Any] | None,
    tags: str | Sequence[str] | None,
    init_timeout_s: float,
    **kwargs: Any,
) -> Logger:
    """seqlab's W&B logger with the scrubbed config (``meta``: the run's metadata)."""
    import wandb

    config = dict(scrub(dict(config_dict or {})))
    if run_metadata:
        config["meta"] = scrub(dict(run_metadata))
    return _wandb_logger_class()(
        save_dir=str(run_dir),
        project=project or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT,
        tags=_tags(tags),
        config=config,
        settings=wandb.Settings(silent=True, init_timeout=init_timeout_s),
        **kwargs,
    )


def build_loggers(
    logger: str,
    run_dir: str | Path,
    *,
    project: str | None = None,
    entity: str | None = None,
    group: str | None = None,
    tags: str | Sequence[str] | None = None,
    mode: str | None = None,
    name: str | None = None,
    log_model: bool = False,
    config_dict: Mapping[str, Any] | None = None,
    run_metadata: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    csv_logger: Logger | None = None,
    last_checkpoint: str | Path | None = None,
    notify: Notify | None = None,
    init_timeout_s: float = INIT_TIMEOUT_S,
) -> list[Logger]:
    """The loggers for ``Trainer(logger=...)``: the CSV record first, then the chosen one.

    Args:
        logger: ``wandb``, ``csv``, ``tensorboard`` or ``none`` (``csv`` and ``none``: the
            CSV record only).
        run_dir: the run directory (``metrics.csv`` here; W&B under ``run_dir/wandb``;
            TensorBoard under ``run_dir/tensorboard``).
        project, entity, group, tags, name: the W&B run's place and labels (project
            default: ``WANDB_PROJECT`` or ``seqlab``; ``None`` values let W&B's own
            environment variables such as ``WANDB_RUN_GROUP`` apply).
        mode: ``--wandb-mode`` (``None``: from the environment and the credentials).
        log_model: upload the best and last checkpoints as W&B artifacts.
        config_dict: the resolved config as nested dicts (scrubbed before logging).
        run_metadata: :func:`describe_run`'s record, logged as the config's ``meta``.
        run_id: a W&B run id to continue (see :func:`wandb_run_id` for resumed fits).
        csv_logger: the logger that writes the run's ``metrics.csv`` when the caller has its
            own (a :class:`~seqlab.tracking.metrics_csv.CSVMetricsLogger`); default: a
            :class:`RunCSVLogger`.
        last_checkpoint: the file the caller keeps as the last checkpoint, for the ``last``
            artifact when it is not written by a ModelCheckpoint with ``save_last``.
        notify: where the W&B mode decision is reported (default: stderr; rank 0 only).
        init_timeout_s: how long ``wandb.init`` may wait for the server.
    """
    choice = _checked_choice(logger)
    say = notify or to_stderr
    if not is_rank_zero():
        say = lambda _message: None  # noqa: E731 - one report per fit, not per process
    run_dir = Path(run_dir)
    if is_rank_zero():  # other DDP processes write nothing
        run_dir.mkdir(parents=True, exist_ok=True)
    loggers: list[Logger] = [csv_logger if csv_logger is not None else RunCSVLogger(run_dir)]
    if choice == "tensorboard":
        loggers.append(_tensorboard_logger(run_dir))
    elif choice == "wandb":
        resolved, reason = resolve_wandb_mode(mode)
        say(reason)
        if resolved == "disabled":
            return loggers
        loggers.append(
            _wandb_logger(
                run_dir,
                project=project,
                config_dict=config_dict,
                run_metadata=run_metadata,
                tags=tags,
                init_timeout_s=init_timeout_s,
                name=name,
                id=run_id,
                entity=entity,
                group=group,
                mode=resolved,
                log_model=bool(log_model),
                notify=say,
                last_checkpoint=last_checkpoint,
            )
        )
    return loggers


def finish_loggers(loggers: Sequence[Logger], *, success: bool = True) -> None:
    """Flush every logger and close the W&B run, so its ``.wandb`` file is complete.

    Lightning leaves the W&B run open after ``fit`` (for a following ``test``); call this
    once the run is over — in a ``finally``, with ``success=False`` after an error.
    """
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        logger.save()
        if isinstance(logger, WandbLogger) and logger._experiment is not None and is_rank_zero():
            run = logger._experiment
            run.finish(exit_code=0 if success else 1)
            _wait_for_exit_record(getattr(run.settings, "sync_file", None))


def record_summary(loggers: Sequence[Logger], summary: Mapping[str, Any]) -> None:
    """Put the run's final numbers (``summary.json``'s content) in the W&B run summary, scrubbed.

    Lightning's W&B summary holds the last value logged for each metric; the final
    evaluation of the best checkpoint, the baseline and the timings are added here.
    """
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None and is_rank_zero():
            logger._experiment.summary.update(scrub(dict(summary)))


def _wait_for_exit_record(path: str | None, timeout_s: float = 10.0) -> None:
    """Wait until W&B's service has written the run file's exit record.

    ``finish()`` returns a few milliseconds before the service flushes the last records
    (measured with wandb 0.31); readers of the file right after (the run summary, tests)
    would see a run without its end.
    """
    import time

    from seqlab.tracking.read_offline import has_exit_record

    if not path or not os.path.isfile(path):
        return
    deadline = time.monotonic() + timeout_s
    while not has_exit_record(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def wandb_run_id(run_dir: str | Path) -> str | None:
    """The id of the newest W&B run under ``<run_dir>/wandb`` (to continue it on resume)."""
    found = []
    for p in (Path(run_dir) / "wandb").glob("*run-*"):
        match = _RUN_DIR.fullmatch(p.name)
        if match and p.is_dir():
            found.append((match.group(1), match.group(2)))
    return max(found)[1] if found else None


def offline_runs(run_dir: str | Path) -> list[Path]:
    """The offline W&B run directories under ``<run_dir>/wandb``, oldest first."""
    root = Path(run_dir) / "wandb"
    return sorted(p for p in root.glob("offline-run-*") if p.is_dir())


def sync_hint(run_dir: str | Path) -> str | None:
    """``wandb sync <dir> ...`` for the run's offline W&B runs, or None when there are none."""
    runs = offline_runs(run_dir)
    if not runs:
        return None
    return "wandb sync " + " ".join(shlex.quote(str(p)) for p in runs)


__all__ = [
    "LOGGERS",
    "RunCSVLogger",
    "build_loggers",
    "describe_run",
    "finish_loggers",
    "is_rank_zero",
    "log_step",
    "offline_runs",
    "record_summary",
    "sync_hint",
    "wandb_run_id",
]
