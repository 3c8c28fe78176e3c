"""The untuned UCR default against 1-NN DTW, on every classification set aeon bundles.

For each data set: aeon's 1-NN DTW (``KNeighborsTimeSeriesClassifier(distance="dtw",
n_neighbors=1)``, full window) fitted on the archive's train split and scored on its test
split, measured here on the data as aeon ships it; then the untuned default run, exactly
``seqlab fit --task ucr --task-opt dataset=NAME --cell gru`` (the task's recipe, no config
file), in this process through ``seqlab.config.resolve_config`` and
``seqlab.training.fit``, scored on the same test split (best validation checkpoint).
Printed as a Markdown table: data set, training series, length, channels, DTW test
accuracy, seqlab's, the gap (seqlab − DTW) and the run's wall seconds. Goal: gap ≥ −0.05.

    python benchmarks/ucr.py                                    # every bundled set
    python benchmarks/ucr.py --datasets GunPoint,BasicMotions --cell lstm
    python benchmarks/ucr.py --datasets ItalyPowerDemand --max-steps 3 --skip-dtw --limit-test-batches 2

``--skip-dtw`` shows the published 1-NN DTW accuracy where the task knows it (aeon's import
and numba compilation alone take ~25 s); ``--max-steps`` replaces the recipe's budget.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import torch

from seqlab.config import resolve_config
from seqlab.tasks.ucr import (
    REFERENCE_1NN_DTW,
    ArchiveShape,
    aeon_data_dir,
    bundled_classification_datasets,
)
from seqlab.training import fit

# UnitTest is aeon's fixture (a 20-series slice of Chinatown), not an archive data set.
NOT_ARCHIVE_SETS = ("UnitTest",)


def dtw_accuracy(dataset: str) -> float:
    """aeon's 1-NN DTW test accuracy on ``dataset`` (archive train/test split)."""
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier
    from aeon.datasets import load_classification

    where = str(aeon_data_dir())
    x_train, y_train = load_classification(dataset, split="train", extract_path=where)
    x_test, y_test = load_classification(dataset, split="test", extract_path=where)
    clf = KNeighborsTimeSeriesClassifier(distance="dtw", n_neighbors=1)
    clf.fit(x_train, y_train)
    return float((clf.predict(x_test) == y_test).mean())


def seqlab_accuracy(
    dataset: str, cell: str, max_steps: int | None, run_dir: str, limit_test: int | None = None
) -> tuple[float, float]:
    """(test accuracy, wall seconds) of the untuned default run on ``dataset``."""
    flags: dict[str, Any] = {
        "task.name": "ucr",
        "task.options.dataset": dataset,
        "model.cell": cell,
        "trainer.max_steps": max_steps,
        "trainer.limit_test_batches": limit_test,
        "run.dir": run_dir,
        "run.quiet": True,
        "log.logger": "csv",
    }
    cfg = resolve_config(flags=flags)
    start = time.perf_counter()
    result = fit(cfg)
    return float(result.metrics["test_acc"]), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=None, help="comma-separated (default: all bundled)")
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--max-steps", type=int, default=None, help="replace the recipe's budget")
    parser.add_argument("--skip-dtw", action="store_true", help="published DTW values only")
    parser.add_argument(
        "--limit-test-batches", type=int, default=None, help="smoke runs: test on N batches"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = (
        args.datasets.split(",")
        if args.datasets
        else [n for n in bundled_classification_datasets() if n not in NOT_ARCHIVE_SETS]
    )
    print(
        f"| data set | n_train | length | channels | 1-NN DTW | seqlab {args.cell} | gap | wall s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    gaps = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            shape = ArchiveShape.read(name)
            dtw = REFERENCE_1NN_DTW.get(name) if args.skip_dtw else dtw_accuracy(name)
            acc, wall = seqlab_accuracy(
                name, args.cell, args.max_steps, tmp, args.limit_test_batches
            )
            gap = "" if dtw is None else f"{acc - dtw:+.3f}"
            if dtw is not None:
                gaps.append(acc - dtw)
            dtw_text = "" if dtw is None else f"{dtw:.3f}"
            print(
                f"| {name} | {shape.n_train} | {shape.max_len} | {shape.channels} | "
                f"{dtw_text} | {acc:.3f} | {gap} | {wall:.0f} |",
                flush=True,
            )
    if gaps:
        print(f"\nwithin 0.05 of DTW (or better): {sum(g >= -0.05 for g in gaps)}/{len(gaps)}")


if __name__ == "__main__":
    main()
