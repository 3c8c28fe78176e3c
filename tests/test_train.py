"""seqlab.config and seqlab.training: layers, run directories, checkpoints, exact resume."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

from seqlab.config import Config, resolve_config
from seqlab.errors import CheckpointError, ConfigError
from seqlab.training import (
    EpochSampler,
    ResumableLoader,
    check_devices,
    fit,
    generate,
    load_checkpoint,
    read_checkpoint,
    read_metrics,
    test,
    validate,
)
from seqlab.training.checkpoint import atomic_write

TINY = {
    "model.hidden_size": 8,
    "task.batch_size": 32,
    "trainer.max_steps": 4,
    "trainer.max_epochs": None,
    "trainer.num_sanity_val_steps": 0,
    "log.every_n_steps": 1,
    "run.quiet": True,
}
TINY_ADDING = {
    "task.options.n_train": 96,
    "task.options.n_val": 32,
    "task.options.n_test": 32,
    "task.options.seq_len": 6,
}


def tiny(tmp_path: Path, **flags) -> Config:
    """A fit of a few steps (of the adding problem: 3 batches of 32 per epoch)."""
    task = {} if "task.name" in flags else TINY_ADDING
    return resolve_config(flags={**TINY, **task, "run.dir": str(tmp_path / "runs"), **flags})


def text_file(tmp_path: Path, chars: int = 12_000) -> Path:
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "sleeps", "all", "day"]
    rng = random.Random(0)
    text = " ".join(rng.choice(words) for _ in range(chars // 4))[:chars]
    path = tmp_path / "corpus.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def charlm(tmp_path: Path, **flags) -> Config:
    return tiny(
        tmp_path,
        **{
            "task.name": "charlm",
            "task.options.path": str(text_file(tmp_path)),
            "task.options.seq_len": 16,
            "task.batch_size": 8,
            "model.tbptt_steps": 8,
            "trainer.limit_val_batches": 2,
            "trainer.limit_train_batches": 4,
            **flags,
        },
    )


def train_curve(run_dir: Path) -> list[tuple[float, float]]:
    return [
        (r["step"], r["train_loss"])
        for r in read_metrics(run_dir / "metrics.csv")
        if r.get("train_loss") is not None
    ]


# -- the config ------------------------------------------------------------------------------
def test_config_layers_defaults_file_flags_set(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  hidden_size: 32\n  num_layers: 2\noptim:\n  lr: 1.0e-2\n")
    cfg = resolve_config(f, {"model.hidden_size": 16, "optim.lr": None}, ["optim.lr=2e-2"])
    assert cfg.model.hidden_size == 16  # flag over file
    assert cfg.model.num_layers == 2  # file over default
    assert cfg.optim.lr == 0.02  # --set over everything ("2e-2" is a string to YAML 1.1)
    assert cfg.model.dropout == Config().model.dropout  # default


def test_config_round_trips_through_yaml_and_dicts():
    cfg = resolve_config(
        overrides=[
            "model.cell_options.bias=false",
            "trainer.devices=2",
            "trainer.val_check_interval=0.5",
            "run.name=x",
        ]
    )
    assert Config.from_yaml(cfg.to_yaml()) == cfg
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert yaml.safe_load(cfg.to_yaml())["model"]["cell_options"] == {"bias": False}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("model:\n  hiden_size: 3\n", r"'model.hiden_size'.*Did you mean 'model.hidden_size'"),
        ("modle:\n  cell: gru\n", r"'modle'.*Did you mean 'model'"),
        ("optim:\n  lr: fast\n", r"optim.lr='fast'.*must be a number"),
        ("optim:\n  name: adan\n", r"Did you mean 'adam'"),
        ("model: [\n", r"not valid YAML at line 2"),
        ("- 1\n- 2\n", r"must hold a mapping"),
        ("trainer:\n  max_epochs: null\n  max_steps: -1\n", r"never stop"),
        ("model:\n  dropout: 1.5\n", r"model.dropout must be a probability"),
    ],
)
def test_bad_config_files_are_named(tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        resolve_config(f)


def test_task_and_cell_options_belong_to_their_task_and_cell(tmp_path):
    cfg = resolve_config(flags={"task.name": "copy", "task.options.delay": 5})
    assert cfg.task.options == {"delay": 5}  # the default job's adding options are dropped
    cfg = resolve_config(overrides=["task.options.seq_len=80"])
    assert cfg.task.options["seq_len"] == 80 and "n_train" in cfg.task.options
    f = tmp_path / "c.yaml"
    f.write_text("task:\n  name: adding\n  options:\n    seq_len: 100\n")
    assert resolve_config(f).task.options == {"seq_len": 100}  # a file states the whole mapping
    cfg = resolve_config(
        flags={"model.cell": "lstm", "model.cell_options.forget_bias": 0},
        base=resolve_config(overrides=["model.cell_options.bias=false"]),
    )
    assert cfg.model.cell_options == {"forget_bias": 0}


# -- fit and the run directory ---------------------------------------------------------------------
def test_fit_writes_a_complete_run_directory(tmp_path):
    cfg = tiny(tmp_path, **{"trainer.val_check_interval": 2})
    result = fit(cfg)
    run = result.run_dir
    assert run.parent == tmp_path / "runs" and run.name.startswith("adding-gru-")
    assert sorted(p.name for p in run.iterdir()) == [
        ".lock",
        "checkpoints",
        "config.yaml",
        "metrics.csv",
        "segments.jsonl",
        "summary.json",
    ]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert Config.load(run / "config.yaml") == cfg
    summary = json.loads((run / "summary.json").read_text())
    assert summary["cell"]["name"] == "gru" and summary["cell"]["distribution"] == "seqlab"
    assert summary["task"]["name"] == "adding" and summary["task"]["metric"] == "mse"
    assert summary["result"]["metric"] == "test_mse"
    assert summary["result"]["value"] == pytest.approx(result.metrics["test_mse"])
    assert summary["result"]["baseline"] == pytest.approx(result.baseline.value)
    assert 0.1 < summary["result"]["baseline"] < 0.25  # always predict 1: ≈ 1/6
    assert summary["parameters"]["total"] == sum(
        p.numel() for p in load_checkpoint(run).model.parameters()
    )
    assert summary["global_step"] == 4 and summary["wall_time_s"] > 0
    assert set(result.metrics) >= {"val_mse", "val_mae", "test_mse", "test_mae", "train_loss"}
    rows = read_metrics(run / "metrics.csv")
    assert [r["step"] for r in rows if r.get("train_loss") is not None] == [0, 1, 2, 3]
    assert [r["step"] for r in rows if r.get("val_mse") is not None] == [1]  # batch 2 of 3
    assert not (tmp_path / "lightning_logs").exists() and not Path("lightning_logs").exists()


def test_checkpoints_load_weights_only_and_record_the_cell(tmp_path):
    result = fit(tiny(tmp_path))
    for name in ("best.ckpt", "last.ckpt"):
        raw = torch.load(result.run_dir / "checkpoints" / name, weights_only=True)
        meta = raw["seqlab"]
        assert meta["cell"]["name"] == "gru" and meta["cell"]["builtin"] is True
        assert meta["config"]["model"]["hidden_size"] == 8
        assert meta["task_info"]["output_kind"] == "regression"
    loaded = load_checkpoint(result.run_dir / "checkpoints" / "last.ckpt")
    assert loaded.global_step == 4 and loaded.config.model.cell == "gru"
    assert not loaded.model.training


def test_same_seed_gives_a_bit_identical_loss_curve(tmp_path):
    flags = {"model.dropout": 0.2, "model.num_layers": 2}
    a = train_curve(fit(tiny(tmp_path / "a", **flags)).run_dir)
    b = train_curve(fit(tiny(tmp_path / "b", **flags)).run_dir)
    c = train_curve(fit(tiny(tmp_path / "c", **flags, **{"trainer.seed": 1})).run_dir)
    assert a == b and len(a) == 4
    assert a != c


class _StopAt(L.Callback):
    """Asks training to stop after ``step`` steps, as a time budget (Timer) does."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step >= self.step:
            trainer.should_stop = True


@pytest.mark.slow
@pytest.mark.parametrize("stop", [5, 6, "callback"])  # mid-epoch after a validation, at an
def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path, stop):  # epoch end, early
    flags = {
        "trainer.max_steps": 9,
        "trainer.val_check_interval": 2,
        "model.dropout": 0.3,
        "model.num_layers": 2,
        "optim.scheduler": "plateau",
        "optim.plateau_patience": 0,
    }
    full = fit(tiny(tmp_path / "full", **flags))
    if stop == "callback":
        first = fit(tiny(tmp_path / "part", **flags), callbacks=[_StopAt(4)])
        assert first.global_step == 4
    else:
        first = fit(tiny(tmp_path / "part", **{**flags, "trainer.max_steps": stop}))
        assert first.global_step == stop
    resumed = fit(tiny(tmp_path / "part", **flags), resume=first.run_dir)
    assert resumed.run_dir == first.run_dir
    assert resumed.global_step == full.global_step == 9
    assert train_curve(resumed.run_dir) == train_curve(full.run_dir)  # each step once, same loss
    assert resumed.metrics == full.metrics
    a = load_checkpoint(full.run_dir / "checkpoints" / "last.ckpt").model.state_dict()
    b = load_checkpoint(resumed.run_dir / "checkpoints" / "last.ckpt").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((resumed.run_dir / "summary.json").read_text())["resumed"] is True


@pytest.mark.slow
def test_language_model_resume_restores_the_carried_state(tmp_path):
    flags = {"trainer.max_steps": 12, "trainer.val_check_interval": 2}
    full = fit(charlm(tmp_path / "full", **flags))
    first = fit(charlm(tmp_path / "part", **{**flags, "trainer.max_steps": 6}))
    raw = torch.load(first.run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert raw["seqlab_tbptt_state"]["tensors"][0].shape == (1, 8, 8)  # (world, batch, hidden)
    resumed = fit(charlm(tmp_path / "part", **flags), resume=first.run_dir)
    assert resumed.global_step == full.global_step == 12
    assert train_curve(resumed.run_dir) == train_curve(full.run_dir)
    assert resumed.metrics == full.metrics


def test_resume_refuses_another_experiment_and_missing_runs(tmp_path):
    first = fit(tiny(tmp_path))
    with pytest.raises(ConfigError, match=r"model.hidden_size \(8 → 16\)"):
        fit(tiny(tmp_path, **{"model.hidden_size": 16}), resume=first.run_dir)
    with pytest.raises(CheckpointError, match="does not exist"):
        fit(resume=tmp_path / "nope")
    (first.run_dir / "checkpoints" / "last.ckpt").unlink()
    with pytest.raises(CheckpointError, match="no checkpoints/last.ckpt"):
        fit(resume=first.run_dir)


# -- checkpoint files ---------------------------------------------------------------------------
class _Custom:
    pass


def test_bad_checkpoint_files_get_clear_errors(tmp_path):
    good = fit(tiny(tmp_path)).run_dir / "checkpoints" / "best.ckpt"
    cases = {}
    cases["missing"] = (tmp_path / "missing.ckpt", "does not exist")
    (tmp_path / "empty.ckpt").write_bytes(b"")
    cases["empty"] = (tmp_path / "empty.ckpt", "is empty")
    data = good.read_bytes()
    (tmp_path / "half.ckpt").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (tmp_path / "half.ckpt", "corrupt or truncated")
    (tmp_path / "text.ckpt").write_text("hello, not a checkpoint\n")
    cases["text"] = (tmp_path / "text.ckpt", "not a PyTorch checkpoint: it starts with b'hell'")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.ckpt")
    cases["foreign"] = (tmp_path / "foreign.ckpt", "not a seqlab checkpoint")
    torch.save([1, 2], tmp_path / "list.ckpt")
    cases["list"] = (tmp_path / "list.ckpt", "not a checkpoint")
    torch.save({"obj": _Custom()}, tmp_path / "pickle.ckpt")
    cases["needs trust"] = (tmp_path / "pickle.ckpt", "weights-only loading refuses.*trust=True")
    for name, (path, match) in cases.items():
        with pytest.raises(CheckpointError, match=match) as exc:
            load_checkpoint(path)
        assert str(path) in str(exc.value), name
    # Trusting the file gets past weights-only loading (it is still not seqlab's).
    with pytest.warns(UserWarning, match=r"in full, as --trust-checkpoint .*_Custom"):
        trusted = read_checkpoint(tmp_path / "pickle.ckpt", trust=True)
    assert isinstance(trusted["obj"], _Custom)


def test_checkpoint_of_an_uninstalled_plugin_cell_names_the_package(tmp_path, make_distribution):
    info = make_distribution(
        "acme-cells",
        "1.2",
        {"seqlab.cells": {"acme": "acme_mod:Acme"}},
        {
            "acme_mod": """
            import torch
            class Acme(torch.nn.Module):
                def __init__(self, input_size, hidden_size):
                    super().__init__()
                    self.input_size, self.hidden_size = input_size, hidden_size
                    self.cell = torch.nn.GRUCell(input_size, hidden_size)
                def initial_state(self, batch_size, *, device=None, dtype=None):
                    return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
                def forward(self, x, h):
                    h = self.cell(x, h)
                    return h, h
        """
        },
    )
    result = fit(tiny(tmp_path, **{"model.cell": "acme", "trainer.max_steps": 2}))
    assert result.summary["cell"] == {
        "name": "acme",
        "distribution": "acme-cells",
        "version": "1.2",
        "builtin": False,
        "entry_point": "acme_mod:Acme",
    }
    assert load_checkpoint(result.run_dir).cell["distribution"] == "acme-cells"
    shutil.rmtree(info)  # uninstall
    from seqlab.cells import REGISTRY

    REGISTRY.refresh()
    with pytest.raises(CheckpointError, match=r"'acme-cells'.*pip install 'acme-cells==1.2'"):
        load_checkpoint(result.run_dir)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "x.ckpt"
    target.write_bytes(b"good")

    def broken(f):
        f.write(b"half")
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["x.ckpt"]  # no temporary left behind
    atomic_write(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"new"
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        (locked / "x.ckpt").write_bytes(b"good")
        locked.chmod(0o500)
        try:
            with pytest.raises(CheckpointError, match="previous file is intact"):
                atomic_write(locked / "x.ckpt", lambda f: f.write(b"new"))
        finally:
            locked.chmod(0o700)


# -- evaluating and sampling checkpoints -------------------------------------------------------------
def test_validate_and_test_reproduce_the_final_metrics(tmp_path):
    result = fit(tiny(tmp_path))
    val = validate(result.run_dir / "checkpoints" / "best.ckpt")
    tst = test(result.run_dir)  # a run directory means its best checkpoint
    assert val["val_mse"] == pytest.approx(result.metrics["val_mse"], rel=1e-6)
    assert tst["test_mse"] == pytest.approx(result.metrics["test_mse"], rel=1e-6)


@pytest.mark.slow
def test_generate_from_a_language_model_checkpoint(tmp_path):
    result = fit(charlm(tmp_path, **{"trainer.max_steps": 4}))
    text = generate(result.run_dir, "the ", 40, temperature=0.8, top_k=5, seed=0)
    assert text.startswith("the ") and len(text) == 44
    assert set(text) <= set(text_file(tmp_path).read_text())
    assert generate(result.run_dir, "the ", 40, temperature=0.8, top_k=5, seed=0) == text
    with pytest.raises(ConfigError, match="never saw: 'Z'"):
        generate(result.run_dir, "Zebra", 5)
    regression = fit(tiny(tmp_path / "r", **{"trainer.max_steps": 1}))
    with pytest.raises(ConfigError, match="needs a language model"):
        generate(regression.run_dir, "x", 5)


# -- guards and data ---------------------------------------------------------------------------
def test_device_checks_happen_before_lightning_starts():
    cfg = Config()
    cfg.trainer.accelerator, cfg.trainer.devices = "cpu", (os.cpu_count() or 1) + 1
    with pytest.raises(ConfigError, match="asks for .* devices, but this machine has"):
        check_devices(cfg.trainer)
    cfg.trainer.devices = "2"
    assert check_devices(cfg.trainer) == 2 or (os.cpu_count() or 1) < 2
    cfg.trainer.accelerator = "cpux"
    with pytest.raises(ConfigError, match="Did you mean 'cpu'"):
        check_devices(cfg.trainer)
    if not torch.cuda.is_available():
        cfg.trainer.accelerator = "gpu"
        with pytest.raises(ConfigError, match="no.*GPU|none is visible"):
            check_devices(cfg.trainer)


def test_bidirectional_language_model_task_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="bidirectional"):
        fit(charlm(tmp_path, **{"model.bidirectional": True}))


def test_epoch_sampler_is_a_function_of_seed_and_epoch_and_shards_disjointly():
    s = EpochSampler(10, shuffle=True, seed=3)
    s.set_epoch(1)
    first = list(s)
    s.set_epoch(0)
    s.set_epoch(1)
    assert list(s) == first and sorted(first) == list(range(10))
    s.set_epoch(2)
    assert list(s) != first
    shards = []
    for rank in range(3):
        r = EpochSampler(10, shuffle=True, seed=3, rank=rank, world_size=3)
        r.set_epoch(1)
        shards.append(list(r))
    assert all(len(x) == 4 for x in shards)  # padded to 12 = 3 × 4
    assert set().union(*shards) == set(range(10))
    assert [shards[i % 3][i // 3] for i in range(10)] == first


def test_resumable_loader_skips_what_the_checkpointed_run_consumed():
    epoch = {"now": 4}
    loader = ResumableLoader(
        list(range(6)), None, epoch=lambda: epoch["now"], epoch_batches=lambda: 6
    )
    it = iter(loader)
    assert [next(it), next(it)] == [0, 1]
    state = loader.state_dict()
    assert state == {"epoch": 4, "batches": 2}
    again = ResumableLoader(
        list(range(6)), None, epoch=lambda: epoch["now"], epoch_batches=lambda: 6
    )
    again.load_state_dict(state)
    assert list(again) == [2, 3, 4, 5]
    assert list(again) == list(range(6))  # the next epoch starts from the beginning
    epoch["now"] = 5  # a checkpoint of an earlier epoch does not skip in a later one
    later = ResumableLoader(
        list(range(6)), None, epoch=lambda: epoch["now"], epoch_batches=lambda: 6
    )
    later.load_state_dict(state)
    assert list(later) == list(range(6))


def test_tensorboard_logger_writes_next_to_the_csv_record(tmp_path):
    pytest.importorskip("tensorboard")
    result = fit(tiny(tmp_path, **{"log.logger": "tensorboard", "trainer.max_steps": 2}))
    events = list((result.run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert events and (result.run_dir / "metrics.csv").is_file()
