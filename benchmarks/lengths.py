"""Variable-length batches: seqlab's fused rnn/lstm/gru against torch.nn on packed sequences.

    python benchmarks/lengths.py                       # B=16, input 4, hidden 64, T=361
    python benchmarks/lengths.py --steps 50 --rounds 2 # a smoke run

Each row times forward + backward of one layer (bidirectional with ``--bidirectional``)
on a batch of lengths drawn uniformly from T/10 to T (the longest is T), as a ratio to
torch.nn's layer of the same cell reading the same batch packed
(``pack_padded_sequence``), the usual way to give torch.nn variable lengths. seqlab runs
the padded batch through the fused kernel and masks it (``seqlab.cells._torch_compat``);
outputs and gradients are those of packing (``tests/test_torch_equivalence.py``). The
shape is PickupGestureWiimoteZ's (lengths 29-361), where packing made the UCR recipe's
recurrent branch the slow part of a step.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from seqlab import Recurrent
from seqlab.bench import fwd_bwd, interleaved_samples, ratio_spread

REFERENCES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=361)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--input", type=int, default=4)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.steps, args.input)
    lengths = torch.randint(max(1, args.steps // 10), args.steps + 1, (args.batch,))
    lengths[0] = args.steps
    print(
        f"B={args.batch}, input {args.input}, hidden {args.hidden}, T={args.steps}, lengths "
        f"{int(lengths.min())}-{args.steps}, {'bi' if args.bidirectional else 'uni'}directional, "
        f"fwd+bwd, {torch.get_num_threads()} threads; median ratio to torch.nn packed (IQR)"
    )
    print("| cell | torch.nn packed ms | seqlab ms | ratio |")
    print("|---|---:|---:|---:|")
    for cell, ref_cls in REFERENCES.items():
        ref = ref_cls(args.input, args.hidden, batch_first=True, bidirectional=args.bidirectional)
        ours = Recurrent.from_torch(ref)

        def packed(ref: nn.Module = ref) -> torch.Tensor:
            seq = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            return ref(seq)[0].data

        runs = {"torch": fwd_bwd(packed), "seqlab": fwd_bwd(lambda ours=ours: ours(x, lengths)[0])}
        samples = interleaved_samples(runs, rounds=args.rounds)
        median, q1, q3 = ratio_spread(samples["seqlab"], samples["torch"])
        ms = {k: sorted(v)[len(v) // 2] * 1e3 for k, v in samples.items()}
        print(
            f"| {cell} | {ms['torch']:.1f} | {ms['seqlab']:.1f} | "
            f"{median:.2f}× ({q1:.2f}–{q3:.2f}) |"
        )


if __name__ == "__main__":
    main()
