"""Every registered cell's fwd+bwd time through ``seqlab.Recurrent``, as a ratio to torch.nn.LSTM.

    python benchmarks/zoo.py                      # B=64, input 32, hidden 128, T=100, CPU
    python benchmarks/zoo.py --cells mingru sru --steps 500 --csv zoo.csv

All cells are measured in one process; each is timed interleaved with ``torch.nn.LSTM``
on the same input (``seqlab.bench.bench_cells``), and the median of the repeats is kept,
so machine noise hits the cell and its reference alike. ``seqlab.Recurrent`` uses a
cell's ``forward_sequence`` when it has one (fused kernel, scan or hoisted projection)
and steps it otherwise; the "path" column says which.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

from seqlab.bench import bench_cells
from seqlab.cells import create_cell, list_cells


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cells", nargs="+", help="registry names (default: every registered cell)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--csv", type=Path)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cells = args.cells or list_cells()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, B={args.batch}, "
        f"input {args.input_size}, hidden {args.hidden_size}, T={args.steps}; fwd+bwd, "
        f"median of {args.rounds}×{args.repeats} interleaved with torch.nn.LSTM",
        file=sys.stderr,
    )
    rows = bench_cells(
        cells,
        batch_size=args.batch,
        seq_len=args.steps,
        input_size=args.input_size,
        hidden_size=args.hidden_size,
        rounds=args.rounds,
        repeats=args.repeats,
        progress=lambda name: print(f"  measuring {name}", file=sys.stderr, flush=True),
    )
    records = []
    for row in rows:
        cell = create_cell(row.cell, args.input_size, args.hidden_size)
        path = (
            "forward_sequence" if callable(getattr(cell, "forward_sequence", None)) else "stepped"
        )
        records.append({**row.as_dict(), "path": path})
    records.sort(key=lambda r: r["ratio_to_lstm"])
    print("\n| cell | path | parameters | fwd+bwd ms | ratio to torch.nn.LSTM |")
    print("|---|---|---:|---:|---:|")
    for r in records:
        print(
            f"| {r['cell']} | {r['path']} | {r['parameters']:,} | {r['fwd_bwd_ms']:.1f} | "
            f"{r['ratio_to_lstm']:.2f}× |"
        )
    if args.csv:
        with args.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)


if __name__ == "__main__":
    main()
