"""GPU readiness in one table, on one GPU in under 5 minutes (issue 14).

    python benchmarks/gpu.py                 # needs CUDA; prints one markdown table
    python benchmarks/gpu.py --device cpu --smoke   # tiny sizes, to test the script itself

Rows (fwd+bwd, median of interleaved rounds, every sample a torch.utils.benchmark
measurement, which synchronises CUDA; the order alternates between rounds):

1. seqlab rnn, lstm, gru through ``seqlab.Recurrent`` vs the torch.nn module (cuDNN on a
   GPU). Goal ≤ 1.05×.
2. A step-written plugin LSTM (``benchmarks/compiled.py``'s ``PluginLSTM``), eager and
   ``compile=True``, vs cuDNN's LSTM. Goal for compiled ≤ 1.5×.
3. mingru and minlstm: their log-space scan (``forward_sequence``) vs stepping the same
   cell (``fused=False``), at T=512 and T=4096 (the stepped reference is timed once per
   round at 4096: it is the slow side).
4. ``seqlab fit`` on one GPU with ``--precision 16-mixed`` (a short adding-task run in a
   subprocess): wall time and exit status.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compiled import PluginLSTM

from seqlab import Recurrent
from seqlab.bench import fwd_bwd, interleaved_samples, ratio_spread


@dataclass(frozen=True)
class Row:
    """One comparison: ``what`` against ``reference``, ms of each and the ratio's spread."""

    what: str
    reference: str
    ms: float
    reference_ms: float
    ratio: float
    q1: float
    q3: float
    goal: str = ""


def compare(
    what: str,
    reference: str,
    runs: dict[str, Callable[[], None]],
    *,
    rounds: int,
    repeats: int,
    goal: str = "",
) -> Row:
    """Time ``runs[what]`` against ``runs[reference]``, interleaved."""
    samples = interleaved_samples(runs, rounds=rounds, repeats=repeats, warmup=1)
    ratio, q1, q3 = ratio_spread(samples[what], samples[reference])
    ms = statistics.median(samples[what]) * 1e3
    ref_ms = statistics.median(samples[reference]) * 1e3
    return Row(what, reference, ms, ref_ms, ratio, q1, q3, goal)


def table(rows: list[Row], notes: list[str]) -> str:
    """The rows as one markdown table, notes below it."""
    lines = [
        "| what | against | ms | reference ms | ratio (IQR) | goal |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.what} | {r.reference} | {r.ms:.2f} | {r.reference_ms:.2f} | "
            f"{r.ratio:.2f}× ({r.q1:.2f}–{r.q3:.2f}) | {r.goal} |"
        )
    return "\n".join(lines + [""] + [f"- {n}" for n in notes])


def builtin_rows(args: argparse.Namespace, x: torch.Tensor) -> list[Row]:
    rows = []
    for name, cls in (("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)):
        ref = cls(args.input_size, args.hidden_size, batch_first=True).to(args.device)
        ours = Recurrent.from_torch(ref)
        runs = {
            f"seqlab {name}": fwd_bwd(lambda m=ours: m(x)[0]),
            f"torch.nn.{cls.__name__}": fwd_bwd(lambda m=ref: m(x)[0]),
        }
        rows.append(compare(*runs, runs, rounds=args.rounds, repeats=args.repeats, goal="≤ 1.05×"))
    return rows


def plugin_rows(args: argparse.Namespace, x: torch.Tensor) -> tuple[list[Row], str]:
    ref = nn.LSTM(args.input_size, args.hidden_size, batch_first=True).to(args.device)
    eager = Recurrent(PluginLSTM, args.input_size, args.hidden_size).to(args.device)
    comp = Recurrent(PluginLSTM, args.input_size, args.hidden_size, compile=args.compile)
    comp = comp.to(args.device)
    t0 = time.perf_counter()
    comp(x)[0].sum().backward()
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    note = f"plugin LSTM: first compiled call (compile) {time.perf_counter() - t0:.1f} s"
    runs = {
        "plugin LSTM, eager": fwd_bwd(lambda: eager(x)[0]),
        "plugin LSTM, compiled": fwd_bwd(lambda: comp(x)[0]),
        "torch.nn.LSTM": fwd_bwd(lambda: ref(x)[0]),
    }
    samples = interleaved_samples(runs, rounds=args.rounds, repeats=args.repeats, warmup=1)
    rows = []
    for what, goal in (("plugin LSTM, eager", ""), ("plugin LSTM, compiled", "≤ 1.5×")):
        ratio, q1, q3 = ratio_spread(samples[what], samples["torch.nn.LSTM"])
        ms = statistics.median(samples[what]) * 1e3
        ref_ms = statistics.median(samples["torch.nn.LSTM"]) * 1e3
        rows.append(Row(what, "torch.nn.LSTM", ms, ref_ms, ratio, q1, q3, goal))
    return rows, note


def scan_rows(args: argparse.Namespace) -> list[Row]:
    rows = []
    for name in ("mingru", "minlstm"):
        for steps in args.scan_steps:
            x = torch.randn(args.batch, steps, args.input_size, device=args.device)
            x.requires_grad_()
            scan = Recurrent(name, args.input_size, args.hidden_size).to(args.device)
            loop = Recurrent(name, args.input_size, args.hidden_size, fused=False)
            loop = loop.to(args.device)
            loop.load_state_dict(scan.state_dict())
            runs = {
                f"{name} scan, T={steps}": fwd_bwd(lambda m=scan, x=x: m(x)[0]),
                f"{name} loop, T={steps}": fwd_bwd(lambda m=loop, x=x: m(x)[0]),
            }
            rows.append(compare(*runs, runs, rounds=args.rounds, repeats=1))
    return rows


def fit_note(args: argparse.Namespace) -> str:
    """A short ``seqlab fit`` on one GPU in 16-mixed, in a subprocess."""
    with tempfile.TemporaryDirectory() as runs:
        cmd = [sys.executable, "-m", "seqlab", "fit", "--task", "adding", "--cell", "lstm",
               "--max-steps", str(args.fit_steps), "--accelerator", "gpu", "--devices", "1",
               "--precision", "16-mixed", "--run-dir", runs, "--quiet"]  # fmt: skip
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        seconds = time.perf_counter() - t0
    tail = (done.stderr.strip().splitlines() or [""])[-1][:200]
    status = "ok" if done.returncode == 0 else f"exit {done.returncode}: {tail}"
    return f"seqlab fit, 1 GPU, 16-mixed, {args.fit_steps} steps of adding/lstm: {seconds:.1f} s wall, {status}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cuda")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, no fit: tests the script")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--scan-steps", type=int, nargs="+", default=[512, 4096])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--fit-steps", type=int, default=300)
    p.add_argument("--no-compile", dest="compile", action="store_false", help="skip compiling")
    args = p.parse_args(argv)
    if args.smoke:
        args.batch, args.input_size, args.hidden_size, args.steps = 2, 3, 4, 5
        args.scan_steps, args.rounds, args.repeats, args.fit_steps = [6], 2, 1, 0
    return args


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit(
            "benchmarks/gpu.py needs a CUDA GPU and none is available. Run it on a GPU "
            "machine, or `--device cpu --smoke` to check the script itself."
        )
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.steps, args.input_size, device=args.device)
    x.requires_grad_()
    rows = builtin_rows(args, x)
    plugin, note = plugin_rows(args, x)
    rows += plugin + scan_rows(args)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    notes = [
        f"{device}, torch {torch.__version__}, B={args.batch}, input {args.input_size}, "
        f"hidden {args.hidden_size}, T={args.steps} (scans: T as shown); fwd+bwd",
        note,
    ]
    if args.fit_steps > 0 and args.device.startswith("cuda"):
        notes.append(fit_note(args))
    text = table(rows, notes)
    print(text)
    return text


if __name__ == "__main__":
    main()
