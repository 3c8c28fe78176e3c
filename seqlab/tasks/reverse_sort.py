"""Reverse or sort a string of symbols; registered as ``reverse`` and ``sort``.

Both outputs depend on every input symbol, so without attention the whole source must
pass through the decoder's initial state: exact match falls with the length, which is
what these tasks show (Bahdanau et al. 2015, figure 2, for cells).
"""

from __future__ import annotations

import string
from typing import ClassVar

import numpy as np

from seqlab.errors import ConfigError
from seqlab.tasks._options import check_int
from seqlab.tasks.registry import register_task
from seqlab.tasks.seq2seq_data import Pair, PairTask


def symbol_pairs(
    n: int, min_length: int, max_length: int, symbols: int, op: str, rng: np.random.Generator
) -> list[Pair]:
    """``n`` random strings (lengths uniform in [min, max]) and their reversal or sort."""
    alphabet = np.array(list(string.ascii_lowercase[:symbols]))
    pairs: list[Pair] = []
    for length in rng.integers(min_length, max_length + 1, size=n):
        source = [str(c) for c in alphabet[rng.integers(0, symbols, size=int(length))]]
        pairs.append((source, source[::-1] if op == "reverse" else sorted(source)))
    return pairs


class SymbolTask(PairTask):
    """Strings of ``symbols`` letters (a, b, c...) of ``min_length``–``max_length`` steps.

    Shapes: ``x`` (B, S ≤ max_length) letter ids, ``y`` (B, ≤ max_length + 1). Output
    kind ``seq2seq``, metric ``exact``.

    Options:
        min_length: shortest string.
        max_length: longest string.
        symbols: letters in the alphabet (2–26).
        n_train: training strings.
        n_val: validation strings.
        n_test: test strings.
    """

    operation: ClassVar[str] = ""

    def __init__(
        self,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        min_length: int = 1,
        max_length: int = 20,
        symbols: int = 10,
        n_train: int = 20_000,
        n_val: int = 1_000,
        n_test: int = 1_000,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        self.min_length = check_int(self.name, "min_length", min_length, minimum=1)
        self.max_length = check_int(self.name, "max_length", max_length, minimum=1, example=20)
        if self.max_length < self.min_length:
            raise ConfigError(
                f"task '{self.name}': max_length={max_length} is below "
                f"min_length={min_length}; make max_length ≥ min_length."
            )
        self.symbols = check_int(self.name, "symbols", symbols, minimum=2, maximum=26, example=10)
        self.n_train = check_int(self.name, "n_train", n_train, minimum=1, example=20_000)
        self.n_val = check_int(self.name, "n_val", n_val, minimum=1, example=1_000)
        self.n_test = check_int(self.name, "n_test", n_test, minimum=1, example=1_000)

    def make_pairs(self) -> tuple[list[Pair], list[Pair], list[Pair]]:
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(3)]
        sizes = (self.n_train, self.n_val, self.n_test)
        train, val, test = (
            symbol_pairs(n, self.min_length, self.max_length, self.symbols, self.operation, rng)
            for n, rng in zip(sizes, rngs, strict=True)
        )
        return train, val, test


@register_task("reverse")
class ReverseTask(SymbolTask):
    __doc__ = "Reverse a string of letters: ``abcd`` → ``dcba``.\n\n" + (SymbolTask.__doc__ or "")
    description: ClassVar[str] = "Reverse a string of letters (where attention matters)"
    operation: ClassVar[str] = "reverse"


@register_task("sort")
class SortTask(SymbolTask):
    __doc__ = "Sort a string of letters: ``dbca`` → ``abcd``.\n\n" + (SymbolTask.__doc__ or "")
    description: ClassVar[str] = "Sort a string of letters (where attention matters)"
    operation: ClassVar[str] = "sort"
