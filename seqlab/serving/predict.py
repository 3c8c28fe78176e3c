"""``predict``: a trained model's predictions for the inputs in a file.

The rows written depend on the output kind (:data:`OUTPUTS`, one function each):
classification gives the label and every class's probability; tagging a label and its
probability per step; regression the values (a forecast in the data's own units);
sequence to sequence the greedy decoding as text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seqlab.errors import CheckpointError, ConfigError, DataError
from seqlab.serving.inputs import Inputs, read_inputs
from seqlab.serving.sources import Predictor, open_model
from seqlab.tasks.base import TaskInfo
from seqlab.training.checkpoint import atomic_write

Row = dict[str, Any]
OUTPUT_SUFFIXES = (".csv", ".tsv", ".jsonl")


def _classes(info: TaskInfo) -> list[str]:
    names = (info.extra or {}).get("classes")
    return [str(c) for c in names] if names else [str(i) for i in range(info.num_outputs)]


def classification_rows(out: Tensor, lengths: Tensor, info: TaskInfo, inputs: Inputs) -> list[Row]:
    """``label`` and ``prob_<class>`` for every class; ``out`` (B, C) logits."""
    classes = _classes(info)
    probs = out.float().softmax(-1)
    return [
        {
            "label": classes[int(p.argmax())],
            **{f"prob_{c}": float(v) for c, v in zip(classes, p, strict=True)},
        }
        for p in probs
    ]


def tagging_rows(out: Tensor, lengths: Tensor, info: TaskInfo, inputs: Inputs) -> list[Row]:
    """``labels`` and ``probs`` (the chosen label's probability) per valid step;
    ``out`` (B, T, C) logits."""
    classes = _classes(info)
    best = out.float().softmax(-1).max(-1)
    return [
        {
            "labels": [classes[int(i)] for i in best.indices[b, :n]],
            "probs": [round(float(v), 6) for v in best.values[b, :n]],
        }
        for b, n in enumerate(lengths.tolist())
    ]


def regression_rows(out: Tensor, lengths: Tensor, info: TaskInfo, inputs: Inputs) -> list[Row]:
    """The predicted values, one column each (a forecast as ``<target>_t+<k>``)."""
    values = out.float() if inputs.postprocess is None else inputs.postprocess(out.float())
    flat = values.reshape(len(values), -1)
    names = inputs.output_names or (
        ["prediction"] if flat.shape[1] == 1 else [f"prediction_{i}" for i in range(flat.shape[1])]
    )
    return [dict(zip(names, (float(v) for v in row), strict=True)) for row in flat]


def seq2seq_rows(out: Any, lengths: Tensor, info: TaskInfo, inputs: Inputs) -> list[Row]:
    """``output``: the greedy decoding as text; ``out`` holds its target token ids."""
    from seqlab.tasks.seq2seq_data import detokenize

    itos, tokens = info.extra["target_itos"], info.extra["tokens"]
    return [{"output": detokenize([itos[i] for i in ids], tokens)} for ids in out.tokens]


OUTPUTS: dict[str, Callable[[Any, Tensor, TaskInfo, Inputs], list[Row]]] = {
    "classification": classification_rows,
    "tagging": tagging_rows,
    "regression": regression_rows,
    "seq2seq": seq2seq_rows,
}
"""The rows ``predict`` writes for each output kind (add one to support another kind)."""


def _pad(sequences: Sequence[Tensor], length: int) -> Tensor:
    first = sequences[0]
    x = first.new_zeros((len(sequences), length, *first.shape[1:]))
    for i, s in enumerate(sequences):
        x[i, : len(s)] = s
    return x


def _batches(
    inputs: Inputs, batch_size: int, seq_len: int | None
) -> Iterator[tuple[Tensor, Tensor]]:
    seqs = inputs.sequences
    for start in range(0, len(seqs), batch_size):
        chunk = seqs[start : start + batch_size]
        lengths = torch.tensor([len(s) for s in chunk], dtype=torch.int64)
        yield _pad(chunk, seq_len or int(lengths.max())), lengths


def check_output(path: str | Path | None) -> None:
    """Refuse an output file whose format cannot be told from its suffix (before any work)."""
    if path is not None and Path(path).suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(
            f"--output {str(path)!r}: cannot tell the format from the suffix; name it "
            f".csv, .tsv or .jsonl."
        )


def format_rows(rows: Sequence[Row], suffix: str) -> str:
    """``rows`` as CSV/TSV (lists JSON-encoded) or JSON lines."""
    if suffix == ".jsonl":
        return "".join(json.dumps(r) + "\n" for r in rows)
    buffer = io.StringIO()
    fields = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buffer, fields, delimiter="\t" if suffix == ".tsv" else ",")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})
    return buffer.getvalue()


def _check_kind(model: Predictor) -> Callable[[Any, Tensor, TaskInfo, Inputs], list[Row]]:
    kind = model.info.output_kind
    rows_of = OUTPUTS.get(kind)
    if rows_of is None:
        hint = " Sample from it with seqlab generate." if kind == "language_model" else ""
        raise CheckpointError(
            f"{model.path} is a '{kind}' model; seqlab predict reads "
            f"{', '.join(OUTPUTS)} models.{hint}"
        )
    return rows_of


def predict(
    ckpt: str | Path | Predictor,
    inputs: str | Path,
    output: str | Path | None = None,
    *,
    batch_size: int = 256,
    trust: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[Row]:
    """Predictions of a trained model for the inputs in a file.

    Args:
        ckpt: a checkpoint file, a run directory, a directory written by ``seqlab export``
            (or one model file in it), or an opened :class:`Predictor`.
        inputs: a CSV/TSV/JSON-lines file in the form the model's task reads (see
            :mod:`seqlab.serving.inputs`).
        output: where to write the rows (``.csv``, ``.tsv`` or ``.jsonl``), atomically
            and only once every prediction is made; ``None``: only return them.
        batch_size: sequences per forward pass.
        trust: load a checkpoint holding more than tensors (see ``--trust-checkpoint``).
        progress: called with (done, total) after each batch.

    Returns one row per input: its ``line`` (or ``after_line`` for a forecast) and the
    prediction (see :data:`OUTPUTS`).
    """
    check_output(output)
    model = ckpt if isinstance(ckpt, Predictor) else open_model(ckpt, trust=trust)
    rows_of = _check_kind(model)
    prepared = read_inputs(inputs, model)
    longest = max(len(s) for s in prepared.sequences)
    if model.seq_len is not None and longest > model.seq_len:
        raise DataError(
            f"predict: an input has {longest} steps, more than the {model.seq_len} the "
            f"exported model {model.path} takes; shorten it or export with a larger --seq-len."
        )
    rows: list[Row] = []
    for x, lengths in _batches(prepared, batch_size, model.seq_len):
        out = model.forward(x, lengths)
        ids = prepared.ids[len(rows) : len(rows) + len(x)]
        rows += [
            {**i, **r}
            for i, r in zip(ids, rows_of(out, lengths, model.info, prepared), strict=True)
        ]
        if progress is not None:
            progress(len(rows), len(prepared.ids))
    if output is not None:
        text = format_rows(rows, Path(output).suffix.lower())
        atomic_write(output, lambda f: f.write(text.encode()))
    return rows


__all__ = ["OUTPUTS", "OUTPUT_SUFFIXES", "check_output", "format_rows", "predict"]
