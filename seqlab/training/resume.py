"""Continuing a run: its saved config, what may change, the credentials it masked, whether
it already finished, and ``--resume auto``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seqlab.config import Config
from seqlab.errors import CheckpointError, ConfigError, SeqlabError
from seqlab.training.checkpoint import PATH_OPTIONS
from seqlab.training.rundir import previous_wall_time, run_name

AUTO = "auto"
"""``--resume auto``: the newest unfinished run of the same experiment, else a new run."""


class RunFinished(SeqlabError):
    """The run to resume already reached its limits; nothing was written."""

    exit_code = 0


FIXED_ON_RESUME = ("model", "task", "optim")
"""Config sections that would make a resumed run another experiment if they changed
(``task.num_workers`` and everything outside them — limits, devices, logging — may change)."""


def _check_resumable(run_dir: Path) -> None:
    if not run_dir.is_dir() or not (run_dir / "config.yaml").is_file():
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


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The settings that differ between the saved and the new config and must not."""
    changed = [
        f"{section}.{key} ({old[section][key]!r} → {new[section][key]!r})"
        for section in FIXED_ON_RESUME
        for key in old[section]
        if section != "task" or key != "num_workers"
        if section != "task" or key != "options"
        if not _same_unless_masked(old[section][key], new[section][key])
    ]
    old_opts, new_opts = old["task"]["options"], new["task"]["options"]
    changed += [
        f"task.options.{key} ({old_opts.get(key)!r} → {new_opts.get(key)!r})"
        for key in sorted(set(old_opts) | set(new_opts))
        if key not in PATH_OPTIONS  # a moved data file is the same experiment
        if not _same_unless_masked(old_opts.get(key), new_opts.get(key))
    ]
    if new["trainer"]["seed"] != old["trainer"]["seed"]:
        changed.append(f"trainer.seed ({old['trainer']['seed']!r} → {new['trainer']['seed']!r})")
    return changed


def _limits(config: Config) -> tuple[float, float]:
    """``max_steps`` and ``max_epochs``, unlimited as infinity."""
    steps, epochs = config.trainer.max_steps, config.trainer.max_epochs
    return (
        float("inf") if steps is None or steps < 0 else float(steps),
        float("inf") if epochs is None or epochs < 0 else float(epochs),
    )


def finished_step(run_dir: Path, config: Config) -> int | None:
    """The step a finished run stopped at, when training it with ``config`` has nothing to
    do: its ``summary.json`` (written only at the end of a fit) records a step or epoch
    count that reached ``config``'s ``max_steps`` or ``max_epochs``. ``None``: the run is
    unfinished, was stopped early (a time budget), or ``config`` trains longer."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        done = float(summary["global_step"]), float(summary["epochs"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if any(d >= limit for d, limit in zip(done, _limits(config), strict=True)):
        return int(done[0])
    return None


def resume_config(
    resume: str | Path, config: Config | None, *, finished_ok: bool = False
) -> tuple[Path, Config]:
    """The run directory to continue and the config to continue it with.

    ``config`` ``None`` means the run's saved ``config.yaml``; otherwise ``config`` is
    returned once it is checked to be the same experiment (see :data:`FIXED_ON_RESUME`;
    a data file given again at another path, :data:`PATH_OPTIONS`, is the same one).
    Raises :class:`~seqlab.errors.CheckpointError` for a directory that cannot be resumed,
    :class:`~seqlab.errors.ConfigError` for a changed experiment and, unless
    ``finished_ok``, :class:`RunFinished` for a run that ``config``'s limits would not
    train further.
    """
    run_dir = Path(resume)
    _check_resumable(run_dir)
    saved = Config.load(run_dir / "config.yaml")
    if config is not None:
        changed = _changes(saved.to_dict(), config.to_dict())
        if changed:
            raise ConfigError(
                f"cannot resume {run_dir} with a different {', '.join(changed)}: a resumed "
                f"run continues the same experiment. Only trainer limits, devices, logging "
                f"and the path of a moved data file may change; start a new run for the rest."
            )
    if not finished_ok:
        check_unfinished(run_dir, config or saved, saved)
    return run_dir, config if config is not None else saved


def _summary(run_dir: Path) -> dict[str, Any]:
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def check_unfinished(run_dir: Path, config: Config, saved: Config) -> None:
    """Raise :class:`RunFinished` when training ``run_dir`` further with ``config`` has
    nothing to do: it reached ``config``'s ``max_steps`` or ``max_epochs``; its fits
    (``segments.jsonl``) used up ``config``'s ``max_time``; or early stopping ended it
    and ``config`` stops early with no more patience than ``saved``, the config it ran
    with last."""
    step = finished_step(run_dir, config)
    if step is not None:
        raise RunFinished(
            f"{run_dir} already finished (step {step}); nothing to do. To train it longer, "
            f"resume with a higher --max-steps or --max-epochs."
        )
    t = config.trainer
    spent = previous_wall_time(run_dir)
    if t.max_time is not None and spent >= t.max_time:
        raise RunFinished(
            f"{run_dir} already finished: its fits took {spent:.1f} s of its max_time="
            f"{t.max_time:g} s (segments.jsonl); nothing to do. To train it longer, resume "
            f"with a higher --max-time, or --set trainer.max_time=null and a step or epoch "
            f"limit."
        )
    reason = str(_summary(run_dir).get("stopped_because", ""))
    before = saved.trainer.early_stop
    more_patience = before is not None and t.early_stop is not None and t.early_stop > before
    if reason.startswith("early_stop") and t.early_stop is not None and not more_patience:
        raise RunFinished(
            f"{run_dir} already finished: {reason}; nothing to do. To train it longer, "
            f"resume with more patience (a higher --early-stop) or without early "
            f"stopping (--set trainer.early_stop=null)."
        )


def find_unfinished_run(config: Config) -> Path | None:
    """For ``--resume auto``: the newest run directory in ``config.run.dir`` named like a
    run of ``config`` that has a checkpoint, the same experiment and steps left to train."""
    base = Path(config.run.dir).expanduser()
    stem = run_name(config)
    candidates = sorted(
        (p for p in base.glob(f"{stem}-*") if (p / "checkpoints" / "last.ckpt").is_file()),
        key=lambda p: (p / "checkpoints" / "last.ckpt").stat().st_mtime,
        reverse=True,
    )
    for run_dir in candidates:
        try:
            resume_config(run_dir, config)
        except SeqlabError:  # another experiment, finished, or unreadable: not this one
            continue
        return run_dir
    return None


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


def check_credentials(run_dir: Path, config: Config) -> None:
    """Refuse to resume with credentials the saved config masked and nobody passed again
    (the run would otherwise use the mask ``***`` as the credential)."""
    masked = masked_keys(config.to_dict())
    if masked:
        raise ConfigError(
            f"the config of {run_dir} holds credentials that seqlab masked instead of "
            f"writing them ({', '.join(masked)}). Pass them again to resume, e.g. "
            f"seqlab fit --resume {run_dir} --set {masked[0]}=VALUE (better: have the "
            f"task or cell read them from an environment variable)."
        )


__all__ = [
    "AUTO",
    "FIXED_ON_RESUME",
    "PATH_OPTIONS",
    "RunFinished",
    "check_credentials",
    "check_unfinished",
    "find_unfinished_run",
    "finished_step",
    "masked_keys",
    "resume_config",
]
