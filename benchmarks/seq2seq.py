"""Sequence to sequence: time to exact match on addition and dates, attention against
none on reverse/sort by length and on Tatoeba translation.

Each experiment trains with ``seqlab.training.fit`` from a preset in ``configs/`` (plus
overrides), in this process, on the CPU, with one torch thread (on a shared 2-core
machine two threads per process wait on each other: a GRU step took 10x longer). A
callback records, at every validation, the seconds since training started (with and
without the validations) and the validation metrics; ``--stop-at`` ends training the
first time the headline metric reaches a value.

    python benchmarks/seq2seq.py addition              # goal: ≥ 0.99 exact in ≤ 150 s
    python benchmarks/seq2seq.py dates                 # goal: ≥ 0.99 exact in ≤ 180 s
    python benchmarks/seq2seq.py lengths --plot docs/img/seq2seq-reverse-lengths.png
    python benchmarks/seq2seq.py lengths --tasks sort --plot docs/img/seq2seq-sort-lengths.png
    python benchmarks/seq2seq.py translate --seeds 0 1  # BLEU, attention vs none
    python benchmarks/seq2seq.py translate --attentions none --set trainer.max_epochs=26

Every row also gives ``train_cpu_s``, the CPU seconds spent training (validations left
out): compare attention and none at equal CPU time with it (or stop both at a budget
with ``--budget-cpu SECONDS``); wall time on a shared machine measures the neighbours.

Report the machine's load (``uptime``) next to the times: the CPU is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

from seqlab.config import resolve_config
from seqlab.tasks.seq2seq_data import scores
from seqlab.training import fit
from seqlab.training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]


class Watch(L.Callback):
    """Validation metrics against training time; stops at ``stop_at`` of ``monitor``."""

    def __init__(
        self, monitor: str, stop_at: float | None, budget_cpu: float | None = None
    ) -> None:
        self.monitor, self.stop_at, self.budget_cpu = monitor, stop_at, budget_cpu
        self.start = 0.0
        self.cpu_start = 0.0
        self.in_validation = 0.0
        self.cpu_in_validation = 0.0
        self.val_start = 0.0
        self.val_cpu_start = 0.0
        self.rows: list[dict[str, Any]] = []

    def on_train_start(self, trainer, pl_module):
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()

    def training_cpu_s(self) -> float:
        """This process's CPU seconds spent training (validations left out)."""
        return time.process_time() - self.cpu_start - self.cpu_in_validation

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        # A CPU-time budget, not wall time: on a shared machine the wall clock measures
        # the neighbours; CPU seconds are what the run itself cost (one torch thread).
        if self.budget_cpu is not None and self.training_cpu_s() >= self.budget_cpu:
            trainer.should_stop = True  # Lightning still validates (and checkpoints)

    def on_validation_start(self, trainer, pl_module):
        self.val_start = time.perf_counter()
        self.val_cpu_start = time.process_time()

    def on_validation_end(self, trainer, pl_module):
        now = time.perf_counter()
        if trainer.sanity_checking:
            return
        self.in_validation += now - self.val_start
        self.cpu_in_validation += time.process_time() - self.val_cpu_start
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val_")}
        row = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "wall_s": round(now - self.start, 1),
            "train_s": round(now - self.start - self.in_validation, 1),
            # this process's CPU seconds: what the run would take alone on one core
            "cpu_s": round(time.process_time() - self.cpu_start, 1),
            "train_cpu_s": round(self.training_cpu_s(), 1),
            **{k: round(v, 4) for k, v in metrics.items()},
        }
        self.rows.append(row)
        print(json.dumps(row), flush=True)
        if self.stop_at is not None and metrics.get(self.monitor, -1.0) >= self.stop_at:
            trainer.should_stop = True


def run(
    preset: str,
    overrides: list[str],
    stop_at: float | None,
    run_dir: str,
    budget_cpu: float | None = None,
):
    cfg = resolve_config(
        REPO / "configs" / preset,
        overrides=[
            *overrides,
            "trainer.accelerator=cpu",
            "trainer.devices=1",
            f"run.dir={run_dir}",
            "run.quiet=true",
        ],
    )
    watch = Watch("val_exact" if cfg.task.name != "translate" else "val_bleu", stop_at, budget_cpu)
    began = time.perf_counter()
    result = fit(cfg, callbacks=[watch])
    total = time.perf_counter() - began
    return result, watch.rows, total


def first_reaching(rows: list[dict[str, Any]], key: str, level: float) -> dict[str, Any] | None:
    return next((r for r in rows if r.get(key, -1) >= level), None)


def timed_goal(preset: str, level: float, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result, rows, total = run(preset, args.set, args.stop_at, tmp)
    hit = first_reaching(rows, "val_exact", level)
    print(
        f"\n{preset}: {result.metric} test {result.metrics.get('test_exact')}, whole fit {total:.0f} s"
    )
    if hit:
        print(
            f"first val_exact ≥ {level}: epoch {hit['epoch']}, {hit['train_s']} s of training "
            f"({hit['wall_s']} s with validations, {hit['cpu_s']} CPU s)"
        )
    else:
        print(f"val_exact never reached {level}")
    print(f"load: {os.getloadavg()}")


def by_length(ckpt: Path) -> dict[int, float]:
    """Exact match on the test split of a reverse/sort checkpoint, per source length."""
    loaded = load_checkpoint(ckpt)
    from seqlab.tasks import create_task

    cfg = loaded.config
    task = create_task(cfg.task.name, seed=cfg.trainer.seed, batch_size=256, **cfg.task.options)
    itos = loaded.info.extra["target_itos"]
    groups: dict[int, tuple[list, list]] = {}
    for batch in task.test_dataloader():
        out = loaded.model.translate(
            [row[: int(n)].tolist() for row, n in zip(batch["x"], batch["lengths"], strict=True)]
        ).tokens
        for hyp, y, n in zip(out, batch["y"].tolist(), batch["lengths"].tolist(), strict=True):
            ref = [t for t in y if t > 2]
            preds, refs = groups.setdefault(n, ([], []))
            preds.append([itos[t] for t in hyp])
            refs.append([itos[t] for t in ref])
    return {n: scores(p, r, bleu=False)["exact"] for n, (p, r) in sorted(groups.items())}


def lengths_experiment(args: argparse.Namespace) -> None:
    curves: dict[str, dict[int, float]] = {}
    preset_options = yaml.safe_load((REPO / "configs" / "reverse-sort.yaml").read_text())["task"][
        "options"
    ]
    for task in args.tasks:
        for attention in ("none", "additive"):
            with tempfile.TemporaryDirectory() as tmp:
                overrides = [
                    f"task.name={task}",
                    # a new task name drops the preset's options: give them again
                    *(f"task.options.{k}={v}" for k, v in preset_options.items()),
                    f"model.attention={attention}",
                    *args.set,
                ]
                result, _, total = run("reverse-sort.yaml", overrides, None, tmp)
                assert result.best_checkpoint is not None
                curve = by_length(result.best_checkpoint)
            label = f"{task}, attention {attention}"
            curves[label] = curve
            print(
                f"{label} ({total:.0f} s): "
                + json.dumps({k: round(v, 3) for k, v in curve.items()})
            )
    print(f"load: {os.getloadavg()}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for label, curve in curves.items():
            ax.plot(list(curve), list(curve.values()), marker="o", label=label)
        ax.set_xlabel("source length")
        ax.set_ylabel("exact match (test)")
        ax.set_ylim(0, 1.02)
        ax.legend()
        ax.set_title("GRU encoder–decoder, with and without attention")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"plot: {args.plot}")


def translate_experiment(args: argparse.Namespace) -> None:
    """Attention against none on Tatoeba: equal epochs, or an equal CPU-time budget."""
    for seed in args.seeds:
        for attention in args.attentions:
            with tempfile.TemporaryDirectory() as tmp:
                overrides = [f"model.attention={attention}", f"trainer.seed={seed}", *args.set]
                result, rows, total = run(
                    "translate-tatoeba.yaml", overrides, None, tmp, args.budget_cpu
                )
            base = result.baseline
            best = max(rows, key=lambda r: r.get("val_bleu", -1.0)) if rows else {}
            epochs = len({r["step"] for r in rows})  # the final re-validation repeats a step
            print(
                f"attention {attention}, seed {seed}: test BLEU "
                f"{result.metrics.get('test_bleu', float('nan')):.4f}, best val BLEU "
                f"{best.get('val_bleu', float('nan')):.4f} (epoch {best.get('epoch')}), "
                f"{epochs} epochs, {rows[-1]['train_cpu_s'] if rows else '-'} training "
                f"CPU s, {total:.0f} s wall (baseline: "
                f"{base.description + ' ' + format(base.value, '.4f') if base else '-'})",
                flush=True,
            )
    print(f"load: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("experiment", choices=["addition", "dates", "lengths", "translate"])
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    parser.add_argument("--stop-at", type=float, default=None, help="stop at this val metric")
    parser.add_argument("--tasks", nargs="+", default=["reverse"], help="lengths: tasks")
    parser.add_argument("--plot", default=None, help="lengths: write the plot here")
    parser.add_argument(
        "--attentions", nargs="+", default=["none", "additive"], help="translate: attentions"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="translate: seeds")
    parser.add_argument(
        "--budget-cpu",
        type=float,
        default=None,
        help="stop training after this many CPU seconds of training (validations excluded)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load before: {os.getloadavg()}, torch threads {torch.get_num_threads()}")
    if args.experiment == "addition":
        timed_goal("addition.yaml", 0.99, args)
    elif args.experiment == "dates":
        timed_goal("dates.yaml", 0.99, args)
    elif args.experiment == "lengths":
        lengths_experiment(args)
    else:
        translate_experiment(args)


if __name__ == "__main__":
    main()
