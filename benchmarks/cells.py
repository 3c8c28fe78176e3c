"""Fwd+bwd time of seqlab layers as a ratio to torch.nn.LSTM, measured in one process.

    python benchmarks/cells.py            # B=64, input 32, hidden 128, T=100 and 500, CPU
    python benchmarks/cells.py --steps 100 --csv out.csv

Rows:
- ``seqlab lstm``: the built-in LSTM through ``seqlab.Recurrent`` (fused path). Goal ≤ 1.05×.
- ``plugin step-only LSTM``: an LSTM cell that only has the step ``forward`` (no
  ``forward_sequence``, no seqlab import), stepped by ``seqlab.Recurrent``. Goal ≤ 1.5×.
- ``raw loop, same cell``: the same step cell in a bare Python loop with no unroller, so
  the difference to the row above is the unroller's own per-step cost.
- ``seqlab lstm, stepping``: the built-in LSTM with ``fused=False``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved

from seqlab import Recurrent


class StepOnlyLSTM(nn.Module):
    """What a third-party LSTM plugin looks like: a step ``forward`` and nothing else."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.cell = nn.LSTMCell(input_size, hidden_size)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        z = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return z, z

    def forward(self, x_t: Tensor, state):
        h, c = self.cell(x_t, state)
        return h, (h, c)


def measure(batch: int, inp: int, hidden: int, steps: int) -> dict[str, float]:
    torch.manual_seed(0)
    x = torch.randn(batch, steps, inp, requires_grad=True)
    ref = nn.LSTM(inp, hidden, batch_first=True)
    ours = Recurrent.from_torch(ref)
    stepping = Recurrent.from_torch(ref)
    stepping.fused = False
    plugin = Recurrent(StepOnlyLSTM, inp, hidden)
    raw_cell = StepOnlyLSTM(inp, hidden)

    def raw_loop() -> Tensor:
        state = raw_cell.initial_state(batch)
        outs = []
        for x_t in x.unbind(1):
            h, state = raw_cell(x_t, state)
            outs.append(h)
        return torch.stack(outs, 1)

    runs = {
        "torch.nn.LSTM": lambda: ref(x)[0],
        "seqlab lstm": lambda: ours(x)[0],
        "plugin step-only LSTM": lambda: plugin(x)[0],
        "raw loop, same cell": raw_loop,
        "seqlab lstm, stepping": lambda: stepping(x)[0],
    }
    return interleaved(runs, rounds=5, repeats=3 if steps > 200 else 5)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("--steps", type=int, nargs="+", default=[100, 500])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--csv", type=Path)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, B={args.batch}, "
        f"input {args.input_size}, hidden {args.hidden_size}; fwd+bwd, median ms"
    )
    rows = []
    for steps in args.steps:
        ms = measure(args.batch, args.input_size, args.hidden_size, steps)
        base = ms["torch.nn.LSTM"]
        print(f"\nT={steps}\n| layer | ms | ratio to torch.nn.LSTM |\n|---|---:|---:|")
        for name, v in ms.items():
            print(f"| {name} | {v:.1f} | {v / base:.2f}× |")
            rows.append({"T": steps, "layer": name, "ms": round(v, 3), "ratio": round(v / base, 3)})
    if args.csv:
        with args.csv.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
