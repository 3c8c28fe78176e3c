"""seqlab's W&B logger: Lightning's WandbLogger with credentials scrubbed and no failed starts.

Imported only when ``--logger wandb`` is chosen (by :func:`seqlab.tracking.loggers.build_loggers`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from seqlab.tracking.process import Notify, is_rank_zero, to_stderr
from seqlab.tracking.secrets import scrub, scrubbed_argv


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
        notify: Notify = to_stderr,
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
        last = self._last_checkpoint or getattr(checkpoint_callback, "last_model_path", "") or ""
        if not last or not os.path.isfile(last):  # no save_last: the newest file kept is "last"
            kept = [
                p for p in getattr(checkpoint_callback, "best_k_models", {}) if os.path.isfile(p)
            ]
            last = max(kept, key=os.path.getmtime) if kept else best
        paths: dict[str, list[str]] = {}
        for path, alias in ((best, "best"), (last, "last")):
            if path and os.path.isfile(path) and os.path.realpath(path) not in self._logged_files:
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


__all__ = ["SeqlabWandbLogger"]
