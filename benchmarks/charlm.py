"""seqlab's char-LM preset against a plain-PyTorch loop of the same model, at equal wall clock.

In one process, one after the other, with the same torch threads:

1. **seqlab**: ``configs/charlm-shakespeare.yaml`` through :func:`seqlab.training.fit`
   with ``trainer.max_time = --seconds`` as its only budget (validation, checkpoints and
   the metric log included in the seconds, as in any run of the preset);
2. **plain**: a hand-written loop of the same network (``nn.Embedding`` → ``nn.LSTM`` →
   ``nn.Linear`` with the preset's sizes, batch and TBPTT length; Adam 2e-3, clipping 1.0,
   state carried and detached between chunks — ``benchmarks/_lm.py``) for the same seconds.

Both final models (seqlab's ``last.ckpt``) are then scored by **nanoGPT's estimator**: the
mean cross-entropy over 20 batches of 12 random 64-character validation windows, each
from a fresh state, the same seeded windows for both. Goals (issue 12): seqlab makes at
least 1.0× the plain loop's optimiser steps, ends at most 1.62 nats/char, and no worse
than the plain loop. With ``--repeats N`` the pair runs N times, alternating which goes
first (the machine's slow spells otherwise land on one side), and the goals are read on
the totals (steps), the worst seqlab run (nats) and the means.

    python benchmarks/charlm.py                 # 105 s each (about 4 minutes in all)
    python benchmarks/charlm.py --seconds 3     # a smoke run
    python benchmarks/charlm.py --repeats 2     # seqlab, plain, plain, seqlab: totals
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from _lm import DATA, load_split, nanogpt_estimate, train_lstm

from seqlab.config import Config, resolve_config
from seqlab.training import fit, load_checkpoint

PRESET = Path(__file__).resolve().parents[1] / "seqlab" / "configs" / "charlm-shakespeare.yaml"
NATS_GOAL = 1.62  # nats/char, nanoGPT's estimator
STEPS_GOAL = 1.0  # seqlab's optimiser steps / the plain loop's


class TrainClock(L.Callback):
    """Wall seconds from the start of training to the end of its last step (the time
    ``max_time`` bounds; the validation Lightning runs when a limit stops training comes
    after it)."""

    def __init__(self) -> None:
        self.start = self.end = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        self.end = time.perf_counter()


def preset_config(seconds: float, run_dir: str, data: Path, overrides: list[str]) -> Config:
    """The preset with ``max_time`` as its only budget, quiet, without the final test."""
    return resolve_config(
        PRESET,
        overrides=[
            f"trainer.max_time={seconds}",
            "trainer.max_steps=-1",
            "trainer.max_epochs=null",
            "trainer.test=false",
            "trainer.accelerator=cpu",
            "trainer.devices=1",
            "run.quiet=true",
            f"run.dir={run_dir}",
            f"task.options.path={data}",
            *overrides,
        ],
    )


def run_seqlab(config: Config, val: torch.Tensor) -> dict[str, float]:
    clock = TrainClock()
    result = fit(config, callbacks=[clock])
    assert result.last_checkpoint is not None, "fit saves last.ckpt"
    model = load_checkpoint(result.last_checkpoint).model.eval()
    loss = nanogpt_estimate(lambda x: model(x)[0], val)
    return {"steps": result.global_step, "seconds": clock.end - clock.start, "nats": loss}


def run_plain(config: Config, train: torch.Tensor, val: torch.Tensor, vocab: int, seconds: float):
    m = config.model
    if m.cell != "lstm" or m.tie_weights:
        raise SystemExit(f"the plain loop is an untied nn.LSTM; the preset has {m.cell!r}")
    model, steps, spent = train_lstm(
        train,
        vocab,
        seconds,
        embed=m.embedding_size or m.hidden_size,
        hidden=m.hidden_size,
        layers=m.num_layers,
        batch=config.task.batch_size,
        context=int(config.task.options.get("seq_len", 64)),
    )
    loss = nanogpt_estimate(lambda x: model(x)[0], val)
    return {"steps": steps, "seconds": spent, "nats": loss}


def report(seqlab: list[dict[str, float]], plain: list[dict[str, float]]) -> None:
    """One row per run and, over several, the totals the goals are read on."""
    steps = sum(r["steps"] for r in plain)
    print("| run | optimiser steps | steps ratio | train s | nats/char | bits/char |")
    print("|---|---|---|---|---|---|")
    for i, (ours, theirs) in enumerate(zip(seqlab, plain, strict=True)):
        tag = f" ({i + 1})" if len(seqlab) > 1 else ""
        for name, r in ((f"seqlab preset{tag}", ours), (f"plain nn.LSTM loop{tag}", theirs)):
            print(
                f"| {name} | {r['steps']:,.0f} | {r['steps'] / theirs['steps']:.3f}× | "
                f"{r['seconds']:.1f} | {r['nats']:.3f} | {r['nats'] / math.log(2):.3f} |"
            )
    ours_steps = sum(r["steps"] for r in seqlab)
    worst = max(r["nats"] for r in seqlab)
    mean = {k: sum(r["nats"] for r in v) / len(v) for k, v in (("s", seqlab), ("p", plain))}
    if len(seqlab) > 1:
        print(f"all runs: seqlab {ours_steps:,.0f} steps, plain {steps:,.0f} "
              f"({ours_steps / steps:.3f}×)")  # fmt: skip
    checks = [
        (f"seqlab steps ≥ {STEPS_GOAL}× plain", ours_steps >= STEPS_GOAL * steps),
        (f"seqlab ≤ {NATS_GOAL} nats/char", worst <= NATS_GOAL),
        ("seqlab ≤ plain nats/char", mean["s"] <= mean["p"]),
    ]
    for text, ok in checks:
        print(f"goal: {text}: {'met' if ok else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=105.0, help="training seconds each")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--run-dir", help="keep seqlab's run here (default: a temporary dir)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--repeats", type=int, default=1, help="pairs of runs, alternating which goes first"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, val, vocab = load_split(args.data)
    print(
        f"tiny-shakespeare: {len(train):,} train / {len(val):,} val characters, vocab {vocab}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.seconds:g} s "
        f"each; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    seqlab, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        config = preset_config(args.seconds, args.run_dir or tmp, args.data, args.set)
        for i in range(args.repeats):
            # alternate who goes first, so a slow spell of the machine is shared
            first_plain = i % 2 == 1
            if first_plain:
                plain.append(run_plain(config, train, val, vocab, args.seconds))
            seqlab.append(run_seqlab(config, val))
            if not first_plain:
                plain.append(run_plain(config, train, val, vocab, args.seconds))
    report(seqlab, plain)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
