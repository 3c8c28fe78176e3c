"""``export``: a checkpoint as ONNX, TorchScript or safetensors, checked against PyTorch.

Every format writes ``config.json`` beside the model (see
:mod:`seqlab.serving.pretrained`): the preprocessing (vocabulary, tokeniser, scaler) and
``seq_len``. ONNX and TorchScript graphs take ``x`` padded to ``seq_len`` steps (any batch
size) and ``lengths``, and return what the model's ``forward`` returns (logits or values).

Each export is run on random inputs of variable lengths and compared with the PyTorch
model inside :func:`export`; a graph that does not match (a cell whose step branches in
Python on tensor values is traced along one branch only) is an :class:`ExportError`, and
nothing is written.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from seqlab.errors import ConfigError, SeqlabError, UnknownNameError, did_you_mean
from seqlab.serving.pretrained import (
    CONFIG_NAME,
    default_seq_len,
    load_pretrained,
    model_record,
    require,
    save_pretrained,
    write_record,
)
from seqlab.serving.sources import EXPORT_FILES, open_model
from seqlab.training.checkpoint import LoadedCheckpoint, load_checkpoint

FORMATS = tuple(EXPORT_FILES)
EXPORTABLE_KINDS = ("classification", "tagging", "regression")
TOLERANCE = 1e-5


class ExportError(SeqlabError):
    """A model that could not be exported, or whose export does not match PyTorch."""


@dataclass
class ExportReport:
    """What :func:`export` wrote and how closely it matches the PyTorch model.

    Attributes:
        format: ``"onnx"``, ``"torchscript"`` or ``"safetensors"``.
        path: the model file written (``config.json`` is beside it).
        seq_len: the padded length the graph takes.
        max_abs_diff: the largest difference from PyTorch on the check inputs.
        exporter: how it was made (for ONNX: ``dynamo``, or ``torchscript`` where
            ``torch.export`` cannot trace the model; then ``note`` says why).
    """

    format: str
    path: Path
    seq_len: int
    max_abs_diff: float
    exporter: str
    note: str = ""


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UnknownNameError(
            f"unknown export format '{fmt}'.{did_you_mean(fmt, FORMATS)} The formats are: "
            f"{', '.join(FORMATS)}."
        )
    return fmt


def random_inputs(
    loaded: LoadedCheckpoint, batch: int, seq_len: int, seed: int
) -> tuple[Tensor, Tensor]:
    """Inputs of every length from 1 to ``seq_len`` (the longest first)."""
    gen = torch.Generator().manual_seed(seed)
    info = loaded.info
    if info.input_kind == "tokens":
        x = torch.randint(0, info.vocab_size or info.input_size, (batch, seq_len), generator=gen)
    else:
        x = torch.randn(batch, seq_len, info.input_size, generator=gen)
    lengths = torch.randint(1, seq_len + 1, (batch,), generator=gen)
    lengths[0], lengths[-1] = seq_len, 1
    return x, lengths


def _torchscript(loaded: LoadedCheckpoint, example: tuple[Tensor, Tensor], path: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # check_trace off: the numerical check after export compares on other inputs.
        traced = loaded.model.to_torchscript(
            method="trace", example_inputs=example, check_trace=False
        )
        torch.jit.save(traced, str(path))  # deprecated in favour of torch.export (see docs)
    return "torch.jit.trace"


@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    """Silence the exporters' progress lines and, where torch.export gives up, its dump of
    the graph (the fallback below handles that case; the report says so)."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def _onnx(loaded: LoadedCheckpoint, example: tuple[Tensor, Tensor], path: Path) -> str:
    require("onnxscript", "export", "ONNX export")
    names = {"input_names": ["x", "lengths"], "output_names": ["output"]}
    batch = torch.export.Dim("batch", min=1, max=65_536)
    with warnings.catch_warnings(), _quiet_torch():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                loaded.model,
                example,
                str(path),
                dynamo=True,
                dynamic_shapes=({0: batch}, {0: batch}),
                external_data=False,  # one file, model.onnx, with the weights inside
                **names,
            )
            return "dynamo"
        except Exception as exc:  # torch.export cannot trace it: the TorchScript exporter can
            reason = " ".join(str(exc).split())[:200]
            torch.onnx.export(
                loaded.model,
                example,
                str(path),
                dynamo=False,
                dynamic_axes={"x": {0: "batch"}, "lengths": {0: "batch"}, "output": {0: "batch"}},
                **names,
            )
            return f"torchscript (torch.export failed: {reason})"


def _safetensors(loaded: LoadedCheckpoint, example: tuple[Tensor, Tensor], path: Path) -> str:
    save_pretrained(loaded, path.parent, seq_len=example[0].shape[1])
    load_pretrained(path.parent)  # reads back
    return "safetensors"


WRITERS: dict[str, Callable[[LoadedCheckpoint, tuple[Tensor, Tensor], Path], str]] = {
    "onnx": _onnx,
    "torchscript": _torchscript,
    "safetensors": _safetensors,
}


def _load(ckpt: str | Path | LoadedCheckpoint, trust: bool) -> LoadedCheckpoint:
    if isinstance(ckpt, LoadedCheckpoint):
        return ckpt
    if (Path(ckpt) / CONFIG_NAME).is_file():
        return load_pretrained(ckpt)
    return load_checkpoint(ckpt, trust=trust)


def _cell_words(loaded: LoadedCheckpoint) -> str:
    cell = loaded.cell
    if cell.get("builtin", True):
        return f"cell '{cell.get('name')}'"
    return f"cell '{cell.get('name')}' from {cell.get('distribution')} {cell.get('version')}"


def _compare(loaded: LoadedCheckpoint, fmt: str, file: Path, seq_len: int) -> float:
    """The largest difference between the export at ``file`` and PyTorch."""
    exported = open_model(file)
    worst = 0.0
    for seed, batch in ((1, 5), (2, 1)):
        x, lengths = random_inputs(loaded, batch, seq_len, seed)
        with torch.no_grad():
            want = loaded.model(x, lengths).float()
        got = exported.forward(x, lengths).float()
        if got.shape != want.shape:
            raise ExportError(
                f"the {fmt} export of {_cell_words(loaded)} returns shape {tuple(got.shape)} "
                f"for a batch of {batch}, PyTorch {tuple(want.shape)}."
            )
        worst = max(worst, float((got - want).abs().max()))
    return worst


def export(
    ckpt: str | Path | LoadedCheckpoint,
    fmt: str,
    out: str | Path,
    *,
    seq_len: int | None = None,
    trust: bool = False,
    tolerance: float = TOLERANCE,
) -> ExportReport:
    """Export a checkpoint (file, run directory, or a safetensors export) to ``out``.

    Writes ``out/config.json`` and ``out/model.onnx``, ``model.pt`` (TorchScript) or
    ``model.safetensors``, once the export matches the PyTorch model within
    ``tolerance`` on random inputs of variable lengths; raises :class:`ExportError`
    (nothing written) when it cannot be exported or does not match.
    """
    check_format(fmt)
    loaded = _load(ckpt, trust)
    kind = loaded.info.output_kind
    if kind not in EXPORTABLE_KINDS:
        raise ExportError(
            f"cannot export a '{kind}' model: seqlab exports {', '.join(EXPORTABLE_KINDS)} "
            f"models (a forward pass from inputs and lengths to outputs)."
        )
    seq_len = seq_len or default_seq_len(loaded)
    if seq_len is None or seq_len < 1:
        raise ConfigError(
            f"the task '{loaded.config.task.name}' does not say how long its sequences are; "
            f"pass the padded length the exported model should take: --seq-len N."
        )
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".seqlab-export-", dir=target.parent) as tmp:
        staging = Path(tmp)
        file = staging / EXPORT_FILES[fmt]
        example = random_inputs(loaded, 3, seq_len, 0)
        try:
            write_record(staging, model_record(loaded, seq_len))
            exporter = WRITERS[fmt](loaded, example, file)
        except SeqlabError:
            raise
        except Exception as exc:
            raise ExportError(
                f"could not export the model ({_cell_words(loaded)}) to {fmt}: "
                f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]} A cell whose step "
                f"branches in Python on tensor values or runs its own autograd Function "
                f"cannot be traced into a graph; --format safetensors (the weights, rebuilt "
                f"by seqlab.load_pretrained) works for every cell."
            ) from None
        diff = _compare(loaded, fmt, file, seq_len)
        if not diff <= tolerance:
            raise ExportError(
                f"the {fmt} export of {_cell_words(loaded)} does not match PyTorch: outputs "
                f"differ by up to {diff:.3g} (tolerance {tolerance:g}) on random inputs of "
                f"variable lengths, so nothing was written. A step that branches in Python "
                f"on tensor values is traced along one branch only; use --format safetensors."
            )
        target.mkdir(parents=True, exist_ok=True)
        for item in (CONFIG_NAME, EXPORT_FILES[fmt]):
            shutil.move(str(staging / item), str(target / item))
    main, _, note = exporter.partition(" (")
    return ExportReport(fmt, target / EXPORT_FILES[fmt], seq_len, diff, main, note.rstrip(")"))


__all__ = ["EXPORTABLE_KINDS", "FORMATS", "ExportError", "ExportReport", "check_format", "export"]
