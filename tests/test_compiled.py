"""The compiled unroll (``Recurrent(..., compile=True)``), the input projection contract,
the compiled-equals-eager conformance check, and ``seqlab bench``'s timing and options."""

from __future__ import annotations

import csv
import sys
import warnings

import pytest
import torch
from torch import Tensor, nn

import seqlab.unroll.compiled as compiled_mod
from seqlab import Recurrent
from seqlab.bench import BenchRow, bench_cells, load_warning, ratio_spread
from seqlab.cli import main
from seqlab.config.sections import ModelConfig
from seqlab.testing import check_cell, get_check
from seqlab.testing.checks import all_checks
from seqlab.unroll import CompileFallbackWarning, unroll


class PlainLSTM(nn.Module):
    """A plugin cell that never imports seqlab: a step ``forward`` and nothing else."""

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


class ProjectedLSTM(PlainLSTM):
    """The same cell with the optional input projection: ``ih`` for all steps at once."""

    def input_projection(self, x: Tensor) -> Tensor:
        return self.ih(x)

    def forward_projected(self, p_t: Tensor, state):
        h, c = state
        i, f, g, o = (p_t + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


def _pair(cell, **kwargs) -> tuple[Recurrent, Recurrent]:
    torch.manual_seed(0)
    eager = Recurrent(cell, 3, 5, fused=False, **kwargs).double()
    comp = Recurrent(cell, 3, 5, fused=False, compile=True, compile_chunk_steps=4, **kwargs)
    comp = comp.double()
    comp.load_state_dict(eager.state_dict())
    return eager, comp


def _outputs_and_grads(layer: Recurrent, x: Tensor, lengths=None, state=None):
    xg = x.clone().requires_grad_(True)
    out, finals = layer(xg, lengths, state)
    loss = (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum()
    loss = loss + sum(t.sum() for f in finals for t in (f if isinstance(f, tuple) else (f,)))
    gs = torch.autograd.grad(loss, [xg, *layer.parameters()])
    return out, finals, gs


def test_input_projection_steps_like_forward():
    torch.manual_seed(0)
    cell = ProjectedLSTM(3, 5).double()
    x = torch.randn(4, 9, 3, dtype=torch.double)
    lengths = torch.tensor([9, 4, 0, 7])
    for lg in (None, lengths):
        hoisted, final_h = unroll(cell, x, cell.initial_state(4, dtype=x.dtype), lg)
        plain = PlainLSTM.forward.__get__(cell)  # the same weights, stepped on x
        stepped, final_s = unroll(_StepOnly(plain, 5), x, cell.initial_state(4, dtype=x.dtype), lg)
        torch.testing.assert_close(hoisted, stepped)
        torch.testing.assert_close(final_h, final_s)


class _StepOnly(nn.Module):
    def __init__(self, step, hidden_size: int) -> None:
        super().__init__()
        self.step, self.hidden_size = step, hidden_size

    def forward(self, x_t, state):
        return self.step(x_t, state)


def test_a_compile_failure_warns_once_and_steps_eagerly(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(compiled_mod, "compiled_chunk", lambda: broken)
    eager, comp = _pair(PlainLSTM)
    x = torch.randn(2, 9, 3, dtype=torch.double)
    with pytest.warns(CompileFallbackWarning, match="no C\\+\\+ compiler found") as record:
        out_c, _, grads_c = _outputs_and_grads(comp, x)
    assert len(record) == 1  # once, although two chunks reached the compiler
    out_e, _, grads_e = _outputs_and_grads(eager, x)
    torch.testing.assert_close(out_c, out_e)
    for gc, ge in zip(grads_c, grads_e, strict=True):
        torch.testing.assert_close(gc, ge)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        comp(x)  # the cell is known not to compile: no second warning


def test_compile_is_a_config_key_and_reaches_the_layer():
    assert ModelConfig().compile is False
    layer = Recurrent("gru", 3, 5, compile=True, compile_chunk_steps=6)
    assert layer.compile_steps and layer.compile_chunk_steps == 6
    assert "compile=True" in repr(layer)
    assert callable(layer.compile)  # nn.Module.compile is not hidden by the option


def test_compiled_check_is_optional_and_named():
    names = [c.__name__ for c in all_checks()]
    assert "check_compiled_matches_eager" not in names
    assert all_checks(compiled=True)[-1].__name__ == "check_compiled_matches_eager"
    assert get_check("check_compiled_matches_eager") is all_checks(compiled=True)[-1]


@pytest.mark.slow
def test_compiled_equals_eager_everywhere():
    """Layers, bidirectional, lengths, state in and out (TBPTT), and an input projection."""
    x = torch.randn(4, 11, 3, dtype=torch.double)
    lengths = torch.tensor([11, 3, 0, 8])
    for cell in (PlainLSTM, ProjectedLSTM, "mgu"):
        eager, comp = _pair(cell, num_layers=2, bidirectional=True)
        state = [
            tuple(s + 0.1 for s in st) if isinstance(st, tuple) else st + 0.1
            for st in eager.initial_state(4, dtype=torch.double)
        ]
        for lg, st in ((None, None), (lengths, None), (None, state)):
            out_c, fin_c, g_c = _outputs_and_grads(comp, x, lg, st)
            out_e, fin_e, g_e = _outputs_and_grads(eager, x, lg, st)
            torch.testing.assert_close(out_c, out_e)
            torch.testing.assert_close(fin_c, fin_e)
            for a, b in zip(g_c, g_e, strict=True):
                torch.testing.assert_close(a, b)


@pytest.mark.slow
def test_compiled_regularisers_and_eval():
    """Recurrent dropout and zoneout run inside the compiled chunks: the right shapes and
    finite gradients in training; in eval they are off and compiled equals eager."""
    torch.manual_seed(0)
    layer = Recurrent(
        PlainLSTM, 3, 5, compile=True, compile_chunk_steps=4, recurrent_dropout=0.3, zoneout=0.3
    )
    x = torch.randn(2, 8, 3, requires_grad=True)
    out, _ = layer(x)
    out.sum().backward()
    assert out.shape == (2, 8, 5) and torch.isfinite(x.grad).all() and (x.grad != 0).any()
    eager = Recurrent(PlainLSTM, 3, 5, recurrent_dropout=0.3, zoneout=0.3).eval()
    eager.load_state_dict(layer.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(layer.eval()(x)[0], eager(x)[0])


@pytest.mark.slow
def test_conformance_check_passes_for_a_plugin_cell():
    results = check_cell(PlainLSTM, compiled=True)
    assert results[-1].check == "check_compiled_matches_eager"
    assert results[-1].status == "passed"


def test_ratio_spread_is_median_and_quartiles():
    ratio, q1, q3 = ratio_spread([1.0, 2.0, 3.0, 4.0, 5.0], [1.0] * 5)
    assert (ratio, q1, q3) == (3.0, 2.0, 4.0)
    assert ratio_spread([2.0], [1.0]) == (2.0, 2.0, 2.0)


def _row(cell: str, ratio: float) -> BenchRow:
    return BenchRow(cell, 1, 1, 1, 1, 1, 1.0, 1.0, ratio, ratio, ratio)


def test_load_warning_only_when_the_lstm_row_is_far_from_one():
    assert load_warning([_row("lstm", 1.02), _row("gru", 3.0)]) is None
    assert "busy" in load_warning([_row("lstm", 1.6)])
    assert load_warning([_row("gru", 1.6)]) is None


def test_bench_takes_cell_options_and_reports_the_spread(tmp_path, capsys):
    rows = bench_cells(
        [("lstm", {"forget_bias": 0.0}), "gru"],
        batch_size=2,
        seq_len=3,
        input_size=2,
        hidden_size=4,
        rounds=3,
        repeats=1,
    )
    assert [r.cell for r in rows] == ["lstm[forget_bias=0.0]", "gru"]
    assert all(r.ratio_q1 <= r.ratio_to_lstm <= r.ratio_q3 for r in rows)
    out = tmp_path / "b.csv"
    args = [
        "bench",
        "--cells",
        "lstm[forget_bias=0],gru",
        "--batch-size",
        "2",
        "--seq-len",
        "3",
        "--hidden-size",
        "4",
        "--input-size",
        "2",
        "--rounds",
        "2",
        "--csv",
        str(out),
    ]
    assert main(args) == 0
    assert [r["cell"] for r in csv.DictReader(out.open())] == ["lstm[forget_bias=0]", "gru"]
    assert "lstm[forget_bias=0]" in capsys.readouterr().out  # not eaten as rich markup
    assert main(["bench", "--cells", "lstm[forget_bais=0]", "--seq-len", "2"]) == 2
    err = capsys.readouterr().err
    assert "forget_bias" in err and "timing" not in err  # fails before any timing


def _gpu_benchmark():
    import importlib.util
    from pathlib import Path

    bench_dir = Path(__file__).resolve().parent.parent / "benchmarks"
    spec = importlib.util.spec_from_file_location("gpu_benchmark", bench_dir / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_gpu_benchmark_runs_its_cpu_parts_and_prints_one_table(capsys):
    gpu = _gpu_benchmark()
    text = gpu.main(["--device", "cpu", "--smoke", "--no-compile"])
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    whats = [line.split("|")[1].strip() for line in lines[1:]]
    assert whats == [
        "seqlab rnn", "seqlab lstm", "seqlab gru", "plugin LSTM, eager",
        "plugin LSTM, compiled", "mingru scan, T=6", "minlstm scan, T=6",
    ]  # fmt: skip
    assert all("×" in line for line in lines[1:])
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="needs a CUDA GPU"):
            gpu.main([])
