"""The cell registry with real entry points: discovery, laziness, errors, disabling."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch

from seqlab.cells import REGISTRY, cell_info, cell_source, create_cell, get_cell, list_cells
from seqlab.errors import ConfigError, DuplicateNameError, PluginError, UnknownNameError

GOOD_CELL = """
import torch
from torch import nn

IMPORTED = True

class Twin(nn.Module):
    def __init__(self, input_size, hidden_size, scale=1.0):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)
        self.scale = scale

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], 1))) * self.scale
        return h, h
"""


def test_builtins_listed_and_fnmatch():
    names = list_cells()
    assert {"rnn", "lstm", "gru"} <= set(names)
    assert names == sorted(names)
    assert list_cells("l*") == [n for n in names if n.startswith("l")]
    assert list_cells("nothing-matches-*") == []


def test_builtin_source_and_parameter_count():
    src = cell_source("lstm")
    assert src.builtin and str(src) == "built-in"
    info = cell_info("lstm", input_size=32, hidden_size=128)
    assert info.parameters == 4 * 128 * (32 + 128) + 8 * 128
    assert cell_info("gru", 32, 128).parameters == 3 * 128 * (32 + 128) + 6 * 128
    assert cell_info("rnn", 32, 128).parameters == 128 * (32 + 128) + 2 * 128
    assert info.state_shapes == ((1, 128), (1, 128))
    assert info.has_forward_sequence
    assert info.flops_per_step == 2 * 4 * 128 * (32 + 128)


def test_installed_example_plugin_is_discovered_through_its_entry_point():
    """plugins/seqlab-janet is pip-installed by the set-up command; it registers 'janet'."""
    assert "janet" in list_cells()
    src = cell_source("janet")
    assert not src.builtin
    assert src.distribution == "seqlab-janet"
    assert src.entry_point == "seqlab_janet.cell:JANET"
    cell = create_cell("janet", 3, 5)
    assert type(cell).__module__ == "seqlab_janet.cell"
    h, _state = cell(torch.randn(2, 3), cell.initial_state(2))
    assert h.shape == (2, 5)


def test_listing_does_not_import_plugins_and_selecting_imports_only_that_one(make_distribution):
    make_distribution(
        "acme-cells",
        "1.2.0",
        {"seqlab.cells": {"twin": "acme_twin:Twin", "other": "acme_other:Twin"}},
        {"acme_twin": GOOD_CELL, "acme_other": GOOD_CELL},
    )
    assert {"twin", "other"} <= set(list_cells())
    assert "acme_twin" not in sys.modules and "acme_other" not in sys.modules
    cls = get_cell("twin")
    assert "acme_twin" in sys.modules and "acme_other" not in sys.modules
    assert cls.__name__ == "Twin"
    assert str(cell_source("twin")) == "acme-cells 1.2.0"
    cell = create_cell("twin", 4, 6, scale=0.5)
    assert cell.scale == 0.5
    from seqlab import Recurrent

    out, _ = Recurrent("twin", 4, 6, num_layers=2, bidirectional=True)(torch.randn(3, 5, 4))
    assert out.shape == (3, 5, 12)


def test_unknown_name_suggests_close_matches_and_lists_available():
    with pytest.raises(UnknownNameError) as exc:
        get_cell("lstn")
    msg = str(exc.value)
    assert "Unknown cell 'lstn'" in msg
    assert "Did you mean 'lstm'" in msg
    assert "Available cells:" in msg and "gru" in msg and "rnn" in msg
    assert "seqlab.cells" in msg  # says where third-party cells come from


def test_unknown_option_names_the_option_and_suggests():
    with pytest.raises(ConfigError, match=r"no option 'forget_bais'.*Did you mean 'forget_bias'"):
        create_cell("lstm", 3, 4, forget_bais=1.0)
    with pytest.raises(ConfigError, match="nonlinearity"):
        create_cell("rnn", 3, 4, nonlinearity="sigmoid")


def test_broken_plugin_warns_when_listing_and_fails_with_distribution_when_selected(
    make_distribution,
):
    make_distribution(
        "broken-cells",
        "0.3",
        {
            "seqlab.cells": {
                "broken": "broken_mod:Cell",
                "needsdep": "needsdep_mod:Cell",
                "good": "good_mod:Twin",
            }
        },
        {
            "broken_mod": "raise RuntimeError('boom at import')\n",
            "needsdep_mod": "import definitely_not_installed_pkg\n",
            "good_mod": GOOD_CELL,
        },
    )
    # Listing names never imports: all three are listed.
    assert {"broken", "needsdep", "good"} <= set(list_cells())
    # Loading everything (what `seqlab cells` does) warns for the broken ones, keeps the rest.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = REGISTRY.load_all()
    assert "good" in loaded and "lstm" in loaded
    assert "broken" not in loaded and "needsdep" not in loaded
    texts = " ".join(str(w.message) for w in caught)
    assert "broken-cells" in texts and "boom at import" in texts
    # Selecting fails with the distribution's name and the cause chained.
    with pytest.raises(PluginError) as exc:
        get_cell("broken")
    assert "broken-cells" in str(exc.value) and "RuntimeError: boom at import" in str(exc.value)
    assert isinstance(exc.value.__cause__, RuntimeError)
    with pytest.raises(PluginError) as exc:
        get_cell("needsdep")
    msg = str(exc.value)
    assert (
        "definitely_not_installed_pkg" in msg and "pip install definitely_not_installed_pkg" in msg
    )
    assert isinstance(exc.value.__cause__, ModuleNotFoundError)


def test_entry_point_that_is_not_a_module_class_is_rejected(make_distribution):
    make_distribution(
        "weird",
        "1.0",
        {"seqlab.cells": {"weird": "weird_mod:VALUE"}},
        {"weird_mod": "VALUE = 42\n"},
    )
    with pytest.raises(PluginError, match=r"weird.*not a torch.nn.Module subclass"):
        get_cell("weird")


def test_duplicate_names_error_names_both_sources(make_distribution):
    make_distribution(
        "first-dist", "1.0", {"seqlab.cells": {"dup": "dup_a:Twin"}}, {"dup_a": GOOD_CELL}
    )
    make_distribution(
        "second-dist", "2.0", {"seqlab.cells": {"dup": "dup_b:Twin"}}, {"dup_b": GOOD_CELL}
    )
    with pytest.raises(DuplicateNameError) as exc:
        get_cell("dup")
    msg = str(exc.value)
    assert "first-dist" in msg and "second-dist" in msg
    # A qualified name picks one source.
    assert get_cell("second-dist:dup").__module__ == "dup_b"


def test_plugin_shadowing_a_builtin_is_a_conflict(make_distribution):
    make_distribution(
        "shadow", "1.0", {"seqlab.cells": {"gru": "shadow_mod:Twin"}}, {"shadow_mod": GOOD_CELL}
    )
    with pytest.raises(DuplicateNameError, match=r"'seqlab'.*'shadow'"):
        get_cell("gru")
    assert get_cell("seqlab:gru").__module__ == "seqlab.cells.gru"


def test_disable_plugins_env_skips_without_importing(make_distribution, monkeypatch):
    make_distribution(
        "acme-cells",
        "1.0",
        {"seqlab.cells": {"twin": "acme_twin2:Twin"}},
        {"acme_twin2": "raise RuntimeError('must never be imported')\n"},
    )
    monkeypatch.setenv("SEQLAB_DISABLE_PLUGINS", "twin")
    assert "twin" not in list_cells()
    with pytest.raises(UnknownNameError, match="disabled by SEQLAB_DISABLE_PLUGINS"):
        get_cell("twin")
    monkeypatch.setenv("SEQLAB_DISABLE_PLUGINS", "acme-cells")  # distribution names work too
    assert "twin" not in list_cells()
    monkeypatch.setenv("SEQLAB_DISABLE_PLUGINS", "*")
    assert "janet" not in list_cells() and "lstm" in list_cells()
    assert "acme_twin2" not in sys.modules


def test_cli_cells_table_survives_a_broken_plugin(make_distribution, capsys):
    from seqlab.cli import main

    make_distribution(
        "broken-cells",
        "0.3",
        {"seqlab.cells": {"broken": "broken_mod2:Cell"}},
        {"broken_mod2": "raise RuntimeError('boom')\n"},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["cells"]) == 0
    out = capsys.readouterr().out
    assert "lstm" in out and "janet" in out and "seqlab-janet" in out.replace("\n", "")
    assert any("broken-cells" in str(w.message) for w in caught)


def test_cli_cells_subprocess_lists_sources():
    res = subprocess.run(
        [sys.executable, "-m", "seqlab", "cells", "--hidden-size", "16"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "COLUMNS": "200"},
    )
    assert res.returncode == 0, res.stderr
    assert "built-in" in res.stdout and "seqlab-janet 0.1.0" in res.stdout
    assert "Traceback" not in res.stderr


def test_cli_error_text_with_square_brackets_is_printed_verbatim(capsys):
    """Error paragraphs are plain text: rich must not read `[...]` in them as markup."""
    from seqlab.cli import main

    assert main(["compare", "--cells", "lstm[forget_bias]", "--max-steps", "1"]) == 2
    assert "write e.g. lstm[forget_bias=0]." in capsys.readouterr().err
