"""Training throughput of ``seqlab fit`` against a hand-written PyTorch loop.

Both train the same model (the LightningModule's network, called as a plain nn.Module by
the hand-written loop) on the same batches (the task's training loader, in the same
seeded order), with the same optimiser, loss and gradient clipping, in one process:

- seqlab: ``seqlab.training.fit`` — Lightning, the CSV metric log on (every 50 steps),
  atomic fsynced checkpoints on (``last.ckpt`` at every epoch end, 40 batches), no
  progress bar, no validation (``limit_val_batches=0``);
- plain: ``for batch in loader: zero_grad, forward, loss, backward, clip, step``.

The headline is the **whole run**: samples per second from the start of the first step
after the warm-up to the end of the run — for seqlab until ``fit`` returns, so every
checkpoint write (fsynced), metrics.csv write and the run's final files are in it; for
the plain loop until its last step ends. Setup, data generation and the warm-up steps
are in neither. Runs alternate seqlab/plain; the ratio is of the medians over rounds.
Secondary, the median step time over all rounds: it leaves out the checkpoint writes
and is least disturbed by a busy machine, so it isolates Lightning's per-step overhead.
Goal: seqlab ≥ 0.9× plain on the whole run.

    python benchmarks/fit.py                      # GRU 128, adding T=50, batch 64
    python benchmarks/fit.py --cell lstm --repeats 5
    python benchmarks/fit.py --threads 1          # on a machine shared with other jobs
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time

import lightning as L
import torch
import torch.nn.functional as F

from seqlab.config import resolve_config
from seqlab.models import build_model
from seqlab.tasks import create_task
from seqlab.training import fit
from seqlab.training.data import resample


class _Clock(L.Callback):
    """The start time of every training step, and the end of the last one."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.times.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module):
        self.times.append(time.perf_counter())


def seqlab_run(args: argparse.Namespace, run_dir: str) -> tuple[list[float], float]:
    """One ``seqlab fit``: its step durations and its whole-run seconds (after the warm-up)."""
    cfg = resolve_config(
        flags={
            "model.cell": args.cell,
            "model.hidden_size": args.hidden_size,
            "task.options.seq_len": args.seq_len,
            "task.options.n_train": args.n_train,
            "task.options.n_val": 64,
            "task.options.n_test": 64,
            "task.batch_size": args.batch_size,
            "trainer.max_steps": args.steps,
            "trainer.max_epochs": None,
            "trainer.accelerator": "cpu",
            "trainer.devices": 1,
            "trainer.limit_val_batches": 0,
            "trainer.test": False,
            "trainer.num_sanity_val_steps": 0,
            "run.dir": run_dir,
            "run.quiet": True,
        }
    )
    clock = _Clock()
    fit(cfg, callbacks=[clock])
    done = time.perf_counter()  # checkpoints, metrics.csv and summary.json all written
    steps = [b - a for a, b in itertools.pairwise(clock.times)][args.warmup :]
    return steps, done - clock.times[args.warmup]


def plain_run(args: argparse.Namespace) -> tuple[list[float], float]:
    """The hand-written loop: its step durations and its whole-run seconds (after the warm-up)."""
    cfg = resolve_config(flags={"model.cell": args.cell, "model.hidden_size": args.hidden_size})
    L.seed_everything(0, verbose=False)
    task = create_task(
        "adding",
        batch_size=args.batch_size,
        seed=0,
        seq_len=args.seq_len,
        n_train=args.n_train,
        n_val=64,
        n_test=64,
    )
    model = build_model(cfg.model, cfg.optim, task.info).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr)
    loader, sampler = resample(task.train_dataloader(), seed=0, rank=0, world_size=1)
    clip = cfg.optim.gradient_clip
    times: list[float] = []
    epoch = 0
    while len(times) < args.steps:
        if sampler is not None:
            sampler.set_epoch(epoch)
        for batch in loader:
            times.append(time.perf_counter())
            if len(times) > args.steps:
                break
            pred = model(batch["x"], batch["lengths"])
            loss = F.mse_loss(pred, batch["y"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
        epoch += 1
    times.append(time.perf_counter())
    steps = [b - a for a, b in itertools.pairwise(times)][args.warmup : args.steps]
    return steps, times[-1] - times[args.warmup]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-train", type=int, default=2560, help="40 batches per epoch by default")
    parser.add_argument("--steps", type=int, default=160)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default, one per core)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"{args.cell} hidden {args.hidden_size}, adding T={args.seq_len}, batch "
        f"{args.batch_size}, {args.steps} steps ({args.warmup} warm-up), "
        f"torch threads {torch.get_num_threads()}"
    )
    seqlab_steps: list[float] = []
    plain_steps: list[float] = []
    seqlab_rates: list[float] = []
    plain_rates: list[float] = []
    samples = args.batch_size * (args.steps - args.warmup)
    with tempfile.TemporaryDirectory() as tmp:
        seqlab_run(args, tmp)  # warm-up round for both (allocator, kernels, imports)
        plain_run(args)
        for r in range(args.repeats):
            (s, s_whole), (p, p_whole) = seqlab_run(args, tmp), plain_run(args)
            seqlab_steps += s
            plain_steps += p
            seqlab_rates.append(samples / s_whole)
            plain_rates.append(samples / p_whole)
            print(
                f"  round {r + 1}: whole run: seqlab fit {seqlab_rates[-1]:,.0f} samples/s, "
                f"plain loop {plain_rates[-1]:,.0f} samples/s",
                flush=True,
            )
    s_tot, p_tot = statistics.median(seqlab_rates), statistics.median(plain_rates)
    print(
        f"whole runs (median of {args.repeats} rounds; checkpoints and metrics.csv included): "
        f"seqlab fit {s_tot:,.0f} samples/s, plain PyTorch {p_tot:,.0f} samples/s, "
        f"ratio {s_tot / p_tot:.2f}× (goal ≥ 0.90×)"
    )
    # Secondary: the median step is robust to bursts of contention on a shared machine and
    # leaves out the epoch-end checkpoint writes, so it shows the per-step overhead alone.
    s_med = args.batch_size / statistics.median(seqlab_steps)
    p_med = args.batch_size / statistics.median(plain_steps)
    print(
        f"median step (secondary; no checkpoint writes): seqlab fit {s_med:,.0f} samples/s, "
        f"plain PyTorch {p_med:,.0f} samples/s, ratio {s_med / p_med:.2f}×"
    )


if __name__ == "__main__":
    main()
