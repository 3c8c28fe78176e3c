"""The plain-PyTorch character LSTM and nanoGPT's estimator, shared by the LM benchmarks.

One home for each fact: the split (nanoGPT's ``shakespeare_char``: first 90% of the file
trains, the last 10% validates; vocabulary every character of the file, sorted — seqlab's
charlm uses the same), nanoGPT's ``estimate_loss`` (20 batches of 12 random 64-character
validation windows, each read from a fresh state, seeded), and the plain loop: an
``nn.LSTM`` language model trained by truncated BPTT over contiguous chunks (the state
carried and detached from chunk to chunk), Adam, gradient clipping 1.0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
CONTEXT = 64  # nanoGPT's block size for its CPU run, and the TBPTT length of the LSTM


def load_split(path: Path) -> tuple[Tensor, Tensor, int]:
    """(train, val) character ids and the vocabulary size, as nanoGPT's prepare.py splits."""
    text = path.read_text(encoding="utf-8")
    stoi = {c: i for i, c in enumerate(sorted(set(text)))}
    ids = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(ids))
    return ids[:n], ids[n:], len(stoi)


def windows(data: Tensor, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """nanoGPT's ``get_batch``: ``batch`` random windows (B, CONTEXT) and their next characters."""
    ix = torch.randint(len(data) - CONTEXT, (batch,), generator=generator)
    x = torch.stack([data[i : i + CONTEXT] for i in ix.tolist()])
    y = torch.stack([data[i + 1 : i + 1 + CONTEXT] for i in ix.tolist()])
    return x, y


@torch.no_grad()
def nanogpt_estimate(logits_of: Callable[[Tensor], Tensor], val: Tensor, seed: int = 1337) -> float:
    """nanoGPT's ``estimate_loss`` on val: mean CE of 20 batches of 12 windows, fresh state."""
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(20):
        x, y = windows(val, 12, generator)
        logits = logits_of(x)  # (12, CONTEXT, vocab)
        losses.append(F.cross_entropy(logits.flatten(0, 1), y.flatten()).item())
    return sum(losses) / len(losses)


class CharLSTM(nn.Module):
    """Embedding → ``nn.LSTM`` → linear head, PyTorch's default initialisation."""

    def __init__(self, vocab: int, embed: int = 64, hidden: int = 512, layers: int = 1) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
        out, state = self.lstm(self.embedding(x), state)
        return self.head(out), state


def streams(train: Tensor, batch: int, context: int = CONTEXT) -> Iterator[tuple[Tensor, Tensor]]:
    """Contiguous chunks: row b of chunk k+1 continues row b of chunk k (epochs repeat)."""
    per_row = (len(train) - 1) // batch
    rows = train[: per_row * batch + 1]
    x_all = rows[:-1].view(batch, per_row)
    y_all = rows[1:].view(batch, per_row)
    while True:
        for start in range(0, per_row - context + 1, context):
            yield x_all[:, start : start + context], y_all[:, start : start + context]


def train_lstm(
    train: Tensor,
    vocab: int,
    budget: float,
    *,
    embed: int = 64,
    hidden: int = 512,
    layers: int = 1,
    batch: int = 32,
    context: int = CONTEXT,
    lr: float = 2e-3,
) -> tuple[nn.Module, int, float]:
    """Train until ``budget`` seconds of steps have passed: (model, steps, seconds)."""
    torch.manual_seed(0)
    model = CharLSTM(vocab, embed, hidden, layers).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state, spent = None, 0.0
    for steps, (x, y) in enumerate(streams(train, batch, context), 1):
        start = time.perf_counter()
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state = tuple(s.detach() for s in state)
        spent += time.perf_counter() - start
        if spent >= budget:
            return model.eval(), steps, spent
    raise AssertionError("unreachable")  # pragma: no cover
