"""Text classification from a local CSV/TSV/JSON-lines file (or a Hugging Face data set)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from seqlab.errors import ConfigError, DataError
from seqlab.tasks._data import (
    ArrayTask,
    SequenceDataset,
    Splits,
    encode_labels,
    majority_baselines,
    require,
    split_rngs,
    stratified_split,
)
from seqlab.tasks._files import read_table
from seqlab.tasks._options import (
    check_bool,
    check_choice,
    check_fraction,
    check_fractions_sum,
    check_int,
)
from seqlab.tasks.base import OutputKind, TaskInfo
from seqlab.tasks.registry import register_task

PAD, UNK = "<pad>", "<unk>"
# Words (with an inner apostrophe: "don't") or single punctuation marks.
_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}


def tokenize(text: str, mode: str, lowercase: bool) -> list[str]:
    """Word tokens (``\\w+`` runs and punctuation) or characters."""
    if lowercase:
        text = text.lower()
    return _WORD.findall(text) if mode == "word" else list(text)


def build_vocab(token_lists: Sequence[list[str]], max_vocab: int) -> list[str]:
    """``<pad>``, ``<unk>``, then the most frequent tokens (ties in first-seen order)."""
    counts = Counter(tok for toks in token_lists for tok in toks)
    ranked = sorted(counts, key=lambda t: -counts[t])  # stable: ties keep first-seen order
    return [PAD, UNK, *ranked[: max_vocab - 2]]


@dataclass
class _Examples:
    texts: list[str]
    labels: list[str]
    split: list[str | None]  # "train" / "val" / "test", or None to split at random
    where: list[str]  # "line 12 of FILE" for messages


@register_task("text")
class TextClassification(ArrayTask):
    """Text classification: one label per text, from a local file or a HF data set.

    Source: a CSV (``.csv``), TSV (``.tsv``) or JSON-lines (``.jsonl``) file given by
    ``path=`` with a text column and a label column; or, when online with the
    ``datasets`` package, ``hf_dataset=NAME`` (its train/validation/test splits).

    Processing: texts are tokenised into words (``\\w+`` runs, punctuation marks) or
    characters, lowercased by default. The vocabulary is built on the training split
    only: ``<pad>`` = 0, ``<unk>`` = 1, then the ``max_vocab - 2`` most frequent training
    tokens; other tokens map to ``<unk>``. Texts longer than ``max_len`` tokens are
    truncated to their first ``max_len`` tokens; shorter ones are padded with ``<pad>``
    and keep their true length in ``lengths``. Labels (any strings) become class ids in
    natural order, named in ``info.extra["classes"]``.

    Splits: rows are split into train/val/test at random, stratified by label and seeded
    by ``seed``; or, with ``split_column``, by that column's values (train/val/test, also
    spelled validation/dev/valid/training/testing); if it names no validation rows,
    validation is carved from train.

    Shapes: ``x`` (B, T) int64 token ids (T ≤ max_len, the longest text in the batch),
    ``lengths`` (B,), ``y`` (B,) int64. Output kind ``classification``, metric ``acc``.

    Baseline: accuracy of always predicting the most frequent training class.

    Options:
        path: the data file (.csv, .tsv or .jsonl).
        text_column: the column holding the text.
        label_column: the column holding the label.
        tokens: "word" or "char".
        max_vocab: vocabulary size cap, counting <pad> and <unk> (≥ 3).
        max_len: longest sequence in tokens; longer texts are truncated.
        lowercase: lowercase the text before tokenising.
        split_column: column holding each row's split (train/val/test), if any.
        val_fraction: fraction of the rows held out for validation.
        test_fraction: fraction of the rows held out for testing.
        hf_dataset: a Hugging Face data set name, instead of path (needs the network and
            the datasets package).
        hf_config: the configuration name of hf_dataset, if it has several.
    """

    description: ClassVar[str] = "Text classification from a local CSV/TSV/JSONL file (path=FILE)"
    output_kind: ClassVar[OutputKind] = "classification"

    def __init__(
        self,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        path: str | None = None,
        text_column: str = "text",
        label_column: str = "label",
        tokens: Literal["word", "char"] = "word",
        max_vocab: int = 10_000,
        max_len: int = 50,
        lowercase: bool = True,
        split_column: str | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        hf_dataset: str | None = None,
        hf_config: str | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        if (path is None) == (hf_dataset is None):
            raise ConfigError(
                "task 'text' needs exactly one source of data: pass path=FILE (a .csv, .tsv "
                "or .jsonl file with a text and a label column) or hf_dataset=NAME (a Hugging "
                f"Face data set, online only); got path={path!r}, hf_dataset={hf_dataset!r}."
            )
        self.path = None if path is None else str(path)
        self.hf_dataset, self.hf_config = hf_dataset, hf_config
        self.text_column, self.label_column = str(text_column), str(label_column)
        self.split_column = None if split_column is None else str(split_column)
        self.tokens = check_choice(self.name, "tokens", tokens, ("word", "char"))
        self.max_vocab = check_int(self.name, "max_vocab", max_vocab, minimum=3, example=10_000)
        self.max_len = check_int(self.name, "max_len", max_len, minimum=1, example=50)
        self.lowercase = check_bool(self.name, "lowercase", lowercase)
        self.val_fraction = check_fraction(self.name, "val_fraction", val_fraction)
        self.test_fraction = check_fraction(self.name, "test_fraction", test_fraction)
        check_fractions_sum(
            self.name, val_fraction=self.val_fraction, test_fraction=self.test_fraction
        )

    # -- loading ----------------------------------------------------------------------
    def _from_file(self) -> _Examples:
        assert self.path is not None
        table = read_table(self.name, self.path)
        texts = table.column(self.name, self.text_column, "text_column")
        labels = table.column(self.name, self.label_column, "label_column")
        splits = (
            table.column(self.name, self.split_column, "split_column")
            if self.split_column
            else [None] * len(table)
        )
        where = [f"line {n} of {table.path}" for n in table.lines]
        return _Examples(texts, labels, splits, where)

    def _from_hub(self) -> _Examples:
        datasets = require("datasets", self.name, f"hf_dataset={self.hf_dataset!r}")
        loaded = datasets.load_dataset(self.hf_dataset, self.hf_config)
        ex = _Examples([], [], [], [])
        for split_name in loaded:
            split = _SPLIT_NAMES.get(str(split_name).lower())
            if split is None:
                continue  # e.g. "unsupervised" (unlabelled) splits
            part = loaded[split_name]
            for column in (self.text_column, self.label_column):
                if column not in part.column_names:
                    raise DataError(
                        f"task 'text': hf_dataset {self.hf_dataset!r} split '{split_name}' has "
                        f"no column '{column}'; its columns are: {', '.join(part.column_names)}. "
                        f"Pass text_column=NAME and label_column=NAME."
                    )
            feature = part.features[self.label_column]
            names = getattr(feature, "names", None)
            for i, (text, label) in enumerate(
                zip(part[self.text_column], part[self.label_column], strict=True)
            ):
                ex.texts.append(text)
                ex.labels.append(names[label] if names and isinstance(label, int) else label)
                ex.split.append(split)
                ex.where.append(f"row {i} of split '{split_name}' of {self.hf_dataset}")
        if not ex.texts:
            raise DataError(
                f"task 'text': hf_dataset {self.hf_dataset!r} has no train, "
                f"validation or test split; its splits are: {', '.join(loaded)}."
            )
        return ex

    def _check(self, ex: _Examples) -> None:
        for what, values in (("text", ex.texts), ("label", ex.labels)):
            bad = [i for i, v in enumerate(values) if v is None or not str(v).strip()]
            if bad:
                column = self.text_column if what == "text" else self.label_column
                more = f" (and {len(bad) - 1} more rows)" if len(bad) > 1 else ""
                raise DataError(
                    f"task 'text': the {what} column '{column}' is empty at {ex.where[bad[0]]}"
                    f"{more}. Remove those rows or fill them in."
                )

    def _assign_splits(self, ex: _Examples, ids: np.ndarray) -> list[np.ndarray]:
        """Indices of the train, val and test examples."""
        rng = split_rngs(self.seed, 1)[0]
        if all(s is None for s in ex.split):
            val, test, train = stratified_split(ids, (self.val_fraction, self.test_fraction), rng)
        else:
            source = (
                f"the values of split column '{self.split_column}'"
                if self.split_column
                else "the data set's splits"
            )
            mapped = []
            for i, value in enumerate(ex.split):
                split = _SPLIT_NAMES.get(str(value).strip().lower())
                if split is None:
                    raise DataError(
                        f"task 'text': {source} has the value "
                        f"{value!r} at {ex.where[i]}; use train, val or test (also spelled "
                        f"validation/dev/valid/training/testing)."
                    )
                mapped.append(split)
            kinds = np.array(mapped)
            train, val, test = (np.flatnonzero(kinds == k) for k in ("train", "val", "test"))
            for split, idx in (("train", train), ("test", test)):
                if not len(idx):
                    raise DataError(
                        f"task 'text': {source} name no {split} rows; train and test rows "
                        f"are needed (val rows are optional, carved from train if absent)."
                    )
            if not len(val):
                frac = self.val_fraction
                carved, kept = stratified_split(ids[train], (frac,), rng)
                val, train = train[carved], train[kept]
        for split, idx in (("train", train), ("val", val), ("test", test)):
            if not len(idx):
                raise DataError(
                    f"task 'text': the {split} split is empty ({len(ids)} examples with "
                    f"val_fraction={self.val_fraction}, test_fraction={self.test_fraction}); "
                    f"use a larger file or larger fractions."
                )
        return [train, val, test]

    # -- building ---------------------------------------------------------------------
    def build(self) -> tuple[TaskInfo, Splits]:
        ex = self._from_file() if self.path is not None else self._from_hub()
        self._check(ex)
        what = f"the label column '{self.label_column}'"
        ids, class_names = encode_labels(self.name, [str(v) for v in ex.labels], what)
        token_lists = [tokenize(str(t), self.tokens, self.lowercase) for t in ex.texts]
        empty = [i for i, toks in enumerate(token_lists) if not toks]
        if empty:
            raise DataError(
                f"task 'text': the text at {ex.where[empty[0]]} has no tokens "
                f"({len(empty)} such rows); remove them or use tokens=char."
            )
        parts = self._assign_splits(ex, ids)
        itos = build_vocab([token_lists[i] for i in parts[0]], self.max_vocab)
        stoi = {tok: i for i, tok in enumerate(itos)}
        unk_id = stoi[UNK]

        def encode(idx: np.ndarray) -> SequenceDataset:
            longest = min(self.max_len, max(len(token_lists[i]) for i in idx))
            x = np.zeros((len(idx), longest), dtype=np.int64)
            lengths = np.zeros(len(idx), dtype=np.int64)
            for row, i in enumerate(idx):
                seq = [stoi.get(tok, unk_id) for tok in token_lists[i][: self.max_len]]
                x[row, : len(seq)] = seq
                lengths[row] = len(seq)
            return SequenceDataset(
                torch.from_numpy(x), torch.from_numpy(lengths), torch.from_numpy(ids[idx])
            )

        splits = Splits(*(encode(idx) for idx in parts))
        truncated = sum(len(toks) > self.max_len for toks in token_lists)
        val_tokens = [tok for i in parts[1] for tok in token_lists[i][: self.max_len]]
        extra: dict[str, Any] = {
            "classes": class_names,
            "sizes": splits.sizes(),
            "tokens": self.tokens,
            "max_len": self.max_len,
            "truncated_texts": truncated,
            "val_unk_rate": (sum(tok not in stoi for tok in val_tokens) / len(val_tokens)),
            "source": self.path or f"hf:{self.hf_dataset}",
        }
        info = TaskInfo(
            output_kind="classification",
            input_kind="tokens",
            input_size=len(itos),
            num_outputs=len(class_names),
            vocab_size=len(itos),
            metric="acc",
            metric_mode="max",
            baselines=majority_baselines(
                splits.train.y, {"val": splits.val.y, "test": splits.test.y}, class_names
            ),
            itos=tuple(itos),
            extra=extra,
        )
        return info, splits
