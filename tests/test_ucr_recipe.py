"""The UCR recipe: normalisation chosen per kind of data set, the task's default config as
a layer under everything the user sets, and the LSTM-FCN front-end of the classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("aeon")

import seqlab.training.task  # noqa: F401  (registers the task recipes with the config layer)
from seqlab.cli import main
from seqlab.cli.options import ConfigArgs
from seqlab.config import Config, resolve_config
from seqlab.config.experiment import no_recipe
from seqlab.errors import ConfigError
from seqlab.models.classification import SequenceClassifier
from seqlab.models.frontends import FCNBranch, MaskedBatchNorm1d, check_frontend
from seqlab.tasks import create_task
from seqlab.tasks.base import TaskInfo
from seqlab.tasks.series_scaling import normalize_like_training
from seqlab.tasks.ucr import ArchiveShape, aeon_data_dir, ucr_recipe

UCR = {"task.name": "ucr", "task.options.dataset": "GunPoint"}


def raw(dataset: str, split: str) -> list[np.ndarray]:
    from aeon.datasets import load_classification

    x, _ = load_classification(dataset, split=split, extract_path=str(aeon_data_dir()))
    return [np.asarray(s, dtype=np.float64).T for s in x]  # (T, C)


# -- normalisation -------------------------------------------------------------------------
def test_univariate_auto_is_per_series():
    task = create_task("ucr", dataset="GunPoint")
    assert task.info.extra["normalize"] == {"how": "series"}
    x = task.splits.test.x[..., 0]
    assert torch.allclose(x.mean(1), torch.zeros(len(x)), atol=1e-4)
    assert torch.allclose(x.std(1, unbiased=False), torch.ones(len(x)), atol=1e-3)


def test_multivariate_auto_is_per_channel_with_training_statistics():
    task = create_task("ucr", dataset="BasicMotions")
    spec = task.info.extra["normalize"]
    assert spec["how"] == "channel" and len(spec["mean"]) == len(spec["std"]) == 6
    s = task.splits
    # The statistics are the training series' own (validation held out): zero mean, unit
    # variance per channel over every training step, not over validation's.
    fit_steps = s.train.x.reshape(-1, 6).double()
    assert torch.allclose(fit_steps.mean(0), torch.zeros(6, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(fit_steps.std(0, unbiased=False), torch.ones(6).double(), atol=1e-3)
    assert s.val.x.reshape(-1, 6).mean(0).abs().max() > 1e-3
    # The test split reuses them: (raw - train mean) / train std, each channel's level kept.
    expected = [
        (r - np.array(spec["mean"])) / np.array(spec["std"]) for r in raw("BasicMotions", "test")
    ]
    assert np.allclose(s.test.x.numpy(), np.stack(expected), atol=1e-4)
    again = normalize_like_training(
        [r.astype(np.float32) for r in raw("BasicMotions", "test")], task.info.extra
    )
    assert np.allclose(np.stack(again), np.stack(expected), atol=1e-4)
    assert s.test.x.mean(1).std(0).max() > 0.1  # per-series scaling would zero every level


def test_univariate_sets_in_physical_units_keep_their_scale_as_input():
    # Covid3Month_disc holds raw counts (0 to 20,341), not archive z-normalised series:
    # per-series scaling would erase the level that separates its classes.
    task = create_task("ucr", dataset="Covid3Month_disc")
    spec = task.info.extra["normalize"]
    assert spec["how"] == "series+scale" and len(spec["ref"]) == 1 and len(spec["mean"]) == 3
    assert task.info.input_size == 4 and task.info.extra["channels"] == 1
    s = task.splits
    shape, scale = s.test.x[..., 0], s.test.x[..., 1:]
    assert torch.allclose(shape.mean(1), torch.zeros(len(shape)), atol=1e-4)
    assert torch.equal(scale, scale[:, :1].expand_as(scale))  # constant over each series
    fit_scale = s.train.x[:, 0, 1:3].double()  # standardised with the training series' own
    assert torch.allclose(fit_scale.mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(fit_scale.std(0, unbiased=False), torch.ones(2).double(), atol=1e-4)
    assert s.test.x[..., 3].abs().max() < 1e-6  # one length for all: no information, 0
    test_raw = raw("Covid3Month_disc", "test")
    level = np.array([r.mean() for r in test_raw])
    order = np.argsort(level, kind="stable")
    assert np.all(np.diff(s.test.x[order, 0, 1].numpy()) >= -1e-6)  # the level, monotone
    again = normalize_like_training([r.astype(np.float32) for r in test_raw], task.info.extra)
    assert np.allclose(np.stack(again), s.test.x.numpy(), atol=1e-4)
    # A variable-length set gets its lengths as input (PickupGestureWiimoteZ: 29-361 steps),
    # in their order; the padding stays zero.
    pickup = create_task("ucr", dataset="PickupGestureWiimoteZ").splits.train
    log_len = pickup.x[torch.arange(len(pickup.x)), 0, 3]
    order = torch.argsort(pickup.lengths)
    assert torch.all(torch.diff(log_len[order]) >= -1e-6) and log_len.std() > 0.5
    shortest = int(order[0])
    assert torch.all(pickup.x[shortest, int(pickup.lengths[shortest]) :] == 0)
    # Sets the archive z-normalised have no scale to give: plain per-series.
    assert create_task("ucr", dataset="ArrowHead").info.extra["normalize"] == {"how": "series"}


def test_is_znormalised_tells_archive_series_from_raw_ones():
    from seqlab.tasks.series_scaling import is_znormalised, znormalise

    rng = np.random.default_rng(0)
    raw_series = [rng.normal(5.0, 2.0, size=(n, 1)) for n in (20, 31, 7)]
    assert not is_znormalised(raw_series)
    assert is_znormalised(znormalise(raw_series))
    assert is_znormalised([np.zeros((5, 1))])  # a constant series has no scale either


def test_explicit_normalisations_and_the_znorm_alias():
    none = create_task("ucr", dataset="BasicMotions", normalize="none")
    assert none.info.extra["normalize"] == {"how": "none"}
    assert np.allclose(none.splits.test.x.numpy(), np.stack(raw("BasicMotions", "test")), atol=1e-5)
    series = create_task("ucr", dataset="BasicMotions", normalize="series")
    assert torch.allclose(series.splits.test.x.mean(1), torch.zeros(40, 6), atol=1e-4)
    assert (
        create_task("ucr", dataset="GunPoint", znorm=False).info.extra["normalize"]["how"] == "none"
    )
    with pytest.raises(ConfigError, match="contradicts"):
        create_task("ucr", dataset="GunPoint", znorm=False, normalize="series")
    with pytest.raises(ConfigError, match="Did you mean .channel."):
        create_task("ucr", dataset="GunPoint", normalize="chanel")


# -- the recipe layer ----------------------------------------------------------------------
def test_the_recipe_applies_without_a_config_and_follows_the_data_set():
    cfg = resolve_config(flags=UCR)
    shape = ArchiveShape.read("GunPoint")
    assert (shape.n_train, shape.max_len, shape.channels) == (50, 150, 1)
    recipe = ucr_recipe(shape, 0.2)
    assert cfg.task.batch_size == recipe["task.batch_size"] == 16  # 40 training series: max 16
    assert cfg.trainer.max_epochs == recipe["trainer.max_epochs"] == 267  # 800 steps, 3/epoch
    assert cfg.trainer.check_val_every_n_epoch == 267  # once, at the end
    assert cfg.model.frontend == "fcn" and cfg.model.pooling == "mean" and cfg.model.bidirectional
    acsf1 = resolve_config(flags={**UCR, "task.options.dataset": "ACSF1"})
    assert acsf1.task.batch_size == 16 and not acsf1.model.bidirectional  # 1460 steps long
    assert acsf1.trainer.max_epochs == 30  # 200,000 / 1460 = 137 steps → the floor of 150, 5/epoch
    arrowhead = ucr_recipe(ArchiveShape.read("ArrowHead"), 0.2)
    assert arrowhead["task.batch_size"] == 14  # 29 training series: two batches an epoch
    # Other tasks keep the built-in defaults; no recipe is laid over a base (a resumed run).
    assert resolve_config(flags={"task.name": "adding"}) == Config()
    assert resolve_config(flags=UCR, recipe=no_recipe).model.frontend == "none"
    assert resolve_config(base=Config(), flags=UCR).model.frontend == "none"


def test_anything_the_user_sets_wins_over_the_recipe(tmp_path):
    flags = resolve_config(flags={**UCR, "model.hidden_size": 32, "trainer.max_steps": 5})
    assert flags.model.hidden_size == 32
    assert flags.trainer.max_steps == 5 and flags.trainer.max_epochs is None  # the budget given
    assert flags.model.frontend == "fcn"
    sets = resolve_config(flags=UCR, overrides=["model.frontend=none", "task.batch_size=7"])
    assert sets.model.frontend == "none" and sets.task.batch_size == 7
    file = tmp_path / "ucr.yaml"
    file.write_text(
        "task: {name: ucr, options: {dataset: BasicMotions}}\n"
        "model: {pooling: last}\ntrainer: {max_epochs: 7}\n"
    )
    from_file = resolve_config(file)
    assert from_file.model.pooling == "last" and from_file.trainer.max_epochs == 7
    assert from_file.trainer.max_steps == -1 and from_file.model.frontend == "fcn"
    # The command line's resolution (fit, compare and sweep share it) gets it too.
    args = ConfigArgs(flags={"task.name": "ucr"}, task_options={"dataset": "BasicMotions"})
    assert args.resolve(cell_options=False).task.batch_size == 16


def test_the_runs_config_yaml_holds_the_recipe(tmp_path):
    code = main(
        [
            "fit", "--task", "ucr", "--task-opt", "dataset=ItalyPowerDemand", "--max-steps", "2",
            "--run-dir", str(tmp_path), "-q", "--set", "trainer.limit_test_batches=1",
            "--set", "trainer.num_sanity_val_steps=0",
        ]
    )  # fmt: skip
    assert code == 0
    (run,) = tmp_path.iterdir()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["frontend"] == "fcn" and saved["task"]["batch_size"] == 16
    assert saved["trainer"]["max_steps"] == 2 and saved["trainer"]["max_epochs"] is None
    assert saved["optim"]["scheduler"] == "cosine"


def test_tasks_show_ucr_states_normalisation_and_recipe(capsys):
    assert main(["tasks", "show", "ucr", "--no-setup", "-o", "dataset=BasicMotions"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "per channel with the training split's mean" in out
    assert "univariate sets per series" in out
    assert "model.frontend" in out and "trainer.max_epochs" in out


# -- the LSTM-FCN front-end ----------------------------------------------------------------
def info(input_kind: str = "real", output_kind: str = "classification") -> TaskInfo:
    return TaskInfo(output_kind, input_kind, 3, 4, "acc", "max", vocab_size=None)  # type: ignore[arg-type]


def test_padding_does_not_change_a_shorter_series_result():
    torch.manual_seed(0)
    branch = FCNBranch(3)
    lengths = torch.tensor([20, 13, 7])
    x = torch.randn(3, 20, 3) * (torch.arange(20)[None, :, None] < lengths[:, None, None])
    branch.train()
    out = branch(x, lengths)
    assert out.shape == (3, 128)
    # Training statistics count valid steps only: as batch norm over the valid steps alone.
    norm = branch.norms[0]
    h = branch.convs[0](torch.nn.functional.pad(x.transpose(1, 2), (3, 4)))
    valid = torch.cat([h[i, :, : int(n)] for i, n in enumerate(lengths)], dim=1)
    fresh = MaskedBatchNorm1d(128)
    fresh.train()
    fresh(h, (torch.arange(20)[None, :] < lengths[:, None]).unsqueeze(1).float())
    assert torch.allclose(fresh.running_mean, 0.1 * valid.mean(1).detach(), atol=1e-5)
    assert norm.num_batches_tracked == 1
    branch.eval()
    padded = branch(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = branch(x[i : i + 1, :n], lengths[i : i + 1])
        assert torch.allclose(padded[i], alone[0], atol=1e-5)


def test_classifier_with_the_frontend_and_its_refusals():
    cfg = resolve_config(flags={**UCR, "model.hidden_size": 8})
    model = SequenceClassifier(cfg.model, cfg.optim, info()).eval()
    assert model.head.in_features == 2 * 8 + 128  # bidirectional pooled + FCN
    logits = model(torch.randn(2, 11, 3), torch.tensor([11, 5]))
    assert logits.shape == (2, 4)
    with pytest.raises(ConfigError, match="token ids.*model.frontend=none"):
        SequenceClassifier(cfg.model, cfg.optim, info("tokens"))
    with pytest.raises(ConfigError, match="classification tasks.*'regression'"):
        check_frontend(cfg.model, info(output_kind="regression"))


@pytest.mark.slow
def test_frontend_models_train_and_export(tmp_path):
    from seqlab.serving import export
    from seqlab.training import fit

    root = Path(tmp_path)
    # ItalyPowerDemand, one direction: ONNX export unrolls every step (~30 s here).
    flags = {**UCR, "task.options.dataset": "ItalyPowerDemand", "model.bidirectional": False}
    cfg = resolve_config(
        flags={**flags, "model.hidden_size": 8},
        overrides=[
            "trainer.max_steps=2", "trainer.num_sanity_val_steps=0",
            "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
            f"run.dir={root}", "run.quiet=true", "log.logger=csv",
        ],
    )  # fmt: skip
    run = fit(cfg).run_dir
    report = export(run, "onnx", root / "onnx")
    assert report.exporter == "dynamo" and report.max_abs_diff <= 1e-5
