"""scikit-learn's bundled 8×8 handwritten digits, read as a sequence."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch

from seqlab.tasks._data import (
    ArrayTask,
    SequenceDataset,
    Splits,
    majority_baselines,
    require,
    split_rngs,
    stratified_split,
)
from seqlab.tasks._options import (
    check_bool,
    check_choice,
    check_fraction,
    check_fractions_sum,
    check_int,
)
from seqlab.tasks.base import OutputKind, TaskInfo
from seqlab.tasks.registry import register_task


@register_task("digits")
class Digits(ArrayTask):
    """Sequential digits: classify an 8×8 digit image read row by row or pixel by pixel.

    Source: ``sklearn.datasets.load_digits`` (1,797 images of 8×8 pixels with values
    0–16, ten classes, bundled with scikit-learn: nothing is downloaded). Pixels are
    scaled to [0, 1] by dividing by 16. The images are split into train/val/test,
    stratified by class and seeded by ``seed``.

    Shapes: ``layout="rows"``: ``x`` (B, 8, 8) (one image row per step);
    ``layout="pixels"``: ``x`` (B, 64, 1) (one pixel per step, like sequential MNIST).
    ``lengths`` (B,) = 8 or 64; ``y`` (B,) int64 in 0..9. Output kind
    ``classification``, metric ``acc``.

    With ``permute=True`` the 64 pixels are shuffled by one fixed permutation (drawn from
    ``permute_seed``, not from ``seed``, so runs with different seeds see the same
    permutation), as in permuted MNIST: neighbouring pixels are no longer neighbouring
    steps.

    Baseline: accuracy of always predicting the most frequent training class.

    Options:
        layout: "rows" (8 steps × 8 features) or "pixels" (64 steps × 1 feature).
        permute: apply the fixed pixel permutation.
        permute_seed: seed of that permutation.
        val_fraction: fraction of the images held out for validation.
        test_fraction: fraction of the images held out for testing.
    """

    description: ClassVar[str] = (
        "sklearn 8×8 digits as a sequence (rows or pixels, optionally permuted)"
    )
    output_kind: ClassVar[OutputKind] = "classification"

    def __init__(
        self,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        layout: Literal["rows", "pixels"] = "rows",
        permute: bool = False,
        permute_seed: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        self.layout = check_choice(self.name, "layout", layout, ("rows", "pixels"))
        self.permute = check_bool(self.name, "permute", permute)
        self.permute_seed = check_int(self.name, "permute_seed", permute_seed, minimum=0)
        self.val_fraction = check_fraction(self.name, "val_fraction", val_fraction)
        self.test_fraction = check_fraction(self.name, "test_fraction", test_fraction, example=0.2)
        check_fractions_sum(
            self.name, val_fraction=self.val_fraction, test_fraction=self.test_fraction
        )

    def build(self) -> tuple[TaskInfo, Splits]:
        datasets = require("sklearn.datasets", self.name, "its bundled digits data")
        bunch = datasets.load_digits()
        pixels = bunch.data.astype(np.float32) / 16.0  # (1797, 64)
        labels = bunch.target.astype(np.int64)
        if self.permute:
            order = np.random.default_rng(self.permute_seed).permutation(pixels.shape[1])
            pixels = pixels[:, order]
        steps, features = (8, 8) if self.layout == "rows" else (64, 1)
        x = torch.from_numpy(np.ascontiguousarray(pixels.reshape(len(pixels), steps, features)))
        y = torch.from_numpy(labels)
        val_idx, test_idx, train_idx = stratified_split(
            labels, (self.val_fraction, self.test_fraction), split_rngs(self.seed, 1)[0]
        )

        def subset(idx: np.ndarray) -> SequenceDataset:
            t = torch.from_numpy(idx)
            return SequenceDataset(x[t], torch.full((len(idx),), steps, dtype=torch.int64), y[t])

        splits = Splits(subset(train_idx), subset(val_idx), subset(test_idx))
        class_names = [str(c) for c in range(10)]
        info = TaskInfo(
            output_kind="classification",
            input_kind="real",
            input_size=features,
            num_outputs=10,
            metric="acc",
            metric_mode="max",
            baselines=majority_baselines(
                splits.train.y, {"val": splits.val.y, "test": splits.test.y}, class_names
            ),
            extra={
                "classes": class_names,
                "layout": self.layout,
                "seq_len": steps,
                "permuted": self.permute,
                "sizes": splits.sizes(),
            },
        )
        return info, splits
