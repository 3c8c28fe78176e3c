"""External references for docs/results.md §5, measured here: the same machine, threads, estimator.

Two models that are not seqlab's, trained on tiny-shakespeare with nanoGPT's
``shakespeare_char`` split (first 90% of the file trains, the last 10% validates; the
vocabulary is every character of the file, sorted — seqlab's charlm uses the same):

- ``lstm``: a plain-PyTorch ``nn.LSTM`` character model — embedding 64, one layer of 512
  units, a linear head; truncated BPTT over contiguous 64-character chunks of 32 streams
  (the state carried and detached from chunk to chunk), Adam 2e-3, gradient clipping 1.0
  — seqlab's ``configs/charlm-shakespeare.yaml`` written by hand;
- ``nanogpt``: nanoGPT's CPU baseline (``train_shakespeare_char`` with ``--device=cpu
  --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --dropout=0.0
  --max_iters=2000 --lr_decay_iters=2000``), written compactly below: pre-norm
  transformer without biases, tied embedding, AdamW 1e-3 (β₂ 0.99, weight decay 0.1 on
  matrices), 100 warm-up steps then cosine to 1e-4, clipping 1.0.

Each trains for the same wall-clock budget (``--budget``, training steps only; nanoGPT
also stops at its 2,000 iterations), with ``--threads`` torch threads (1, as the
``--threads 1`` of the results page), one after the other in this process. Every model is
then scored by **nanoGPT's estimator**: the mean cross-entropy (nats/char) over 20 batches
of 12 random 64-character windows of the validation text, each read from a fresh state —
the same windows for every model. ``--seqlab RUN_DIR`` scores seqlab runs (their best
checkpoint, else the last) with that estimator too, so all rows compare like with like.

    python benchmarks/external.py                             # both references, 105 s each
    python benchmarks/external.py --budget 105 --seqlab results/charlm/runs/*/*/
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from _lm import CONTEXT, DATA, load_split, nanogpt_estimate, train_lstm, windows
from torch import Tensor, nn


# -- nanoGPT's CPU baseline ----------------------------------------------------------------
class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim, bias=False), nn.LayerNorm(dim, bias=False)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim, bias=False), nn.Linear(dim, dim, bias=False)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim, bias=False), nn.GELU(), nn.Linear(4 * dim, dim, bias=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        att = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True
        )
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class NanoGPT(nn.Module):
    def __init__(self, vocab: int, layers: int = 4, heads: int = 4, dim: int = 128) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, dim), nn.Embedding(CONTEXT, dim)
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(layers)))
        self.ln_f = nn.LayerNorm(dim, bias=False)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.wte.weight  # weight tying, as nanoGPT
        for name, p in self.named_parameters():  # nanoGPT's initialisation
            if p.dim() == 2:
                std = (
                    0.02 / math.sqrt(2 * layers)
                    if name.endswith(("proj.weight", "2.weight"))
                    else 0.02
                )
                nn.init.normal_(p, 0.0, std)

    def forward(self, x: Tensor) -> Tensor:
        h = self.wte(x) + self.wpe(torch.arange(x.shape[1]))
        return self.head(self.ln_f(self.blocks(h)))


def nanogpt_lr(step: int, lr: float = 1e-3, min_lr: float = 1e-4, warmup: int = 100) -> float:
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    ratio = min(1.0, (step - warmup) / (2000 - warmup))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def train_nanogpt(train: Tensor, vocab: int, budget: float) -> tuple[nn.Module, int, float]:
    torch.manual_seed(1337)
    model = NanoGPT(vocab).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=1e-3,
        betas=(0.9, 0.99),
    )
    generator = torch.Generator().manual_seed(1337)
    steps, spent = 0, 0.0
    while steps < 2000 and spent < budget:
        start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = nanogpt_lr(steps)
        x, y = windows(train, 12, generator)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        steps += 1
        spent += time.perf_counter() - start
    return model.eval(), steps, spent


def seqlab_logits(run_dir: str) -> tuple[Callable[[Tensor], Tensor], int, str]:
    """A seqlab run's best checkpoint (else its last) as a window → logits function, with a
    fresh state per window."""
    from seqlab.training import load_checkpoint

    loaded = load_checkpoint(run_dir)
    model = loaded.model.eval()
    name = f"seqlab `{loaded.config.model.cell}` ({Path(run_dir).name})"
    return (lambda x: model(x)[0]), sum(p.numel() for p in model.parameters()), name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=105.0, help="training seconds per model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--models", default="lstm,nanogpt")
    parser.add_argument("--seqlab", nargs="*", default=[], metavar="RUN_DIR")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, val, vocab = load_split(args.data)
    print(
        f"tiny-shakespeare: {len(train):,} train / {len(val):,} val characters, vocab {vocab}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), budget {args.budget:g} s; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| model | val loss (nanoGPT's estimator) | steps | train s | characters/s | parameters |"
    )
    print("|---|---|---|---|---|---|")
    trainers = {"lstm": (train_lstm, 32), "nanogpt": (train_nanogpt, 12)}
    for name in [m for m in args.models.split(",") if m]:
        fit, batch = trainers[name]
        model, steps, spent = fit(train, vocab, args.budget)
        logits_of = (lambda x, m=model: m(x)[0]) if name == "lstm" else model
        loss = nanogpt_estimate(logits_of, val)
        params = sum(p.numel() for p in model.parameters())
        rate = steps * batch * CONTEXT / spent
        print(
            f"| {name} | {loss:.3f} | {steps:,} | {spent:.0f} | {rate:,.0f} | {params:,} |",
            flush=True,
        )
    for run_dir in args.seqlab:
        logits_of, params, label = seqlab_logits(run_dir)
        loss = nanogpt_estimate(logits_of, val)
        print(f"| {label} | {loss:.3f} | | | | {params:,} |", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
