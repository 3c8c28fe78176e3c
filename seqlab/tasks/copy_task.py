"""The copy (memory) task of Arjovsky et al. 2016; registered as ``copy``."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch

from seqlab.tasks._data import ArrayTask, SequenceDataset, Splits, split_rngs
from seqlab.tasks._options import check_int
from seqlab.tasks.base import Baseline, OutputKind, TaskInfo
from seqlab.tasks.registry import register_task

BLANK = 0
DELIMITER = 9
N_SYMBOLS = 8  # symbols are ids 1..8
N_COPY = 10  # symbols to remember
VOCAB_SIZE = 10  # blank, 8 symbols, delimiter
N_TARGET_CLASSES = 9  # targets are blank or a symbol, never the delimiter


def copy_data(n: int, delay: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` copy-task sequences of length ``delay + 20``: inputs and targets (n, T) int64.

    Input: 10 symbols (ids 1..8), ``delay - 1`` blanks (0), the delimiter (9), 10 blanks.
    Target: ``delay + 10`` blanks, then the 10 symbols.
    """
    length = delay + 2 * N_COPY
    symbols = rng.integers(1, N_SYMBOLS + 1, size=(n, N_COPY), dtype=np.int64)
    x = np.zeros((n, length), dtype=np.int64)
    x[:, :N_COPY] = symbols
    x[:, N_COPY + delay - 1] = DELIMITER
    y = np.zeros((n, length), dtype=np.int64)
    y[:, -N_COPY:] = symbols
    return x, y


def blank_then_uniform_ce(y: torch.Tensor, delay: int) -> float:
    """Cross-entropy (nats per step) of predicting blank for the first ``delay + 10``
    steps and a uniform guess over the 8 symbols for the last 10, on targets ``y``."""
    log_probs = torch.full((y.shape[1], N_TARGET_CLASSES), -math.inf, dtype=torch.float64)
    log_probs[: delay + N_COPY, BLANK] = 0.0
    log_probs[delay + N_COPY :, 1:] = -math.log(N_SYMBOLS)
    picked = log_probs.expand(len(y), -1, -1).gather(2, y.unsqueeze(-1)).squeeze(-1)
    return float(-picked.mean())


@register_task("copy")
class CopyTask(ArrayTask):
    """The copy task: reproduce 10 symbols after a long delay.

    Arjovsky et al. (2016): the input is 10 symbols drawn from an alphabet of 8, then
    ``delay - 1`` blanks, a delimiter, and 10 more blanks (length T = delay + 20). The
    output must be blank until the last 10 steps, which reproduce the 10 symbols in order.
    Every step is scored.

    Shapes: ``x`` (B, T) int64 token ids (vocabulary 10: 0 blank, 1–8 symbols,
    9 delimiter; ``input_kind="tokens"``); ``lengths`` (B,) = T; ``y`` (B, T) int64
    in 0..8 (9 classes). Output kind ``tagging``, metric ``ce`` (nats per step).

    Baseline: blanks everywhere, then a uniform guess over the 8 symbols in the last 10
    steps: 10·ln 8 / (delay + 20) nats per step (0.693 at the default delay 10). It is
    computed on the val and test targets, which checks the generator too.

    Options:
        delay: the paper's T, steps between the end of the symbols and the delimiter's
            step plus one (≥ 1; the paper uses 100 to 2000).
        n_train: training sequences, generated once in setup.
        n_val: validation sequences.
        n_test: test sequences.

    Reference: Arjovsky, Shah & Bengio, "Unitary Evolution Recurrent Neural Networks",
    ICML 2016 (after Hochreiter & Schmidhuber 1997).
    """

    description: ClassVar[str] = (
        "Copy/memory task: recall 10 symbols after a delay (Arjovsky et al. 2016)"
    )
    output_kind: ClassVar[OutputKind] = "tagging"

    def __init__(
        self,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        delay: int = 10,
        n_train: int = 10_000,
        n_val: int = 1_000,
        n_test: int = 1_000,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        self.delay = check_int(self.name, "delay", delay, minimum=1, example=100)
        self.n_train = check_int(self.name, "n_train", n_train, minimum=1, example=10_000)
        self.n_val = check_int(self.name, "n_val", n_val, minimum=1, example=1_000)
        self.n_test = check_int(self.name, "n_test", n_test, minimum=1, example=1_000)

    @property
    def seq_len(self) -> int:
        return self.delay + 2 * N_COPY

    def build(self) -> tuple[TaskInfo, Splits]:
        datasets = []
        for n, rng in zip(
            (self.n_train, self.n_val, self.n_test), split_rngs(self.seed), strict=True
        ):
            x, y = copy_data(n, self.delay, rng)
            lengths = torch.full((n,), self.seq_len, dtype=torch.int64)
            datasets.append(
                SequenceDataset(
                    torch.from_numpy(x), lengths, torch.from_numpy(y), per_step_targets=True
                )
            )
        splits = Splits(*datasets)
        baselines = tuple(
            Baseline(
                "ce",
                blank_then_uniform_ce(ds.y, self.delay),
                "blanks, then uniform over the 8 symbols in the last 10 steps",
                split,
            )
            for split, ds in (("val", splits.val), ("test", splits.test))
        )
        itos = ("<blank>", *(str(i) for i in range(1, N_SYMBOLS + 1)), "<delim>")
        info = TaskInfo(
            output_kind="tagging",
            input_kind="tokens",
            input_size=VOCAB_SIZE,
            num_outputs=N_TARGET_CLASSES,
            vocab_size=VOCAB_SIZE,
            metric="ce",
            metric_mode="min",
            baselines=baselines,
            itos=itos,
            extra={
                "seq_len": self.seq_len,
                "delay": self.delay,
                "sizes": splits.sizes(),
                "expected_baseline_ce": N_COPY * math.log(N_SYMBOLS) / self.seq_len,
            },
        )
        return info, splits
