"""``seqlab cells``, ``seqlab cells check NAME`` and ``seqlab cells show NAME``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.testing import all_checks

CHECK_NAMES = [c.__name__ for c in all_checks()]

MIXER = """
import torch
from torch import nn


class Mixer(nn.Module):
    '''Subtracts the batch mean: a batch-mixing cell the suite must reject.'''

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], 1)))
        h = h - h.mean(0, keepdim=True)
        return h, h
"""


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Rich wraps at 80 columns under capture; a wide console keeps names on one line."""
    from seqlab.cli.app import console

    monkeypatch.setattr(console, "_width", 200)


def test_cells_lists_builtins_and_the_plugin(capsys):
    assert main(["cells", "--input-size", "4", "--hidden-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "seqlab cells (input 4, hidden 8)" in out
    for name in ("lstm", "gru", "rnn", "janet", "seqlab-janet 0.1.0", "Cho et al. 2014"):
        assert name in out


def test_cells_check_lstm_passes_every_check(capsys):
    assert main(["cells", "check", "lstm"]) == 0
    out = capsys.readouterr().out
    for name in CHECK_NAMES:
        assert f"│ {name} " in out
    assert out.count("PASSED") == len(CHECK_NAMES)
    assert f"{len(CHECK_NAMES)} passed ({len(CHECK_NAMES)} checks)." in out


def test_cells_check_janet_plugin_with_options(capsys):
    assert main(["cells", "check", "janet", "--hidden-size", "6", "--cell-opt", "beta=0.5"]) == 0
    out = capsys.readouterr().out
    assert "conformance of 'janet' (input_size=3, hidden_size=6, beta=0.5)" in out
    assert "SKIPPED" in out and "has no forward_sequence" in out
    assert f"{len(CHECK_NAMES) - 1} passed, 1 skipped" in out


def test_cells_check_failing_cell_exits_1_naming_the_check(capsys, make_distribution):
    make_distribution(
        "mixer-cells", "0.3.0", {"seqlab.cells": {"mixer": "mixer_mod:Mixer"}}, {"mixer_mod": MIXER}
    )
    assert main(["cells", "check", "mixer"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert "check_batch_independence failed for cell 'mixer'" in out
    assert "no statistics over the batch" in out


def test_cells_check_unknown_name_or_option_exits_2_with_did_you_mean(capsys):
    assert main(["cells", "check", "lstn"]) == 2
    err = capsys.readouterr().err
    assert "Unknown cell 'lstn'. Did you mean 'lstm'" in err
    assert main(["cells", "check", "lstm", "--cell-opt", "forgt_bias=0"]) == 2
    assert "Did you mean 'forget_bias'?" in capsys.readouterr().err
    assert main(["cells", "check", "rnn", "--cell-opt", "nonlinearity=gelu"]) == 2
    assert "rejected the options {'nonlinearity': 'gelu'}" in capsys.readouterr().err
    assert main(["cells", "show", "grux"]) == 2
    assert "Did you mean 'gru'" in capsys.readouterr().err


def test_cells_show_gru_prints_equations_options_sizes_and_reference(capsys):
    assert main(["cells", "show", "gru", "--input-size", "4", "--hidden-size", "6"]) == 0
    out = capsys.readouterr().out
    assert "seqlab.cells.gru.GRU (built-in)" in out
    assert "Cho et al. 2014" in out
    assert "h_t = (1 - z) ⊙ n_t + z ⊙ h_{t-1}" in out
    assert "reset_after │ bool │ True" in out
    assert f"{3 * 6 * (4 + 6) + 6 * 6:,}" in out  # 3H(I + H) + 6H
    assert "h (B, 6)" in out


def test_cells_show_plain_module_plugin_uses_its_docstring_and_signature(capsys):
    assert main(["cells", "show", "janet", "-o", "t_max=10"]) == 0
    out = capsys.readouterr().out
    assert "plugin seqlab-janet 0.1.0, entry point seqlab_janet.cell:JANET" in out
    assert "equations (the docstring)" in out
    assert "c_t  = σ(s_t) ⊙ c_{t-1} + (1 - σ(s_t - β)) ⊙ c̃_t" in out
    assert "t_max  │ int   │ 100" in out


@pytest.mark.slow  # a fresh interpreter imports torch: ~5 s on 2 cores
def test_seqlab_cells_in_a_real_subprocess():
    script = Path(sys.executable).with_name("seqlab")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "seqlab"]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [*cmd, "cells", "--hidden-size", "16"], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "seqlab cells (input 32, hidden 16)" in proc.stdout
    assert "janet" in proc.stdout and "lstm" in proc.stdout
