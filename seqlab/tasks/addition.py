"""Learning to add: ``"535+61"`` → ``"596"``; registered as ``addition``."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from seqlab.errors import ConfigError
from seqlab.tasks._options import check_bool, check_int
from seqlab.tasks.registry import register_task
from seqlab.tasks.seq2seq_data import Pair, PairTask


def addition_pairs(n: int, digits: int, reverse: bool, rng: np.random.Generator) -> list[Pair]:
    """``n`` distinct questions ``"a+b"`` and their sums.

    Each number has 1 to ``digits`` digits, its length drawn uniformly first and then
    the digits (as in the Keras example; a leading 0 makes it shorter).
    """
    seen: set[tuple[int, int]] = set()
    pairs: list[Pair] = []
    while len(pairs) < n:
        # Short numbers repeat often: draw in bulk, keep the first of each question.
        lengths = rng.integers(1, digits + 1, size=(2, 4 * n))
        numbers = rng.integers(0, 10**lengths)
        for a, b in zip(numbers[0].tolist(), numbers[1].tolist(), strict=True):
            if (a, b) in seen:
                continue
            seen.add((a, b))
            question = f"{a}+{b}"
            pairs.append((list(question[::-1] if reverse else question), list(str(a + b))))
            if len(pairs) == n:
                break
    return pairs


@register_task("addition")
class AdditionTask(PairTask):
    """Addition of two integers as text, a sequence-to-sequence problem.

    Zaremba & Sutskever (2014) and the Keras ``addition_rnn`` example: the source is a
    question such as ``"535+61"`` (each number has 1 to ``digits`` digits, its length
    drawn uniformly first), the target its sum ``"596"``, both as characters. Questions
    are distinct and the three splits disjoint: val and test hold unseen sums.

    Shapes: ``x`` (B, S ≤ 2·digits + 1) character ids, ``y`` (B, ≤ digits + 2) sum
    characters then ``EOS`` (see :mod:`seqlab.tasks.seq2seq_data`). Output kind
    ``seq2seq``, metric ``exact`` (exact sequence match).

    Options:
        digits: most digits per number (1–9).
        reverse: read the question reversed (Sutskever et al. 2014's trick).
        n_train: training questions.
        n_val: validation questions.
        n_test: test questions.
    """

    description: ClassVar[str] = "Addition as text: '535+61' → '596' (Zaremba & Sutskever 2014)"

    def __init__(
        self,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        digits: int = 3,
        reverse: bool = False,
        n_train: int = 50_000,
        n_val: int = 2_000,
        n_test: int = 2_000,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        self.digits = check_int(self.name, "digits", digits, minimum=1, maximum=9, example=3)
        self.reverse = check_bool(self.name, "reverse", reverse)
        self.n_train = check_int(self.name, "n_train", n_train, minimum=1, example=50_000)
        self.n_val = check_int(self.name, "n_val", n_val, minimum=1, example=2_000)
        self.n_test = check_int(self.name, "n_test", n_test, minimum=1, example=2_000)
        total = self.n_train + self.n_val + self.n_test
        # Distinct (a, b) with lengths drawn first: about (10 + 90 + ...)² questions exist.
        available = (sum(9 * 10 ** (k - 1) for k in range(1, self.digits + 1)) + 1) ** 2
        if total > available // 2:
            raise ConfigError(
                f"task 'addition': {total} distinct questions of up to {self.digits} digits "
                f"asked, but only about {available} exist; lower n_train/n_val/n_test or "
                f"raise digits."
            )

    def make_pairs(self) -> tuple[list[Pair], list[Pair], list[Pair]]:
        rng = np.random.default_rng(self.seed)
        pairs = addition_pairs(
            self.n_train + self.n_val + self.n_test, self.digits, self.reverse, rng
        )
        a, b = self.n_train, self.n_train + self.n_val
        return pairs[:a], pairs[a:b], pairs[b:]
