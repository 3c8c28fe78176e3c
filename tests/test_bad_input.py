"""Bad input, one table: every case exits 2 (or raises a specific SeqlabError from the Python
API) with one paragraph that names the problem and the fix, no traceback, and nothing written.

One good run (and a tiny charlm run for ``generate``) is trained once per module; every bad
file is derived from it. Each CLI case writes its runs into the directory that already holds
the good runs, and the whole module directory is fingerprinted ({path: (sha256, mtime_ns)})
before and after the case: nothing may be overwritten, created (no new run directory, no
stray ``.tmp`` file) or deleted. The working directory is an empty folder that must stay
empty.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from test_cli_train import TINY  # a 3-step fit of the adding task

from seqlab.cli import main
from seqlab.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    SeqlabError,
    UnknownNameError,
)


@dataclass(frozen=True)
class Ctx:
    """The module's good runs and the bad files derived from them."""

    root: Path  # fingerprinted before and after every case
    runs: Path  # holds the good runs; every `fit` case writes here (--run-dir)
    good: Path  # a finished adding/lstm run
    ckpt: Path  # its checkpoints/last.ckpt
    lm: Path  # a finished charlm run
    bad: Path  # derived bad checkpoints and configs
    data: Path  # data files

    def fit(self, *args: str) -> list[str]:
        return ["fit", *args, "--run-dir", str(self.runs), "--quiet"]


def _fit_ok(argv: list[str]) -> None:
    code = main(argv)
    assert code == 0, f"the good run failed (exit {code}): {argv}"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Ctx:
    root = tmp_path_factory.mktemp("bad-input")
    runs, bad, data = root / "runs", root / "bad", root / "data"
    bad.mkdir()
    data.mkdir()
    _fit_ok(["fit", "--cell", "lstm", "--run-dir", str(runs), "--name", "good", *TINY])
    corpus = data / "corpus.txt"
    corpus.write_text("to be or not to be that is the question " * 40, encoding="utf-8")
    # fmt: off
    _fit_ok([
        "fit", "--task", "charlm", "--task-opt", f"path={corpus}", "--task-opt", "seq_len=8",
        "--batch-size", "4", "--hidden-size", "8", "--max-steps", "1",
        "--set", "trainer.limit_val_batches=1", "--set", "trainer.num_sanity_val_steps=0",
        "--set", "trainer.test=false", "--set", "log.samples=false",
        "--run-dir", str(runs), "--name", "lm", "--quiet",
    ])
    # fmt: on
    (good,) = sorted(runs.glob("good-*"))
    (lm,) = sorted(runs.glob("lm-*"))
    ckpt = good / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and (lm / "checkpoints" / "last.ckpt").is_file()

    # -- checkpoints -----------------------------------------------------------------------
    raw = ckpt.read_bytes()
    (bad / "truncated.ckpt").write_bytes(raw[: len(raw) // 2])
    (bad / "empty.ckpt").write_bytes(b"")
    (bad / "notes.ckpt").write_text("these are my notes, not a checkpoint\n")
    (bad / "junk.ckpt").write_bytes(b"JUNK" + random.Random(0).randbytes(4096))
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    other = copy.deepcopy(saved)
    other["seqlab"]["cell"]["name"] = "gru"
    other["seqlab"]["config"]["model"]["cell"] = "gru"
    torch.save(other, bad / "other-cell.ckpt")
    plugin = copy.deepcopy(saved)
    plugin["seqlab"]["cell"] = {
        "name": "acmecell",
        "distribution": "acme-cells",
        "version": "9.9.1",
        "builtin": False,
        "entry_point": "acme_cells.cell:AcmeCell",
    }
    plugin["seqlab"]["config"]["model"]["cell"] = "acmecell"
    torch.save(plugin, bad / "plugin-cell.ckpt")
    extra = copy.deepcopy(saved)
    extra["extra"] = argparse.Namespace(a=1)
    torch.save(extra, bad / "extra-object.ckpt")

    # -- config files ----------------------------------------------------------------------
    (bad / "malformed.yaml").write_text("model: [unclosed\n")
    (bad / "list.yaml").write_text("- model\n- task\n")
    (bad / "binary.yaml").write_bytes(b"\xff\xfe\x00model:\x80\x81\n")
    (bad / "unknown-section.yaml").write_text("modle:\n  hidden_size: 8\n")
    (bad / "task-option.yaml").write_text("task:\n  name: adding\n  options:\n    seq_len: -3\n")

    # -- data files ------------------------------------------------------------------------
    (data / "empty.txt").write_bytes(b"")
    (data / "empty.csv").write_bytes(b"")
    junk = b"\x95\xff\x00\x81" + random.Random(1).randbytes(2000)
    (data / "binary.txt").write_bytes(junk)
    (data / "binary.csv").write_bytes(junk)
    lines = ["day,load"] + [f"{i},{i * 1.5}" for i in range(60)]
    lines[4] = "3,NaN"
    (data / "nan.csv").write_text("\n".join(lines) + "\n")
    lines = ["date,temp,humidity"] + [f"d{i},{i % 30},{i % 7}" for i in range(300)]
    lines[200] = "d199,3,high"  # line 201 of the file: one word in a numeric column
    (data / "weather.csv").write_text("\n".join(lines) + "\n")

    # -- run directories that cannot be resumed --------------------------------------------
    unfinished = runs / "unfinished-20000101-000000"
    unfinished.mkdir()
    shutil.copy(good / "config.yaml", unfinished / "config.yaml")
    return Ctx(root=root, runs=runs, good=good, ckpt=ckpt, lm=lm, bad=bad, data=data)


# -- plugin cells that break the contract ---------------------------------------------------
_WIDE_CELL = """
import torch
from torch import nn

class Wide(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.lin = nn.Linear(input_size + hidden_size, hidden_size + 1)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x, h):
        out = torch.tanh(self.lin(torch.cat([x, h], 1)))  # (B, hidden_size + 1)
        return out, out[:, : self.hidden_size]
"""

_DOUBLE_CELL = """
import torch
from torch import nn

class Double(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], 1)))
        return h.double(), h  # float64 output for float32 input
"""


@dataclass(frozen=True)
class Plugin:
    distribution: str
    name: str
    module: str
    source: str
    cls: str

    def install(self, make_distribution: Callable[..., Path]) -> None:
        make_distribution(
            self.distribution,
            "0.4",
            {"seqlab.cells": {self.name: f"{self.module}:{self.cls}"}},
            {self.module: self.source},
        )


_PLAIN_CELL = """
import torch
from torch import nn

class Plain(nn.Module):
    def __init__(self, input_size, hidden_size, dt=0.1):
        super().__init__()
        self.input_size, self.hidden_size, self.dt = input_size, hidden_size, dt
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x, h):
        h = h + self.dt * torch.tanh(self.lin(torch.cat([x, h], 1)))
        return h, h
"""

_STATELESS_CELL = """
import torch
from torch import nn

class Stateless(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, x, h):
        h = torch.tanh(self.lin(torch.cat([x, h], 1)))
        return h, h
"""

WIDE = Plugin("wide-cells", "widecell", "bad_input_wide", _WIDE_CELL, "Wide")
PLAIN = Plugin("plain-cells", "plaincell", "bad_input_plain", _PLAIN_CELL, "Plain")
STATELESS = Plugin(
    "stateless-cells", "statelesscell", "bad_input_stateless", _STATELESS_CELL, "Stateless"
)
DOUBLE = Plugin("double-cells", "doublecell", "bad_input_double", _DOUBLE_CELL, "Double")


# -- the table ---------------------------------------------------------------------------------
Pattern = str | re.Pattern[str]


@dataclass(frozen=True)
class Case:
    """One bad input.

    ``argv(ctx)`` runs the CLI (expect exit 2); ``call(ctx)`` the Python API (expect
    ``raises``). ``problem`` and ``fix`` must both appear in the message (a str is a
    substring, a compiled pattern is searched), as must everything in ``also``.
    """

    id: str
    problem: Pattern
    fix: Pattern
    argv: Callable[[Ctx], list[str]] | None = None
    call: Callable[[Ctx], Any] | None = None
    raises: type[SeqlabError] | None = None
    also: tuple[Pattern, ...] = ()
    plugin: Plugin | None = None
    code: int = 2


def _cli(id: str, argv: Callable[[Ctx], list[str]], problem: Pattern, fix: Pattern, **kw) -> Case:
    return Case(id=id, argv=argv, problem=problem, fix=fix, **kw)


def _api(
    id: str,
    call: Callable[[Ctx], Any],
    raises: type[SeqlabError],
    problem: Pattern,
    fix: Pattern,
    **kw,
) -> Case:
    return Case(id=id, call=call, raises=raises, problem=problem, fix=fix, **kw)


def _load_checkpoint(path: Path) -> Any:
    from seqlab.training import load_checkpoint

    return load_checkpoint(path)


def _create_cell(name: str, **options: Any) -> Any:
    from seqlab.cells import create_cell

    return create_cell(name, 3, 4, **options)


def _get_cell(name: str) -> Any:
    import seqlab

    return seqlab.get_cell(name)


def _fit_api(c: Ctx, **flags: Any) -> Any:
    from seqlab.config import resolve_config
    from seqlab.training import fit

    cfg = resolve_config(flags={"run.dir": str(c.runs), "run.quiet": True, **flags})
    return fit(cfg)


def _setup_task(name: str, **options: Any) -> Any:
    from seqlab.tasks import create_task

    task = create_task(name, **options)
    task.setup("fit")
    return task


def _resolve(**kw: Any) -> Any:
    from seqlab.config import resolve_config

    return resolve_config(**kw)


def _load_config(path: Path) -> Any:
    from seqlab.config import Config

    return Config.load(path)


UNREADABLE_FIX = re.compile(r"(?i)use another checkpoint|pass a \.ckpt|checkpoints/(last|best)")

CASES: list[Case] = [
    # -- cells ---------------------------------------------------------------------------------
    _cli(
        "cell-unknown",
        lambda c: c.fit("--cell", "lstn", *TINY[:-1]),
        "Unknown cell 'lstn'",
        "Did you mean 'lstm'",
        also=("Available cells:",),
    ),
    _cli(
        "cell-option-unknown",
        lambda c: c.fit("--cell", "lstm", "--cell-opt", "forget_bais=1"),
        "no option 'forget_bais'",
        "Did you mean 'forget_bias'",
    ),
    _cli(
        "cell-option-wrong-type",
        lambda c: c.fit("--cell", "lstm", "--cell-opt", "forget_bias=abc"),
        "forget_bias",
        "must be a number",
        also=("'abc'",),
    ),
    _cli(
        "cell-option-bad-choice",
        lambda c: c.fit("--cell", "rnn", "--cell-opt", "nonlinearity=sigmoid"),
        "nonlinearity",
        re.compile(r"must be one of tanh, relu"),
        also=("'sigmoid'",),
    ),
    _cli(
        "cells-show-unknown",
        lambda c: ["cells", "show", "lstn"],
        "Unknown cell 'lstn'",
        "Did you mean 'lstm'",
    ),
    _cli(
        "cells-show-unknown-option",
        lambda c: ["cells", "show", "lstm", "--cell-opt", "forget_bais=1"],
        "no option 'forget_bais'",
        "Did you mean 'forget_bias'",
    ),
    _cli(
        "compare-unknown-cell",
        lambda c: [
            "compare",
            "--cells",
            "lstm,gruu",
            "--seeds",
            "1",
            "--max-steps",
            "1",
            "--workers",
            "0",
            "--out",
            str(c.runs / "comparison"),
        ],
        "Unknown cell 'gruu'",
        "Did you mean 'gru'",
    ),
    _cli(
        "plugin-cell-wrong-shape",
        lambda c: c.fit("--cell", WIDE.name, *TINY[:-1]),
        f"cell '{WIDE.name}'",
        f"seqlab cells check {WIDE.name}",
        also=(f"'{WIDE.distribution}'", "shape"),
        plugin=WIDE,
    ),
    _cli(
        "plugin-cell-wrong-dtype",
        lambda c: c.fit("--cell", DOUBLE.name, *TINY[:-1]),
        f"cell '{DOUBLE.name}'",
        f"seqlab cells check {DOUBLE.name}",
        also=(f"'{DOUBLE.distribution}'", "float64"),
        plugin=DOUBLE,
    ),
    _cli(
        "cells-show-option-wrong-type",
        lambda c: ["cells", "show", "lstm", "--cell-opt", "bias=maybe"],
        "option bias='maybe'",
        "must be true or false",
    ),
    _cli(
        "plugin-option-semicolons",
        lambda c: [
            "compare",
            "--cells",
            f"{PLAIN.name}[dt=0.034;gamma=1.3]",
            "--max-steps",
            "1",
            "--out",
            str(c.runs / "comparison"),
        ],
        f"cell '{PLAIN.name}': option dt='0.034;gamma=1.3' must be a number",
        "separated by commas",
        plugin=PLAIN,
    ),
    _cli(
        "plugin-without-initial-state-show",
        lambda c: ["cells", "show", STATELESS.name],
        f"cell '{STATELESS.name}' breaks seqlab's cell contract",
        f"seqlab cells check {STATELESS.name}",
        also=(f"'{STATELESS.distribution}'", "initial_state"),
        plugin=STATELESS,
    ),
    _cli(
        "plugin-without-initial-state-fit",
        lambda c: c.fit("--cell", STATELESS.name, *TINY[:-1]),
        "check_constructor failed",
        f"seqlab cells check {STATELESS.name}",
        also=(f"'{STATELESS.distribution}'", "no method initial_state"),
        plugin=STATELESS,
    ),
    # -- tasks and data ------------------------------------------------------------------------
    _cli(
        "task-unknown",
        lambda c: c.fit("--task", "addin"),
        "Unknown task 'addin'",
        "Did you mean 'adding'",
    ),
    _cli(
        "task-option-unknown",
        lambda c: c.fit("--task-opt", "sequence_length=5"),
        "task 'adding' has no option 'sequence_length'",
        "Did you mean 'seq_len'",
    ),
    _cli(
        "task-option-out-of-range",
        lambda c: c.fit("--task-opt", "seq_len=0"),
        "seq_len=0 is invalid",
        "must be an integer ≥ 2",
    ),
    _cli(
        "task-option-not-key-value",
        lambda c: c.fit("--task-opt", "seq_len"),
        "--task-opt expects KEY=VALUE, got 'seq_len'",
        "for example --task-opt seq_len=",
    ),
    _cli(
        "ucr-unknown-dataset",
        lambda c: c.fit("--task", "ucr", "--task-opt", "dataset=GunPiont"),
        "unknown dataset 'GunPiont'",
        "Did you mean 'GunPoint'",
    ),
    _cli(
        "forecast-unknown-dataset",
        lambda c: c.fit("--task", "forecast", "--task-opt", "dataset=sunspot"),
        "unknown dataset 'sunspot'",
        "Did you mean 'sunspots'",
        also=("path=FILE",),
    ),
    _cli(
        "charlm-missing-file",
        lambda c: c.fit("--task", "charlm", "--task-opt", f"path={c.data / 'nope.txt'}"),
        "nope.txt' does not exist",
        "Pass the path of an existing file",
    ),
    _cli(
        "charlm-empty-file",
        lambda c: c.fit("--task", "charlm", "--task-opt", f"path={c.data / 'empty.txt'}"),
        "empty.txt is empty",
        "Pass a file with data",
    ),
    _cli(
        "charlm-binary-file",
        lambda c: c.fit("--task", "charlm", "--task-opt", f"path={c.data / 'binary.txt'}"),
        "binary.txt is not UTF-8 text",
        "Re-encode the file as UTF-8",
    ),
    _cli(
        "text-missing-file",
        lambda c: c.fit("--task", "text", "--task-opt", f"path={c.data / 'nope.csv'}"),
        "nope.csv' does not exist",
        "Pass the path of an existing file",
    ),
    _cli(
        "text-empty-file",
        lambda c: c.fit("--task", "text", "--task-opt", f"path={c.data / 'empty.csv'}"),
        "empty.csv is empty",
        "Pass a file with data",
    ),
    _cli(
        "text-binary-file",
        lambda c: c.fit("--task", "text", "--task-opt", f"path={c.data / 'binary.csv'}"),
        "binary.csv is not UTF-8 text",
        "Re-encode the file as UTF-8",
    ),
    _cli(
        "forecast-nan",
        lambda c: c.fit("--task", "forecast", "--task-opt", f"path={c.data / 'nan.csv'}"),
        "column 'load' of",
        "interpolate missing values",
        also=("missing (NaN) at line 5",),
    ),
    _cli(
        "forecast-word-in-inferred-column",
        lambda c: c.fit("--task", "forecast", "--task-opt", f"path={c.data / 'weather.csv'}"),
        "column 'humidity' of",
        "Fill or interpolate",
        also=("is not a number ('high') at line 201",),
    ),
    # -- model, optimiser and trainer settings -------------------------------------------------
    _cli(
        "val-check-interval-over-an-epoch",
        lambda c: c.fit(*TINY, "--set", "trainer.val_check_interval=50"),
        "trainer.val_check_interval=50 is more than the 2 training batches of one epoch",
        "--set trainer.check_val_every_n_epoch=null",
    ),
    _cli(
        "hidden-size-zero",
        lambda c: c.fit("--hidden-size", "0"),
        "model.hidden_size",
        "must be positive, got 0",
    ),
    _cli(
        "dropout-out-of-range",
        lambda c: c.fit("--dropout", "1.5"),
        "model.dropout",
        "must be a probability in [0, 1), got 1.5",
    ),
    _cli(
        "lr-negative",
        lambda c: c.fit("--lr", "-0.1"),
        "optim.lr",
        "must be positive, got -0.1",
    ),
    _cli(
        "optimizer-unknown",
        lambda c: c.fit("--set", "optim.name=adamm"),
        "optim.name='adamm'",
        "Did you mean 'adam'",
        also=("Choose one of: adam, adamw, sgd, rmsprop",),
    ),
    _cli(
        "never-stops",
        lambda c: c.fit("--set", "trainer.max_epochs=null", "--set", "trainer.max_steps=-1"),
        "would never stop",
        "--max-steps",
    ),
    _cli(
        "accelerator-unknown",
        lambda c: c.fit("--accelerator", "gpuu"),
        "unknown accelerator 'gpuu'",
        "Did you mean 'gpu'",
        also=("Use one of: auto, cpu",),
    ),
    _cli(
        "devices-too-many",
        lambda c: c.fit("--accelerator", "cpu", "--devices", "999"),
        "asks for 999 devices",
        re.compile(r"Use --devices \d+ or fewer"),
    ),
    _cli(
        "devices-not-a-count",
        lambda c: c.fit("--devices", "many"),
        "trainer.devices='many'",
        "such as '0,1'",
    ),
    _cli(
        "strategy-unknown",
        lambda c: c.fit("--strategy", "dpp"),
        "unknown strategy 'dpp'",
        "Did you mean 'ddp'",
    ),
    _cli(
        "precision-unknown",
        lambda c: c.fit("--precision", "17"),
        "trainer.precision='17'",
        "Choose one of: 32-true",
    ),
    _cli(
        "grad-flow-malformed",
        lambda c: c.fit("--grad-flow", "sometimes"),
        "--grad-flow 'sometimes'",
        "--grad-flow every=50",
    ),
    _cli(
        "logger-unknown",
        lambda c: c.fit("--logger", "wandbb"),
        "log.logger='wandbb'",
        "Did you mean 'wandb'",
        also=("Choose one of: wandb, csv, tensorboard, none",),
    ),
    # -- --set and config files ----------------------------------------------------------------
    _cli(
        "set-unknown-key",
        lambda c: c.fit("--set", "optim.lrr=0.1"),
        "unknown config key 'optim.lrr'",
        "Did you mean 'optim.lr'",
        also=("The keys of 'optim' are:",),
    ),
    _cli(
        "set-key-named-as-elsewhere",
        lambda c: c.fit("--set", "optim.learning_rate=0.1"),
        "unknown config key 'optim.learning_rate'",
        "Did you mean 'optim.lr'",
    ),
    _cli(
        "set-wrong-type",
        lambda c: c.fit("--set", "model.hidden_size=abc"),
        "model.hidden_size='abc' (from --set) has the wrong type",
        "it must be an integer",
    ),
    _cli(
        "set-not-key-value",
        lambda c: c.fit("--set", "optim.lr"),
        "--set expects SECTION.KEY=VALUE, got 'optim.lr'",
        "for example --set optim.lr=3e-4",
    ),
    _cli(
        "config-malformed-yaml",
        lambda c: c.fit("--config", str(c.bad / "malformed.yaml")),
        re.compile(r"malformed\.yaml' is not valid YAML at line \d+, column \d+"),
        "Fix the file",
    ),
    _cli(
        "config-yaml-is-a-list",
        lambda c: c.fit("--config", str(c.bad / "list.yaml")),
        "got a list",
        "must hold a mapping of sections (model, task, optim, trainer, run, log)",
    ),
    _cli(
        "config-binary",
        lambda c: c.fit("--config", str(c.bad / "binary.yaml")),
        "binary.yaml' is not UTF-8 text",
        re.compile(r"(?i)re-?encode|save it as UTF-8|iconv"),
    ),
    _cli(
        "config-missing",
        lambda c: c.fit("--config", str(c.bad / "nope.yaml")),
        "nope.yaml' does not exist",
        "pass a YAML file",
    ),
    _cli(
        "config-unknown-section",
        lambda c: c.fit("--config", str(c.bad / "unknown-section.yaml")),
        "unknown config key 'modle'",
        "Did you mean 'model'",
        also=("unknown-section.yaml",),
    ),
    _cli(
        "config-task-option-out-of-range",
        lambda c: c.fit("--config", str(c.bad / "task-option.yaml")),
        "seq_len=-3 is invalid",
        "must be an integer ≥ 2",
    ),
    # -- checkpoints ---------------------------------------------------------------------------
    _cli(
        "ckpt-truncated",
        lambda c: ["validate", "--ckpt", str(c.bad / "truncated.ckpt"), "--quiet"],
        "truncated.ckpt",
        "Use another checkpoint",
        also=("is corrupt or truncated",),
    ),
    _cli(
        "ckpt-empty",
        lambda c: ["validate", "--ckpt", str(c.bad / "empty.ckpt"), "--quiet"],
        "empty.ckpt is empty (0 bytes)",
        UNREADABLE_FIX,
    ),
    _cli(
        "ckpt-text-file",
        lambda c: ["test", "--ckpt", str(c.bad / "notes.ckpt"), "--quiet"],
        "notes.ckpt is not a PyTorch checkpoint",
        UNREADABLE_FIX,
    ),
    _cli(
        "ckpt-binary-junk",
        lambda c: ["validate", "--ckpt", str(c.bad / "junk.ckpt"), "--quiet"],
        "junk.ckpt is not a PyTorch checkpoint",
        UNREADABLE_FIX,
    ),
    _cli(
        "ckpt-missing",
        lambda c: ["validate", "--ckpt", str(c.bad / "nope.ckpt"), "--quiet"],
        "nope.ckpt does not exist",
        "Pass a .ckpt file",
    ),
    _cli(
        "ckpt-dir-without-checkpoints",
        lambda c: ["test", "--ckpt", str(c.bad), "--quiet"],
        "is a directory without checkpoints/best.ckpt",
        "pass a checkpoint file",
    ),
    _cli(
        "ckpt-of-another-cell",
        lambda c: ["validate", "--ckpt", str(c.bad / "other-cell.ckpt"), "--quiet"],
        "do not fit the model its config describes (cell 'gru')",
        "another cell installed under the same name",
    ),
    _cli(
        "ckpt-needs-uninstalled-plugin",
        lambda c: ["validate", "--ckpt", str(c.bad / "plugin-cell.ckpt"), "--quiet"],
        "cell 'acmecell' from the distribution 'acme-cells' (version 9.9.1)",
        "pip install 'acme-cells==9.9.1'",
    ),
    _cli(
        "ckpt-with-python-objects",
        lambda c: ["validate", "--ckpt", str(c.bad / "extra-object.ckpt"), "--quiet"],
        "holds Python objects other than tensors",
        "--trust-checkpoint",
    ),
    _cli(
        "generate-truncated-ckpt",
        lambda c: ["generate", "--ckpt", str(c.bad / "truncated.ckpt"), "--length", "3"],
        "is corrupt or truncated",
        "Use another checkpoint",
    ),
    _cli(
        "generate-not-a-language-model",
        lambda c: ["generate", "--ckpt", str(c.good), "--prompt", "hi", "--length", "3"],
        "is a regression model of task 'adding'",
        "needs a language model (e.g. charlm)",
    ),
    _cli(
        "generate-unseen-characters",
        lambda c: ["generate", "--ckpt", str(c.lm), "--prompt", "xyz#", "--length", "3"],
        "4 character(s) the model never saw: '#', 'x', 'y', 'z'",
        "Use only the training text's characters",
    ),
    # -- resuming ------------------------------------------------------------------------------
    _cli(
        "resume-missing-dir",
        lambda c: ["fit", "--resume", str(c.runs / "no-such-run"), "--quiet"],
        "no-such-run: it does not exist",
        "--resume takes a run directory made by `seqlab fit`",
    ),
    _cli(
        "resume-not-a-run",
        lambda c: ["fit", "--resume", str(c.bad), "--quiet"],
        "has no config.yaml",
        "--resume takes a run directory made by `seqlab fit`",
    ),
    _cli(
        "resume-without-last-ckpt",
        lambda c: ["fit", "--resume", str(c.runs / "unfinished-20000101-000000"), "--quiet"],
        "has no checkpoints/last.ckpt",
        "Start it again instead",
    ),
    _cli(
        "resume-with-another-cell",
        lambda c: ["fit", "--resume", str(c.good), "--cell", "gru", "--quiet"],
        "model.cell ('lstm' → 'gru')",
        "start a new run",
    ),
    _cli(
        "resume-with-another-seed",
        lambda c: ["fit", "--resume", str(c.good), "--seed", "5", "--quiet"],
        "trainer.seed (0 → 5)",
        "start a new run",
    ),
    _cli(
        "resume-with-another-hidden-size",
        lambda c: ["fit", "--resume", str(c.good), "--set", "model.hidden_size=9", "--quiet"],
        "model.hidden_size (8 → 9)",
        "start a new run",
    ),
    # -- the Python API ------------------------------------------------------------------------
    _api(
        "api-load-truncated-checkpoint",
        lambda c: _load_checkpoint(c.bad / "truncated.ckpt"),
        CheckpointError,
        "is corrupt or truncated",
        "Use another checkpoint",
    ),
    _api(
        "api-load-checkpoint-of-another-cell",
        lambda c: _load_checkpoint(c.bad / "other-cell.ckpt"),
        CheckpointError,
        "do not fit the model",
        "another cell installed under the same name",
    ),
    _api(
        "api-create-cell-unknown-option",
        lambda c: _create_cell("lstm", forget_bais=1.0),
        ConfigError,
        "no option 'forget_bais'",
        "Did you mean 'forget_bias'",
    ),
    _api(
        "api-get-cell-unknown",
        lambda c: _get_cell("lstn"),
        UnknownNameError,
        "Unknown cell 'lstn'",
        "Did you mean 'lstm'",
    ),
    _api(
        "api-fit-unknown-cell",
        lambda c: _fit_api(c, **{"model.cell": "gruu"}),
        UnknownNameError,
        "Unknown cell 'gruu'",
        "Did you mean 'gru'",
    ),
    _api(
        "api-forecast-nan",
        lambda c: _setup_task("forecast", path=str(c.data / "nan.csv")),
        DataError,
        "missing (NaN) at line 5",
        "interpolate missing values",
    ),
    _api(
        "api-set-unknown-key",
        lambda c: _resolve(overrides=["trainer.max_step=5"]),
        ConfigError,
        "unknown config key 'trainer.max_step'",
        "Did you mean 'trainer.max_steps'",
    ),
    _api(
        "api-config-load-list",
        lambda c: _load_config(c.bad / "list.yaml"),
        ConfigError,
        "got a list",
        "must hold a mapping of sections",
    ),
]


# -- checks --------------------------------------------------------------------------------------
def fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    """{relative path: (sha256, mtime_ns)} of every file and directory under ``root``."""
    out: dict[str, tuple[str, int]] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_dir():
            out[rel + "/"] = ("dir", 0)  # a created or removed directory shows up
        else:
            out[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


def _contains(text: str, pattern: Pattern) -> bool:
    if isinstance(pattern, re.Pattern):
        return pattern.search(text) is not None
    return pattern in text


def _check_message(case: Case, message: str) -> None:
    for what, pattern in [("problem", case.problem), ("fix", case.fix)] + [
        ("also", p) for p in case.also
    ]:
        shown = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
        assert _contains(message, pattern), f"{what} {shown!r} not in message: {message}"


def _diff(before: dict, after: dict) -> str:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"added {added}, removed {removed}, changed {changed}"


def test_the_table_is_big_and_well_formed() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 34
    for c in CASES:
        assert (c.argv is None) != (c.call is None), c.id
        assert (c.call is None) == (c.raises is None), c.id


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(
    case: Case,
    ctx: Ctx,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if case.plugin is not None:
        case.plugin.install(request.getfixturevalue("make_distribution"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # anything written to a default place lands here
    before = fingerprint(ctx.root)
    capsys.readouterr()
    if case.argv is not None:
        code = main(case.argv(ctx))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        assert code == case.code, f"exit {code}, stderr: {err} stdout: {out}"
        message = " ".join(err.split())  # rich may wrap long lines
        assert message.startswith("error:"), err
        assert "\n\n" not in err.strip(), f"more than one paragraph: {err}"
        assert out.strip() == "", f"stdout should be empty on an error: {out}"
    else:
        assert case.raises is not None and case.call is not None
        with pytest.raises(case.raises) as exc:
            case.call(ctx)
        message = " ".join(str(exc.value).split())
        assert isinstance(exc.value, SeqlabError) and exc.value.exit_code == 2
    _check_message(case, message)
    after = fingerprint(ctx.root)
    assert after == before, f"files changed under {ctx.root}: {_diff(before, after)}"
    assert list(cwd.iterdir()) == [], f"written to the working directory: {list(cwd.iterdir())}"


def test_checkpoint_with_python_objects_needs_trust_checkpoint(
    ctx: Ctx,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A checkpoint holding a pickled Python object is refused unless the user trusts it."""
    monkeypatch.chdir(tmp_path)
    ckpt = ctx.bad / "extra-object.ckpt"
    before = fingerprint(ctx.root)
    capsys.readouterr()
    assert main(["validate", "--ckpt", str(ckpt), "--quiet"]) == 2
    out, err = capsys.readouterr()
    message = " ".join(err.split())
    assert message.startswith("error:") and "Traceback" not in out + err
    assert "extra-object.ckpt" in message and "--trust-checkpoint" in message
    assert fingerprint(ctx.root) == before

    with pytest.warns(UserWarning, match=r"in full, as --trust-checkpoint .*argparse.Namespace"):
        code = main(["validate", "--ckpt", str(ckpt), "--quiet", "--trust-checkpoint"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "val_mse" in out and "Traceback" not in out + err
    after = fingerprint(ctx.root)
    assert after == before, _diff(before, after)
