"""Where a trained model comes from: a checkpoint (or run directory), or an exported one.

:func:`open_model` gives every source the same face, a :class:`Predictor`: the run's
config and task info (what prepares inputs and names outputs) and a function from a
padded batch to the model's outputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seqlab.config import Config
from seqlab.errors import CheckpointError
from seqlab.serving.pretrained import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    empty_model,
    load_pretrained,
    read_record,
    require,
)
from seqlab.tasks.base import TaskInfo
from seqlab.training.checkpoint import LoadedCheckpoint, load_checkpoint

ONNX_NAME = "model.onnx"
TORCHSCRIPT_NAME = "model.pt"
EXPORT_FILES = {"safetensors": WEIGHTS_NAME, "torchscript": TORCHSCRIPT_NAME, "onnx": ONNX_NAME}
"""The file each export format writes next to ``config.json``."""


@dataclass
class Predictor:
    """A model ready to predict.

    Attributes:
        path: where it was read from.
        kind: ``"checkpoint"``, ``"safetensors"``, ``"torchscript"`` or ``"onnx"``.
        config: the training run's config (task options: tokeniser, columns...).
        info: the task's info (vocabulary, classes, scaler, output kind).
        forward: ``(x, lengths) -> outputs``; ``x`` (B, T) int64 token ids or (B, T, F)
            float32 features, ``lengths`` (B,) int64; outputs are the model's (logits or
            values), or decoded token ids for :data:`STEPPED_KINDS`.
        seq_len: the padded length ``T`` an exported graph takes (``None``: any).
    """

    path: Path
    kind: str
    config: Config
    info: TaskInfo
    forward: Callable[[Tensor, Tensor], Any]
    seq_len: int | None = None


def _module_forward(module: torch.nn.Module) -> Callable[[Tensor, Tensor], Tensor]:
    def forward(x: Tensor, lengths: Tensor) -> Tensor:
        with torch.no_grad():
            return module(x, lengths)

    return forward


def _onnx_forward(path: Path) -> Callable[[Tensor, Tensor], Tensor]:
    ort = require("onnxruntime", "export", "running an ONNX model")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def forward(x: Tensor, lengths: Tensor) -> Tensor:
        feeds = dict(zip(names, (x.numpy(), lengths.numpy()), strict=True))
        return torch.from_numpy(session.run(None, feeds)[0])

    return forward


def _decode_forward(module: Any) -> Callable[[Tensor, Tensor], Any]:
    """Greedy decoding (sequence to sequence): ``Decoded`` token ids per source."""

    def forward(x: Tensor, lengths: Tensor) -> Any:
        return module.decode(x, lengths)

    return forward


STEPPED_KINDS: dict[str, Callable[[Any], Callable[[Tensor, Tensor], Any]]] = {
    "seq2seq": _decode_forward,
}
"""Output kinds predicted by decoding step by step rather than by one forward pass."""


def from_checkpoint(loaded: LoadedCheckpoint, kind: str = "checkpoint") -> Predictor:
    model = loaded.model.eval()
    forward = STEPPED_KINDS.get(loaded.info.output_kind, _module_forward)(model)
    return Predictor(loaded.path, kind, loaded.config, loaded.info, forward)


def _exported(directory: Path, file: Path) -> Predictor:
    record = read_record(directory)
    seq_len = record.get("seq_len")
    if file.name == WEIGHTS_NAME:
        predictor = from_checkpoint(load_pretrained(directory), "safetensors")
        predictor.path = file
        return predictor
    shell = empty_model(directory, record)  # config and info, without weights
    if file.name == ONNX_NAME:
        forward, kind = _onnx_forward(file), "onnx"
    elif file.name == TORCHSCRIPT_NAME:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit, for torch.export
            module = torch.jit.load(str(file), map_location="cpu")
        forward, kind = _module_forward(module), "torchscript"
    else:
        raise CheckpointError(
            f"{file} is not one of the files seqlab export writes "
            f"({', '.join(EXPORT_FILES.values())})."
        )
    return Predictor(file, kind, shell.config, shell.info, forward, seq_len)


def open_model(path: str | Path, *, trust: bool = False) -> Predictor:
    """The model at ``path``: a checkpoint file, a run directory, a directory written by
    ``seqlab export`` (its safetensors weights, else TorchScript, else ONNX), or one file
    of such a directory (``DIR/model.onnx``)."""
    p = Path(path)
    if p.is_file() and (p.parent / CONFIG_NAME).is_file() and p.name in EXPORT_FILES.values():
        return _exported(p.parent, p)
    if p.is_dir() and (p / CONFIG_NAME).is_file():
        for name in EXPORT_FILES.values():
            if (p / name).is_file():
                return _exported(p, p / name)
        raise CheckpointError(
            f"{p} has a {CONFIG_NAME} but no model file ({', '.join(EXPORT_FILES.values())})."
        )
    return from_checkpoint(load_checkpoint(p, trust=trust))


__all__ = [
    "EXPORT_FILES",
    "ONNX_NAME",
    "STEPPED_KINDS",
    "TORCHSCRIPT_NAME",
    "Predictor",
    "from_checkpoint",
    "open_model",
]
