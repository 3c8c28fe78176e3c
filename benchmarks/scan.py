"""minGRU/minLSTM: fwd+bwd of ``forward_sequence`` (the scan) vs stepping the same cell.

    python benchmarks/scan.py                       # T=512 and 4096, B=64, H=128, input 32
    python benchmarks/scan.py --steps 4096 --methods blocked log --threads 1 --rounds 3
    python benchmarks/scan.py --segment-elements 131072 262144 524288 1048576 2097152

For each cell and T, the same cell (same parameters, same input) is timed, interleaved
in one process, as:

- ``stepped``: ``seqlab.unroll.unroll`` calling the cell's one-step ``forward`` T times;
- ``scan (METHOD)``: ``cell.forward_sequence`` with ``scan=METHOD`` (``blocked``, the CPU
  default; add ``--methods blocked log`` for the paper's log-space scan, the CUDA default,
  which is slow on CPU).

It prints the median ms of ``out.sum().backward()`` and the speedup over stepping, and
the largest deviation of each float32 run from a float64 stepped reference (outputs and
the input gradient). ``--segment-elements`` sweeps the blocked scan's segment size
(elements B·S·H of one segment's state tensor; the default is
``seqlab.cells._scan.SEGMENT_ELEMENTS``).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved

from seqlab.cells import _scan, create_cell
from seqlab.unroll import unroll


def _dyadic(t: torch.Tensor, step: float) -> torch.Tensor:
    return torch.round(t / step) * step


def _errors(
    cell_name: str, cell: torch.nn.Module, x: torch.Tensor, scan: str
) -> tuple[float, float]:
    """Max |float32 forward_sequence - float64 stepping| of the outputs and of dL/dx.

    Inputs and parameters are rounded to multiples of 2^-3 and 2^-6 first, so that both
    precisions see identical pre-activations: otherwise a pre-activation within rounding
    of 0 can fall on either side of g's kink (g' jumps from 1/4 to 1) and the gradient
    difference would measure that, not the scan (float32 stepping shows the same jump).
    """
    cell = create_cell(cell_name, x.shape[-1], cell.hidden_size, scan=scan)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(_dyadic(p, 2.0**-6))
    x = _dyadic(x.detach(), 2.0**-3)
    ref_cell = create_cell(cell_name, x.shape[-1], cell.hidden_size, scan=scan).double()
    ref_cell.load_state_dict(cell.state_dict())
    x64 = x.detach().double().requires_grad_()
    ref, _ = unroll(ref_cell, x64, ref_cell.initial_state(x.shape[0], dtype=torch.float64))
    weights = torch.randn_like(ref)
    (ref * weights).sum().backward()
    x32 = x.detach().clone().requires_grad_()
    out, _ = cell.forward_sequence(x32)
    (out * weights.float()).sum().backward()
    assert x64.grad is not None and x32.grad is not None
    return (out.double() - ref).abs().max().item(), (
        x32.grad.double() - x64.grad
    ).abs().max().item()


def measure(cell_name: str, steps: int, args: argparse.Namespace) -> list[dict]:
    torch.manual_seed(0)
    x = torch.randn(args.batch, steps, args.input_size, requires_grad=True)
    cells = {
        m: create_cell(cell_name, args.input_size, args.hidden_size, scan=m) for m in args.methods
    }
    base = next(iter(cells.values()))
    for c in cells.values():
        c.load_state_dict(base.state_dict())
    h0 = base.initial_state(args.batch)
    runs = {"stepped": lambda: unroll(base, x, h0)[0]}
    sizes = args.segment_elements or [_scan.SEGMENT_ELEMENTS]
    for method, cell in cells.items():
        for size in sizes if method == "blocked" else [None]:
            label = (
                f"scan ({method})"
                if size is None or len(sizes) == 1
                else f"scan ({method}, {size})"
            )

            def run(cell=cell, size=size):
                if size is not None:
                    _scan.SEGMENT_ELEMENTS = size
                return cell.forward_sequence(x, h0)[0]

            runs[label] = run
    ms = interleaved(runs, rounds=args.rounds, repeats=1, warmup=1)
    rows = []
    for label, v in ms.items():
        row = {
            "cell": cell_name,
            "T": steps,
            "run": label,
            "ms": round(v, 1),
            "speedup": round(ms["stepped"] / v, 2),
            "max_abs_err_out": "",
            "max_abs_err_grad": "",
        }
        if label != "stepped" and args.errors:
            method = label.split("(")[1].split(",")[0].rstrip(")")
            out_err, grad_err = _errors(cell_name, cells[method], x, method)
            row["max_abs_err_out"], row["max_abs_err_grad"] = f"{out_err:.2e}", f"{grad_err:.2e}"
        rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cells", nargs="+", default=["mingru", "minlstm"])
    p.add_argument("--steps", type=int, nargs="+", default=[512, 4096])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument(
        "--methods",
        nargs="+",
        default=["blocked"],
        choices=["blocked", "log"],
        help="scan methods to time (log, the CUDA default, takes ~30 s a run at T=4096 on CPU)",
    )
    p.add_argument("--segment-elements", type=int, nargs="+")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument(
        "--no-errors",
        dest="errors",
        action="store_false",
        help="skip the float64 accuracy check (it steps the cell in float64)",
    )
    p.add_argument("--csv", type=Path)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    default_segment = _scan.SEGMENT_ELEMENTS
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, B={args.batch}, "
        f"input {args.input_size}, hidden {args.hidden_size}; fwd+bwd, median ms of "
        f"{args.rounds} interleaved rounds"
    )
    print("\n| cell | T | run | ms | speedup vs stepped | max abs err out | max abs err dL/dx |")
    print("|---|---:|---|---:|---:|---:|---:|")
    rows = []
    for cell_name in args.cells:
        for steps in args.steps:
            for row in measure(cell_name, steps, args):
                _scan.SEGMENT_ELEMENTS = default_segment
                rows.append(row)
                print(
                    f"| {row['cell']} | {row['T']} | {row['run']} | {row['ms']} | "
                    f"{row['speedup']}× | {row['max_abs_err_out']} | {row['max_abs_err_grad']} |",
                    flush=True,
                )
    if args.csv:
        with args.csv.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
