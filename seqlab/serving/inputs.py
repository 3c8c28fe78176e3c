"""Reading the inputs of ``predict`` and preparing them as the training run did.

One reader per kind of task input, chosen by the task the model was trained on
(:data:`READERS`, default :func:`sequence_inputs`). Each reads a CSV/TSV/JSON-lines file
the way the task reads its own files, and applies the run's preprocessing from the
checkpoint (vocabulary and tokeniser, scaler, normalisation), never from new data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from seqlab.errors import ConfigError, DataError
from seqlab.serving.sources import Predictor
from seqlab.tasks import read_table
from seqlab.tasks.series_scaling import normalize_like_training
from seqlab.tasks.text import UNK, tokenize


@dataclass
class Inputs:
    """Prepared inputs: one sequence per prediction.

    Attributes:
        ids: what names each prediction in the output (a row's line, a time step).
        sequences: (T_i,) int64 token ids or (T_i, F) float32 features.
        postprocess: maps the model's outputs back to the data's units (the forecast
            scaler), or ``None``.
        output_names: names of the regression outputs, flattened (else generated).
    """

    ids: list[dict[str, Any]]
    sequences: list[Tensor]
    postprocess: Callable[[Tensor], Tensor] | None = None
    output_names: list[str] | None = field(default=None)


def _where(table: Any, i: int) -> str:
    return f"line {table.lines[i]} of {table.path}"


def _column(table: Any, name: str, what: str) -> list[Any]:
    """Column ``name`` of ``table``, or a DataError naming the columns it has."""
    if name not in table.data:
        raise DataError(
            f"predict: {table.path} has no column '{name}' ({what}); its columns are: "
            f"{', '.join(table.columns)}. Rename or add the column."
        )
    return table.data[name]


def text_inputs(path: Path, model: Predictor) -> Inputs:
    """Texts (column ``text_column``) tokenised with the run's tokeniser and vocabulary;
    tokens the training vocabulary lacks become ``<unk>``, texts are cut at ``max_len``."""
    options = model.config.task.options
    column = str(options.get("text_column", "text"))
    table = read_table("predict", path, "--input")
    texts = _column(table, column, "the text column the model was trained with")
    stoi = {tok: i for i, tok in enumerate(model.info.itos or ())}
    unk, max_len = stoi.get(UNK, 1), int(options.get("max_len", 50))
    mode, lowercase = str(options.get("tokens", "word")), bool(options.get("lowercase", True))
    ids, sequences = [], []
    for i, text in enumerate(texts):
        tokens = tokenize(str(text or ""), mode, lowercase)[:max_len]
        if not tokens:
            raise DataError(
                f"predict: the text at {_where(table, i)} has no tokens; remove the row."
            )
        ids.append({"line": table.lines[i]})
        sequences.append(torch.tensor([stoi.get(t, unk) for t in tokens], dtype=torch.int64))
    return Inputs(ids, sequences)


def _number(table: Any, column: str, i: int, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise DataError(
            f"predict: column '{column}' at {_where(table, i)} is not a finite number "
            f"({value!r}); fill or drop the row."
        )
    return number


def forecast_inputs(path: Path, model: Predictor) -> Inputs:
    """A series file like the one trained on (its ``columns``): every window of
    ``context`` rows, scaled by the training part's scaler, forecasts the steps after it;
    forecasts are scaled back to the data's units."""
    extra = model.info.extra
    columns, targets = list(extra["columns"]), list(extra["targets"])
    context, horizon = int(extra["context"]), int(extra["horizon"])
    scaler = extra.get("scaler") or {}
    mean = np.asarray(scaler.get("mean", [0.0] * len(columns)), dtype=np.float64)
    std = np.asarray(scaler.get("std", [1.0] * len(columns)), dtype=np.float64)
    table = read_table("predict", path, "--input")
    values = np.array(
        [
            [
                _number(table, c, i, v)
                for i, v in enumerate(_column(table, c, "a column of the series trained on"))
            ]
            for c in columns
        ]
    ).T
    if len(values) < context:
        raise DataError(
            f"predict: {table.path} has {len(values)} rows, fewer than the model's context "
            f"of {context} steps."
        )
    scaled = torch.from_numpy(((values - mean) / std).astype(np.float32))
    ids = [{"after_line": table.lines[t - 1]} for t in range(context, len(values) + 1)]
    sequences = [scaled[t - context : t] for t in range(context, len(values) + 1)]
    index = [columns.index(t) for t in targets]
    t_mean = torch.tensor(mean[index], dtype=torch.float32)
    t_std = torch.tensor(std[index], dtype=torch.float32)
    names = [f"{t}_t+{k + 1}" for k in range(horizon) for t in targets]
    return Inputs(ids, sequences, lambda y: y * t_std + t_mean, names)


def _parse_sequence(table: Any, i: int, value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        try:
            return json.loads(text) if text.startswith("[") else [float(v) for v in text.split()]
        except ValueError:
            pass
        raise DataError(
            f"predict: column 'x' at {_where(table, i)} is neither a JSON list nor numbers "
            f"separated by spaces ({value[:40]!r})."
        )
    return value


def sequence_inputs(path: Path, model: Predictor) -> Inputs:
    """Column ``x``: one sequence per row, a JSON list of steps (of features: a list per
    step, or a number when there is one feature) or numbers separated by spaces; token
    ids for token models. UCR models z-normalise each series as their task did."""
    info = model.info
    table = read_table("predict", path, "--input")
    tokens = info.input_kind == "tokens"
    # what a row holds per step: the task's raw channels (UCR's scaling may add inputs)
    features = int(info.extra.get("channels", info.input_size) or 0)
    ids, sequences = [], []
    for i, value in enumerate(_column(table, "x", "one sequence per row")):
        raw = _parse_sequence(table, i, value)
        try:
            t = torch.tensor(raw, dtype=torch.int64 if tokens else torch.float32)
        except (TypeError, ValueError) as exc:
            raise DataError(f"predict: column 'x' at {_where(table, i)}: {exc}.") from None
        if not tokens and t.dim() == 1:
            t = t[:, None]
        shape_ok = t.dim() == 1 if tokens else t.dim() == 2 and t.shape[1] == features
        if not shape_ok or len(t) == 0:
            want = "token ids" if tokens else f"steps of {features} feature(s)"
            raise DataError(
                f"predict: column 'x' at {_where(table, i)} has shape {tuple(t.shape)}; the "
                f"model takes a non-empty list of {want}."
            )
        if tokens and (int(t.min()) < 0 or int(t.max()) >= (info.vocab_size or 0)):
            raise DataError(
                f"predict: token ids at {_where(table, i)} must lie in [0, {info.vocab_size})."
            )
        ids.append({"line": table.lines[i]})
        sequences.append(t)
    if model.config.task.name == "ucr":
        # scaled as the training data was: per series, or per channel with training statistics
        scaled = normalize_like_training([s.numpy() for s in sequences], model.info.extra)
        sequences = [torch.from_numpy(s).float() for s in scaled]
    return Inputs(ids, sequences)


def source_inputs(path: Path, model: Predictor) -> Inputs:
    """Sequence to sequence: column ``source``, tokenised as the run's sources were
    (``info.extra``: ``tokens``, ``lowercase``) into its source vocabulary."""
    from seqlab.tasks.seq2seq_data import encode_source

    extra = model.info.extra
    table = read_table("predict", path, "--input")
    ids, sequences = [], []
    for i, text in enumerate(_column(table, "source", "the text to transform")):
        try:
            encoded = encode_source(
                str(text or ""), model.info.itos or (), extra["tokens"], extra["lowercase"]
            )
        except ConfigError as exc:
            raise DataError(f"predict: the source at {_where(table, i)}: {exc}") from None
        ids.append({"line": table.lines[i], "source": str(text)})
        sequences.append(torch.tensor(encoded, dtype=torch.int64))
    return Inputs(ids, sequences)


READERS: dict[str, Callable[[Path, Predictor], Inputs]] = {
    "text": text_inputs,
    "forecast": forecast_inputs,
}
"""The input reader of each task by name; else by output kind (:data:`KIND_READERS`);
else column ``x`` (:func:`sequence_inputs`)."""

KIND_READERS: dict[str, Callable[[Path, Predictor], Inputs]] = {"seq2seq": source_inputs}


def read_inputs(path: str | Path, model: Predictor) -> Inputs:
    """The inputs in ``path`` for ``model``, prepared as its training run prepared data."""
    reader = READERS.get(model.config.task.name) or KIND_READERS.get(
        model.info.output_kind, sequence_inputs
    )
    return reader(Path(path), model)


__all__ = ["KIND_READERS", "READERS", "Inputs", "read_inputs", "sequence_inputs"]
