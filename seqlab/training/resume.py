"""Continuing a run: its saved config, what may change, and the credentials it masked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqlab.config import Config
from seqlab.errors import CheckpointError, ConfigError

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
        if not _same_unless_masked(old[section][key], new[section][key])
    ]
    if new["trainer"]["seed"] != old["trainer"]["seed"]:
        changed.append(f"trainer.seed ({old['trainer']['seed']!r} → {new['trainer']['seed']!r})")
    return changed


def resume_config(resume: str | Path, config: Config | None) -> tuple[Path, Config]:
    """The run directory to continue and the config to continue it with.

    ``config`` ``None`` means the run's saved ``config.yaml``; otherwise ``config`` is
    returned once it is checked to be the same experiment (see :data:`FIXED_ON_RESUME`).
    Raises :class:`~seqlab.errors.CheckpointError` for a directory that cannot be resumed
    and :class:`~seqlab.errors.ConfigError` for a changed experiment.
    """
    run_dir = Path(resume)
    _check_resumable(run_dir)
    saved = Config.load(run_dir / "config.yaml")
    if config is None:
        return run_dir, saved
    changed = _changes(saved.to_dict(), config.to_dict())
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


__all__ = ["FIXED_ON_RESUME", "check_credentials", "masked_keys", "resume_config"]
