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

import csv
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.loggers.csv_logs import _ExperimentWriter
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch import nn

from seqlab.errors import ConfigError, MissingDependencyError, did_you_mean
from seqlab.tracking.secrets import scrub, scrubbed_argv
from seqlab.tracking.wandb_mode import resolve_wandb_mode

LOGGERS = ("wandb", "csv", "tensorboard", "none")
DEFAULT_PROJECT = "seqlab"
INIT_TIMEOUT_S = 60.0

Notify = Callable[[str], None]
_RUN_DIR = re.compile(r"(?:offline-)?run-(\d{8}_\d{6})-(\w+)")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def is_rank_zero() -> bool:
    """Whether this process is global rank 0 (Lightning reads the launcher's RANK/LOCAL_RANK)."""
    return getattr(rank_zero_only, "rank", 0) == 0


def log_step(trainer: L.Trainer) -> int:
    """The step Lightning attaches to the metrics it logs (``trainer/global_step`` in W&B).

    It counts training batches that stepped the optimiser — the index of the current
    batch during its hooks and during the validation that follows it. It equals
    ``trainer.global_step`` with automatic optimisation, but not when a manually
    optimised module steps several times per batch (truncated BPTT), so seqlab's own
    logging uses this to stay on the same axis.
    """
    loop = getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None)
    return int(getattr(loop, "_batches_that_stepped", trainer.global_step))


# -- CSV --------------------------------------------------------------------------------------
class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer that continues an existing ``metrics.csv`` (resumed runs).

    Lightning's writer deletes ``metrics.csv`` whenever its directory is not empty (a run
    directory never is) and would then fail to rewrite the header on new keys.
    """

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
            self.metrics_keys = sorted(header)


class RunCSVLogger(CSVLogger):
    """``<run_dir>/metrics.csv`` (and ``hparams.yaml``, scrubbed): Lightning's CSVLogger with
    ``save_dir=run_dir, name="", version=""``, appending when the file already exists."""

    def __init__(self, run_dir: str | Path, flush_logs_every_n_steps: int = 100) -> None:
        super().__init__(
            save_dir=run_dir, name="", version="", flush_logs_every_n_steps=flush_logs_every_n_steps
        )

    @property
    def experiment(self) -> _ExperimentWriter:
        if self._experiment is None and is_rank_zero():
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return super().experiment

    @rank_zero_only
    def log_hyperparams(self, params: Any = None) -> None:
        from lightning.fabric.utilities.logger import _convert_params

        params = _convert_params(params)
        if params:
            super().log_hyperparams(scrub(dict(params)))


# -- W&B --------------------------------------------------------------------------------------
def _wandb_logger_class() -> type[Logger]:
    from lightning.pytorch.loggers import WandbLogger

    class SeqlabWandbLogger(WandbLogger):
        """Lightning's WandbLogger with seqlab's guards.

        - ``sys.argv`` is scrubbed while the run starts (W&B records the arguments);
        - if an online start fails (server down, key rejected), the run starts offline
          instead of failing the fit;
        - hyperparameters Lightning logs from the module go under ``hparams``, scrubbed,
          so they never overwrite the nested config;
        - ``log_model`` logs the best and the last checkpoint once, at the end of a
          successful fit, with the aliases ``best`` and ``last``.
        """

        def __init__(
            self,
            *args: Any,
            notify: Notify = _stderr,
            last_checkpoint: str | Path | None = None,
            **kwargs: Any,
        ) -> None:
            super().__init__(*args, **kwargs)
            self._wandb_init.pop("anonymous", None)  # deprecated in wandb; it warns even as None
            self._notify = notify
            self._last_checkpoint = str(last_checkpoint) if last_checkpoint is not None else None
            self._logged_files: set[str] = set()  # one artifact per file, however many callbacks

        @property
        def experiment(self) -> Any:
            if self._experiment is not None or not is_rank_zero():
                return super().experiment
            import wandb

            with scrubbed_argv():
                try:
                    return super().experiment
                except (wandb.errors.Error, OSError, TimeoutError) as exc:
                    if self._wandb_init.get("mode") != "online":
                        raise
                    self._notify(
                        f"W&B could not start online ({type(exc).__name__}: {exc}); running "
                        f"offline instead. Upload later with the `wandb sync` command printed at "
                        f"the end."
                    )
                    self._wandb_init["mode"] = "offline"
                    self._experiment = None
                    return super().experiment

        @rank_zero_only
        def log_hyperparams(self, params: Any) -> None:
            from lightning.fabric.utilities.logger import (
                _convert_json_serializable,
                _convert_params,
                _sanitize_callable_params,
            )

            params = _convert_params(params)
            if not params:
                return
            params = _convert_json_serializable(_sanitize_callable_params(params))
            self.experiment.config.update({"hparams": scrub(params)}, allow_val_change=True)

        def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
            if self._log_model:
                self._checkpoint_callbacks[id(checkpoint_callback)] = checkpoint_callback

        def _scan_and_log_checkpoints(self, checkpoint_callback: Any) -> None:
            import wandb

            best = getattr(checkpoint_callback, "best_model_path", "") or ""
            last = (
                self._last_checkpoint or getattr(checkpoint_callback, "last_model_path", "") or ""
            )
            if not last or not os.path.isfile(last):  # no save_last: the newest file kept is "last"
                kept = [
                    p
                    for p in getattr(checkpoint_callback, "best_k_models", {})
                    if os.path.isfile(p)
                ]
                last = max(kept, key=os.path.getmtime) if kept else best
            paths: dict[str, list[str]] = {}
            for path, alias in ((best, "best"), (last, "last")):
                if (
                    path
                    and os.path.isfile(path)
                    and os.path.realpath(path) not in self._logged_files
                ):
                    paths.setdefault(os.path.realpath(path), []).append(alias)
            self._logged_files.update(paths)
            name = self._checkpoint_name or f"model-{self.experiment.id}"
            for path, aliases in paths.items():
                score = checkpoint_callback.best_model_score if "best" in aliases else None
                metadata = {
                    "original_filename": Path(path).name,
                    "monitor": getattr(checkpoint_callback, "monitor", None),
                    "mode": getattr(checkpoint_callback, "mode", None),
                    "score": float(score) if score is not None else None,
                }
                artifact = wandb.Artifact(name=name, type="model", metadata=metadata)
                artifact.add_file(path, name="model.ckpt", policy=self.add_file_policy)
                self.experiment.log_artifact(artifact, aliases=aliases)

    return SeqlabWandbLogger


def _git_commit(path: Path) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout holding ``path``, or None (no git, no repo)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=3,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=3,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())} if commit else None


def describe_run(
    model: nn.Module | None = None,
    *,
    cell: str | None = None,
    task: str | None = None,
    task_info: Any = None,
) -> dict[str, Any]:
    """What seqlab records about a run next to its config (the ``meta`` section in W&B).

    Args:
        model: the LightningModule (for parameter counts: total, trainable and inside
            ``seqlab.Recurrent`` layers).
        cell: the cell's registry name (for its source distribution and version).
        task: the task's registry name.
        task_info: the task's :class:`~seqlab.tasks.base.TaskInfo` (metric and baseline).
    """
    import lightning
    import torch

    import seqlab
    from seqlab.recurrent import Recurrent

    meta: dict[str, Any] = {
        "seqlab_version": seqlab.__version__,
        "torch_version": torch.__version__,
        "lightning_version": lightning.__version__,
        "python_version": sys.version.split()[0],
    }
    git = _git_commit(Path(seqlab.__file__).resolve().parent)
    if git is not None:
        meta["seqlab_git"] = git
    if cell is not None:
        from seqlab.cells.registry import cell_source

        source = cell_source(cell)
        meta["cell"] = {
            "name": cell,
            "source": source.distribution,
            "version": source.version,
            "builtin": source.builtin,
        }
    if model is not None:
        params = list(model.parameters())
        recurrent = {
            id(p) for m in model.modules() if isinstance(m, Recurrent) for p in m.parameters()
        }
        meta["parameters"] = {
            "total": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad),
            "recurrent": sum(p.numel() for p in params if id(p) in recurrent),
        }
    if task is not None or task_info is not None:
        entry: dict[str, Any] = {"name": task}
        if task_info is not None:
            entry.update(
                metric=task_info.metric,
                metric_mode=task_info.metric_mode,
                output_kind=task_info.output_kind,
            )
            baseline = task_info.baseline("val") if hasattr(task_info, "baseline") else None
            if baseline is not None:
                entry["baseline"] = {
                    "metric": baseline.metric,
                    "value": baseline.value,
                    "description": baseline.description,
                    "split": baseline.split,
                }
        meta["task"] = entry
    return meta


def _tags(tags: str | Sequence[str] | None) -> list[str] | None:
    if tags is None:
        return None
    items = tags.split(",") if isinstance(tags, str) else list(tags)
    return [t.strip() for t in items if str(t).strip()] or None


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
            own (``seqlab.training``'s CSVMetricsLogger); default: a :class:`RunCSVLogger`.
        last_checkpoint: the file the caller keeps as the last checkpoint, for the ``last``
            artifact when it is not written by a ModelCheckpoint with ``save_last``.
        notify: where the W&B mode decision is reported (default: stderr; rank 0 only).
        init_timeout_s: how long ``wandb.init`` may wait for the server.
    """
    choice = str(logger).strip().lower()
    if choice not in LOGGERS:
        raise ConfigError(
            f"--logger {logger!r} is not a logger seqlab knows.{did_you_mean(choice, LOGGERS)} "
            f"Choose one of: {', '.join(LOGGERS)} (a local metrics.csv is always written)."
        )
    say = notify or _stderr
    if not is_rank_zero():
        say = lambda _message: None  # noqa: E731 - one report per fit, not per process
    run_dir = Path(run_dir)
    if is_rank_zero():  # other DDP processes write nothing
        run_dir.mkdir(parents=True, exist_ok=True)
    loggers: list[Logger] = [csv_logger if csv_logger is not None else RunCSVLogger(run_dir)]
    if choice == "tensorboard":
        try:
            import tensorboard  # noqa: F401 - Lightning falls back silently without it
            from lightning.pytorch.loggers import TensorBoardLogger
        except ImportError:
            raise MissingDependencyError(
                "--logger tensorboard needs the tensorboard package; install it with "
                "pip install 'seqlab[tensorboard]' or choose --logger wandb or csv."
            ) from None
        loggers.append(
            TensorBoardLogger(
                save_dir=str(run_dir), name="tensorboard", version="", default_hp_metric=False
            )
        )
    elif choice == "wandb":
        resolved, reason = resolve_wandb_mode(mode)
        say(reason)
        if resolved == "disabled":
            return loggers
        import wandb

        config = dict(scrub(dict(config_dict or {})))
        if run_metadata:
            config["meta"] = scrub(dict(run_metadata))
        cls = _wandb_logger_class()
        loggers.append(
            cls(
                name=name,
                save_dir=str(run_dir),
                id=run_id,
                project=project or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT,
                entity=entity,
                group=group,
                tags=_tags(tags),
                mode=resolved,
                config=config,
                log_model=bool(log_model),
                settings=wandb.Settings(silent=True, init_timeout=init_timeout_s),
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
