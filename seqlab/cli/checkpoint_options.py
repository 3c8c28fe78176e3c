"""The options of every command that reads a checkpoint (validate, test, generate...)."""

from __future__ import annotations

from typing import Any

import typer

CKPT_HELP = "A checkpoint file, or a run directory (its checkpoints/best.ckpt)."
TRUST_HELP = (
    "Load a checkpoint that holds Python objects beyond tensors (refused by default: "
    "unpickling can run arbitrary code). Only for files whose origin you trust."
)


def ckpt_option() -> Any:
    """``--ckpt PATH`` (required)."""
    return typer.Option(..., "--ckpt", help=CKPT_HELP)


def trust_option() -> Any:
    """``--trust-checkpoint``."""
    return typer.Option(False, "--trust-checkpoint", help=TRUST_HELP)
