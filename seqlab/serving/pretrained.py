"""A trained model as a directory: ``model.safetensors`` plus ``config.json``.

``config.json`` holds what rebuilds the model and prepares its inputs without the task's
data: the run's config (cell, sizes, task options such as the tokeniser), the task's
info (vocabulary, classes, scaler...), the cell's source, and ``seq_len``, the padded
length every exported graph takes. :func:`load_pretrained` reads the directory back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqlab.errors import CheckpointError, MissingDependencyError
from seqlab.training.checkpoint import (
    LoadedCheckpoint,
    atomic_write,
    info_to_dict,
    plain,
    rebuild_model,
)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PRETRAINED_FORMAT = 1


def require(module: str, extra: str, purpose: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} needs the package '{module.split('.')[0]}', which is not installed. "
            f"Install seqlab's {extra} extra: pip install 'seqlab[{extra}]'."
        ) from None


def default_seq_len(loaded: LoadedCheckpoint) -> int | None:
    """The longest sequence the model was trained on, where the task says so."""
    extra, options = loaded.info.extra or {}, loaded.config.task.options or {}
    for value in (extra.get("max_len"), extra.get("context"), extra.get("seq_len")):
        if isinstance(value, int) and value > 0:
            return value
    value = options.get("seq_len")
    return value if isinstance(value, int) and value > 0 else None


def model_record(loaded: LoadedCheckpoint, seq_len: int | None) -> dict[str, Any]:
    """What ``config.json`` holds (see the module docstring)."""
    from seqlab.training.checkpoint import saved_config
    from seqlab.version import __version__

    return {
        "format": PRETRAINED_FORMAT,
        "library": "seqlab",
        "seqlab_version": __version__,
        "trained_with": loaded.seqlab_version,
        "config": plain(saved_config(loaded.config)),
        "task_info": info_to_dict(loaded.info),
        "cell": plain(loaded.cell),
        "seq_len": seq_len,
        "global_step": loaded.global_step,
        "epoch": loaded.epoch,
    }


def write_record(directory: Path, record: Mapping[str, Any]) -> None:
    text = json.dumps(record, indent=2, default=str) + "\n"
    atomic_write(directory / CONFIG_NAME, lambda f: f.write(text.encode()))


def save_pretrained(
    loaded: LoadedCheckpoint, directory: str | Path, *, seq_len: int | None = None
) -> Path:
    """Write ``model.safetensors`` and ``config.json`` of ``loaded`` into ``directory``."""
    st = require("safetensors.torch", "export", "saving safetensors weights")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{WEIGHTS_NAME}.tmp"
    st.save_model(loaded.model, str(tmp))  # writes shared (tied) weights once
    tmp.replace(out / WEIGHTS_NAME)
    write_record(out, model_record(loaded, seq_len or default_seq_len(loaded)))
    return out


def read_record(directory: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a directory written by :func:`save_pretrained` or export."""
    p = Path(directory) / CONFIG_NAME
    try:
        record = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(
            f"{directory} has no {CONFIG_NAME}: pass a directory written by `seqlab export` "
            f"or save_pretrained, a run directory, or a checkpoint file."
        ) from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{p} cannot be read as JSON ({exc}).") from None
    if not isinstance(record, dict) or record.get("library") != "seqlab":
        raise CheckpointError(f"{p} is not a seqlab model's config (no library: seqlab).")
    if int(record.get("format", 0)) > PRETRAINED_FORMAT:
        raise CheckpointError(
            f"{p} uses format {record.get('format')}, newer than this seqlab reads "
            f"({PRETRAINED_FORMAT}); upgrade seqlab."
        )
    return record


def empty_model(directory: str | Path, record: Mapping[str, Any]) -> LoadedCheckpoint:
    """The model ``record`` describes, with freshly initialised weights."""
    p = Path(directory)
    config, info, model, cell = rebuild_model(p, record, source=f"{p / CONFIG_NAME}")
    return LoadedCheckpoint(
        path=p,
        model=model.eval(),
        config=config,
        info=info,
        cell=cell,
        global_step=int(record.get("global_step", 0)),
        epoch=int(record.get("epoch", 0)),
        seqlab_version=str(record.get("trained_with", "?")),
    )


def load_pretrained(directory: str | Path) -> LoadedCheckpoint:
    """Rebuild the model of a directory written by :func:`save_pretrained`
    (``seqlab export --format safetensors``), in eval mode on the CPU."""
    st = require("safetensors.torch", "export", "loading safetensors weights")
    p = Path(directory)
    loaded = empty_model(p, read_record(p))
    weights = p / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(
            f"{p} has no {WEIGHTS_NAME}; export the weights with seqlab export --format "
            f"safetensors."
        )
    try:
        st.load_model(loaded.model, str(weights), strict=True)
    except Exception as exc:
        raise CheckpointError(
            f"the weights in {weights} do not fit the model its {CONFIG_NAME} describes: "
            f"{' '.join(str(exc).split())[:300]}"
        ) from None
    loaded.model.eval()
    return loaded


__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "default_seq_len",
    "empty_model",
    "load_pretrained",
    "model_record",
    "read_record",
    "require",
    "save_pretrained",
    "write_record",
]
