"""Translation pairs from a local TSV, CSV or JSON-lines file; registered as ``translate``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from seqlab.errors import DataError
from seqlab.tasks._files import read_utf8
from seqlab.tasks._options import check_bool, check_choice, check_fraction, check_int
from seqlab.tasks.registry import register_task
from seqlab.tasks.seq2seq_data import Pair, PairTask, tokenize

FORMATS = {".tsv": "tsv", ".tab": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl"}


def read_rows(path: Path, text: str) -> list[tuple[int, str, str]]:
    """(line number, source, target) of every non-blank row; extra columns are ignored.

    TSV: ``source<TAB>target[<TAB>anything]`` (Tatoeba's exports); CSV: the same with
    commas and quoting, no header; JSON lines: objects with ``source`` and ``target``.
    """
    kind = FORMATS.get(path.suffix.lower(), "tsv")
    if kind == "csv":
        lines = [(i + 1, row) for i, row in enumerate(csv.reader(io.StringIO(text)))]
    elif kind == "jsonl":
        lines = [(i + 1, _json_row(path, i + 1, line)) for i, line in enumerate(text.splitlines())]
    else:
        lines = [(i + 1, line.split("\t")) for i, line in enumerate(text.splitlines())]
    rows = []
    for lineno, cells in lines:
        if not cells or not any(c.strip() for c in cells):
            continue
        if len(cells) < 2:
            sep, example = (
                ("tab", "source<TAB>target") if kind == "tsv" else ("comma", "source,target")
            )
            raise DataError(
                f"task 'translate': {path}, line {lineno} has no {sep} between source and "
                f"target: {cells[0][:60]!r}. Write each pair as {example}."
            )
        rows.append((lineno, cells[0].strip(), cells[1].strip()))
    if not rows:
        raise DataError(f"task 'translate': {path} holds no pairs; write one pair per line.")
    return rows


def _json_row(path: Path, lineno: int, line: str) -> list[str]:
    if not line.strip():
        return []
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"task 'translate': {path}, line {lineno} is not JSON ({exc.msg}); write one "
            f'object per line, e.g. {{"source": "Go.", "target": "Va !"}}.'
        ) from exc
    if not isinstance(record, dict) or not {"source", "target"} <= set(record):
        raise DataError(
            f"task 'translate': {path}, line {lineno} needs the keys 'source' and 'target'."
        )
    return [str(record["source"]), str(record["target"])]


@register_task("translate")
class TranslateTask(PairTask):
    """Translate sentences: pairs read from a local file, split with a seeded shuffle.

    Each line holds a source sentence, a target sentence and anything else (ignored, as
    Tatoeba's third column of attributions): TSV (``.tsv``/``.txt``), CSV (no header) or
    JSON lines with ``source`` and ``target``. ``../shared/data/eng-fra-tatoeba-5k.tsv``
    is a 5,000-pair English–French extract of Tatoeba (CC-BY 2.0 FR), ordered by English
    length, which is why the split shuffles. The vocabularies hold every token of the
    file (no unknown-token symbol), so any pair of the file can be decoded.

    Shapes: ``x`` (B, S) source token ids, ``y`` (B, L) target ids then ``EOS``. Output
    kind ``seq2seq``, metric ``bleu`` (corpus BLEU-4 over the tokens).

    Options:
        path: the file of pairs.
        tokens: ``word`` (words and punctuation marks) or ``char``.
        lowercase: lowercase both sides before tokenising.
        reverse: translate from the second column to the first.
        max_length: most tokens a source or target may have.
        drop_long: drop longer pairs (the length filter) instead of stopping with an error.
        val_fraction: share of pairs for validation.
        test_fraction: share of pairs for testing.
    """

    description: ClassVar[str] = "Translation pairs from a local TSV/CSV/JSONL file (Tatoeba)"
    metric = "bleu"

    def __init__(
        self,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        path: str | None = None,
        tokens: str = "word",
        lowercase: bool = True,
        reverse: bool = False,
        max_length: int = 20,
        drop_long: bool = False,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        if path is None:
            raise DataError(
                "task 'translate' needs a file of pairs: --task-opt "
                "path=../shared/data/eng-fra-tatoeba-5k.tsv (source<TAB>target per line)."
            )
        self.path = path
        self.tokens = check_choice(self.name, "tokens", tokens, ("word", "char"))  # type: ignore[assignment]
        self.lowercase = check_bool(self.name, "lowercase", lowercase)
        self.reverse = check_bool(self.name, "reverse", reverse)
        self.max_length = check_int(self.name, "max_length", max_length, minimum=1, example=20)
        self.drop_long = check_bool(self.name, "drop_long", drop_long)
        self.val_fraction = check_fraction(self.name, "val_fraction", val_fraction)
        self.test_fraction = check_fraction(self.name, "test_fraction", test_fraction)

    def read_pairs(self) -> list[Pair]:
        text = read_utf8(self.name, self.path)
        path = Path(self.path)
        pairs = []
        for lineno, source, target in read_rows(path, text):
            if self.reverse:
                source, target = target, source
            src = tokenize(source, self.tokens, self.lowercase)
            tgt = tokenize(target, self.tokens, self.lowercase)
            for side, toks in (("source", src), ("target", tgt)):
                if not toks:
                    raise DataError(
                        f"task 'translate': {path}, line {lineno}: the {side} is empty. "
                        f"Give every pair a non-empty source and target."
                    )
                if len(toks) > self.max_length and not self.drop_long:
                    raise DataError(
                        f"task 'translate': {path}, line {lineno}: the {side} has "
                        f"{len(toks)} tokens, more than max_length={self.max_length}. Raise "
                        f"max_length, or set drop_long=true to leave such pairs out."
                    )
            if len(src) <= self.max_length and len(tgt) <= self.max_length:
                pairs.append((src, tgt))
        return pairs

    def make_pairs(self) -> tuple[list[Pair], list[Pair], list[Pair]]:
        pairs = self.read_pairs()
        n = len(pairs)
        n_val, n_test = round(self.val_fraction * n), round(self.test_fraction * n)
        if n - n_val - n_test < 1 or n_val < 1 or n_test < 1:
            raise DataError(
                f"task 'translate': {n} pairs (after the length filter) cannot fill train, "
                f"val ({self.val_fraction}) and test ({self.test_fraction}); give more pairs "
                f"or change the fractions."
            )
        order = np.random.default_rng(self.seed).permutation(n)
        shuffled = [pairs[i] for i in order]
        return shuffled[n_val + n_test :], shuffled[:n_val], shuffled[n_val : n_val + n_test]
