"""Registering a sweep with W&B's sweep server."""

from __future__ import annotations

import os
from typing import Any

from seqlab.errors import ConfigError
from seqlab.sweep.spec import DEFAULT_WANDB_COMMAND, SweepSpec


def wandb_sweep_config(spec: SweepSpec) -> dict[str, Any]:
    """The configuration sent to ``wandb.sweep``: the file, with seqlab's default command."""
    config = {k: v for k, v in spec.raw.items() if k not in ("project", "entity")}
    config.setdefault("name", spec.name)
    config.setdefault("method", spec.method)
    config.setdefault("command", list(DEFAULT_WANDB_COMMAND))
    return config


def register_sweep(
    spec: SweepSpec,
    *,
    project: str | None = None,
    entity: str | None = None,
    mode: str | None = None,
) -> tuple[str, str]:
    """Register the sweep with W&B; returns ``(sweep_id, "wandb agent ENTITY/PROJECT/ID")``.

    Raises ConfigError when W&B is not online (no credentials, no network, offline or
    disabled mode): a sweep lives on the W&B server.
    """
    from seqlab.tracking.wandb_mode import resolve_wandb_mode

    resolved, reason = resolve_wandb_mode(mode)
    if resolved != "online":
        raise ConfigError(
            f"registering a W&B sweep needs a W&B account and network, but {reason.rstrip('.')}. "
            f"Log in with `wandb login`, or run the sweep here with seqlab sweep --local."
        )
    import wandb

    project = project or spec.raw.get("project") or os.environ.get("WANDB_PROJECT") or "seqlab"
    entity = entity or spec.raw.get("entity") or os.environ.get("WANDB_ENTITY")
    sweep_id = wandb.sweep(sweep=wandb_sweep_config(spec), project=project, entity=entity)
    path = "/".join(p for p in (entity, project, sweep_id) if p)
    return sweep_id, f"wandb agent {path}"


__all__ = ["register_sweep", "wandb_sweep_config"]
