"""The adding problem (Hochreiter & Schmidhuber 1997; the variant of Arjovsky et al. 2016)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from seqlab.tasks._data import ArrayTask, SequenceDataset, Splits, split_rngs
from seqlab.tasks._options import check_int
from seqlab.tasks.base import Baseline, OutputKind, TaskInfo
from seqlab.tasks.registry import register_task


def adding_data(n: int, seq_len: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` adding-problem sequences: inputs (n, seq_len, 2) float32, targets (n, 1).

    Channel 0 holds values drawn from U[0, 1]; channel 1 marks exactly one step in the
    first half (``t < seq_len // 2``) and one in the second half; the target is the sum of
    the two marked values.
    """
    values = rng.random((n, seq_len), dtype=np.float32)
    half = seq_len // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, seq_len, size=n)
    rows = np.arange(n)
    markers = np.zeros((n, seq_len), dtype=np.float32)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1)
    y = (values[rows, first] + values[rows, second])[:, None]
    return x, y.astype(np.float32)


@register_task("adding")
class AddingProblem(ArrayTask):
    """The adding problem: add the two marked numbers of a long sequence.

    Each step carries a value from U[0, 1] and a marker bit; exactly one marker falls in
    the first half of the sequence and one in the second half (Arjovsky et al. 2016's
    variant of Hochreiter & Schmidhuber 1997). The target is the sum of the two marked
    values, read out after the last step. A model must remember the first marked value
    across at least ``seq_len / 2`` steps.

    Shapes: ``x`` (B, seq_len, 2) float32 (value, marker); ``lengths`` (B,) = seq_len;
    ``y`` (B, 1) float32. Output kind ``regression``, metric ``mse``.

    Baseline: always predicting 1 (the mean of the target) has MSE Var(a + b) = 2/12 ≈
    0.167; it is computed on the generated val and test sets.

    Options:
        seq_len: steps per sequence (≥ 2; the papers use 100 to 1000).
        n_train: training sequences, generated once in setup.
        n_val: validation sequences.
        n_test: test sequences.

    Data are generated from ``seed`` with one independent stream per split, so the val
    and test sets do not change when ``n_train`` does.

    Reference: Arjovsky, Shah & Bengio, "Unitary Evolution Recurrent Neural Networks",
    ICML 2016; Hochreiter & Schmidhuber, "Long Short-Term Memory", 1997.
    """

    description: ClassVar[str] = "Adding problem: sum the two marked values (Arjovsky et al. 2016)"
    output_kind: ClassVar[OutputKind] = "regression"

    def __init__(
        self,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        seq_len: int = 50,
        n_train: int = 10_000,
        n_val: int = 1_000,
        n_test: int = 1_000,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        self.seq_len = check_int(self.name, "seq_len", seq_len, minimum=2, example=100)
        self.n_train = check_int(self.name, "n_train", n_train, minimum=1, example=10_000)
        self.n_val = check_int(self.name, "n_val", n_val, minimum=1, example=1_000)
        self.n_test = check_int(self.name, "n_test", n_test, minimum=1, example=1_000)

    def build(self) -> tuple[TaskInfo, Splits]:
        datasets = []
        for n, rng in zip(
            (self.n_train, self.n_val, self.n_test), split_rngs(self.seed), strict=True
        ):
            x, y = adding_data(n, self.seq_len, rng)
            lengths = torch.full((n,), self.seq_len, dtype=torch.int64)
            datasets.append(SequenceDataset(torch.from_numpy(x), lengths, torch.from_numpy(y)))
        splits = Splits(*datasets)
        baselines = tuple(
            Baseline("mse", float(((ds.y - 1.0) ** 2).double().mean()), "always predict 1", split)
            for split, ds in (("val", splits.val), ("test", splits.test))
        )
        info = TaskInfo(
            output_kind="regression",
            input_kind="real",
            input_size=2,
            num_outputs=1,
            target_shape=(1,),
            metric="mse",
            metric_mode="min",
            baselines=baselines,
            extra={
                "seq_len": self.seq_len,
                "sizes": splits.sizes(),
                "expected_baseline_mse": 1.0 / 6.0,
            },
        )
        return info, splits
