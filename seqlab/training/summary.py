"""The end of a fit: its :class:`FitResult` and ``summary.json``."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from seqlab.tracking.loggers import finish_loggers, record_summary, sync_hint
from seqlab.training.checkpoint import finite, plain
from seqlab.training.execute import Measured
from seqlab.training.plan import FitPlan
from seqlab.training.result import FitResult
from seqlab.training.rundir import previous_wall_time, write_summary
from seqlab.training.trainer import FitSession


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Total, trainable and recurrent-layer parameters (a tied parameter counts once)."""
    params = list(model.parameters())
    recurrent = getattr(model, "recurrent", None)
    return {
        "total": sum(p.numel() for p in params),
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "recurrent": sum(p.numel() for p in recurrent.parameters()) if recurrent is not None else 0,
    }


def fit_result(
    plan: FitPlan, session: FitSession, measured: Measured, wall_time_s: float
) -> FitResult:
    """The result of a finished fit (``summary`` not filled in yet)."""
    trainer, info = session.trainer, plan.info
    best, last = measured.best, session.callbacks.last.path
    return FitResult(
        run_dir=session.run_dir,
        metrics=measured.metrics,
        metric=info.metric,
        metric_mode=info.metric_mode,
        baseline=info.baseline("test" if measured.tested else "val"),
        best_checkpoint=best if best is not None and best.exists() else None,
        last_checkpoint=last if last.exists() else None,
        global_step=int(trainer.global_step),
        epochs=int(trainer.current_epoch),
        wall_time_s=wall_time_s,
        parameters=parameter_counts(plan.model),
        is_global_zero=trainer.is_global_zero,
        stopped_because=measured.stopped_because,
    )


def summary_record(result: FitResult, plan: FitPlan, session: FitSession) -> dict[str, Any]:
    """What ``summary.json`` holds: the result, the task and cell, sizes and time."""

    def rel(p: Path | None) -> str | None:
        return None if p is None else os.path.relpath(p, result.run_dir)

    config, info, metadata = plan.config, plan.info, plan.metadata
    headline, baseline = result.headline, result.baseline
    best_score = session.callbacks.best.best_model_score
    earlier = previous_wall_time(result.run_dir) if plan.resuming else 0.0
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
        "metrics": {k: finite(v) for k, v in result.metrics.items()},
        "best_val": {
            "metric": f"val_{info.metric}",
            "value": None if best_score is None else finite(float(best_score)),
        },
        "baselines": [plain(b) for b in info.baselines],
        "parameters": result.parameters,
        "global_step": result.global_step,
        "epochs": result.epochs,
        "stopped_because": result.stopped_because,
        # Over every fit of the run: the earlier segments (segments.jsonl) and this one.
        "wall_time_s": round(earlier + result.wall_time_s, 3),
        "segment_wall_time_s": round(result.wall_time_s, 3),
        "resumed": plan.resuming,
        "skipped_batches": session.callbacks.policy.skipped_batches,
        "world_size": int(session.trainer.world_size),
        "checkpoints": {"best": rel(result.best_checkpoint), "last": rel(result.last_checkpoint)},
    }


def summarise(
    plan: FitPlan, session: FitSession, measured: Measured, wall_time_s: float
) -> FitResult:
    """The fit's result; on global rank 0, ``summary.json`` written and sent to the loggers.
    Closes the loggers."""
    result = fit_result(plan, session, measured, wall_time_s)
    result.summary = summary_record(result, plan, session)
    loggers = session.loggers[1:]  # the first writes metrics.csv, complete as it goes
    if result.is_global_zero:
        write_summary(result.run_dir, result.summary)
        record_summary(loggers, result.summary)
    finish_loggers(loggers, success=True)
    if result.is_global_zero:
        result.sync_hint = sync_hint(result.run_dir)
    return result


__all__ = ["fit_result", "parameter_counts", "summarise", "summary_record"]
