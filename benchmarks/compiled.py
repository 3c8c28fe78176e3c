"""A step-written plugin LSTM, eager and compiled, as a ratio to torch.nn.LSTM (one process).

    python benchmarks/compiled.py                      # B=64, input 32, hidden 128, T=100 and 500
    TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) python benchmarks/compiled.py   # a truly cold compile
    python benchmarks/compiled.py --chunk-steps 10 20 --steps 100

The plugin cell is written the way a third party would write one: a step ``forward``
with two ``nn.Linear`` and the gate nonlinearities, no ``forward_sequence``, no seqlab
import. Rows, fwd+bwd, median ratio to torch.nn.LSTM with its IQR over rounds (the
order of the candidates alternates between rounds):

- ``plugin LSTM, eager``: ``seqlab.Recurrent(PluginLSTM)``, stepped in Python.
- ``plugin LSTM, compiled (K steps/graph)``: the same with ``compile=True``.

Before timing it prints the first call of the compiled layer (the compile, "cold"; with
inductor's on-disk caches warm from an earlier run it is much shorter) and the largest
difference of outputs and input gradients between compiled and eager. Goals (issue 14):
compiled ≤ 1.1× at T=100 and 500, cold compile ≤ 30 s at T=100, differences ≤ 1e-5.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import Tensor, nn

from seqlab import Recurrent
from seqlab.bench import fwd_bwd, interleaved_samples, ratio_spread
from seqlab.unroll import DEFAULT_CHUNK_STEPS


class PluginLSTM(nn.Module):
    """A third-party LSTM cell: the step and nothing else (gates i, f, g, o)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.ih = nn.Linear(input_size, 4 * hidden_size)
        self.hh = nn.Linear(hidden_size, 4 * hidden_size)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        z = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return z, z

    def forward(self, x_t: Tensor, state):
        h, c = state
        i, f, g, o = (self.ih(x_t) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


def first_call(layer: nn.Module, x: Tensor) -> tuple[float, Tensor, Tensor]:
    """Seconds of the first fwd+bwd (the compile), the output and the input gradient."""
    x = x.detach().requires_grad_()
    t0 = time.perf_counter()
    out = layer(x)[0]
    out.sum().backward()
    return time.perf_counter() - t0, out.detach(), x.grad


def measure(args: argparse.Namespace, steps: int) -> list[tuple[str, float, float, float, float]]:
    torch.manual_seed(0)
    x = torch.randn(args.batch, steps, args.input_size, requires_grad=True)
    ref = nn.LSTM(args.input_size, args.hidden_size, batch_first=True)
    eager = Recurrent(PluginLSTM, args.input_size, args.hidden_size)
    runs = {"torch.nn.LSTM": fwd_bwd(lambda: ref(x)[0])}
    runs["seqlab lstm (fused)"] = fwd_bwd(lambda m=Recurrent.from_torch(ref): m(x)[0])
    runs["plugin LSTM, eager"] = fwd_bwd(lambda: eager(x)[0])
    _, out_e, grad_e = first_call(eager, x)
    for k in args.chunk_steps:
        layer = Recurrent(
            PluginLSTM, args.input_size, args.hidden_size, compile=True, compile_chunk_steps=k
        )
        layer.load_state_dict(eager.state_dict())
        seconds, out_c, grad_c = first_call(layer, x)
        diff = max((out_c - out_e).abs().max().item(), (grad_c - grad_e).abs().max().item())
        print(
            f"T={steps} K={k}: first call (compile) {seconds:.1f} s; max |compiled - eager| {diff:.1e}"
        )
        runs[f"plugin LSTM, compiled ({k} steps/graph)"] = fwd_bwd(lambda m=layer: m(x)[0])
    samples = interleaved_samples(runs, rounds=args.rounds, repeats=args.repeats, warmup=1)
    base = samples["torch.nn.LSTM"]
    rows = []
    for name, s in samples.items():
        ratio, q1, q3 = ratio_spread(s, base)
        rows.append((name, statistics.median(s) * 1e3, ratio, q1, q3))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("--steps", type=int, nargs="+", default=[100, 500])
    p.add_argument("--chunk-steps", type=int, nargs="+", default=[DEFAULT_CHUNK_STEPS])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cache = os.environ.get("TORCHINDUCTOR_CACHE_DIR", "(default: /tmp/torchinductor_<user>)")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, B={args.batch}, input "
        f"{args.input_size}, hidden {args.hidden_size}; fwd+bwd; inductor cache {cache}"
    )
    for steps in args.steps:
        rows = measure(args, steps)
        print(f"\nT={steps}\n| layer | ms | × torch.nn.LSTM | IQR |\n|---|---:|---:|---:|")
        for name, ms, ratio, q1, q3 in rows:
            print(f"| {name} | {ms:.1f} | {ratio:.2f}× | {q1:.2f}–{q3:.2f} |")


if __name__ == "__main__":
    main()
