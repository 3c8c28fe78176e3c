"""seqlab bench: rows for every cell, CSV output, clear errors (no timing asserts)."""

from __future__ import annotations

import csv

import pytest

from seqlab.bench import bench_cells
from seqlab.cli import main
from seqlab.errors import ConfigError


def test_bench_rows_have_consistent_fields():
    rows = bench_cells(
        ["rnn", "gru"], batch_size=4, seq_len=5, input_size=3, hidden_size=8, rounds=1, repeats=1
    )
    assert [r.cell for r in rows] == ["rnn", "gru"]
    for r in rows:
        assert r.fwd_bwd_ms > 0 and r.ratio_to_lstm > 0
        assert r.samples_per_s == pytest.approx(4 / (r.fwd_bwd_ms / 1e3), rel=1e-2)  # ms is rounded
    assert rows[0].parameters == 8 * (3 + 8) + 2 * 8


def test_bench_cli_writes_csv_and_rejects_unknown_cells(tmp_path, capsys):
    out = tmp_path / "b.csv"
    assert (
        main(
            [
                "bench",
                "--cells",
                "lstm,janet",
                "--batch-size",
                "2",
                "--seq-len",
                "3",
                "--hidden-size",
                "4",
                "--input-size",
                "2",
                "--rounds",
                "1",
                "--csv",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert [r["cell"] for r in rows] == ["lstm", "janet"]
    assert main(["bench", "--cells", "lstmm"]) == 2
    assert "Did you mean 'lstm'" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        bench_cells([])
