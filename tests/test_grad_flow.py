"""GradientFlow: exact ‖∂L/∂h_t‖, the fused path on other steps, TBPTT, files and read-back."""

from __future__ import annotations

import copy
import csv
import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.diagnostics.grad_flow import (
    GradFlowHistory,
    GradientFlow,
    gradient_ratio,
    load_grad_flow,
    plot_heatmaps,
)
from seqlab.errors import ConfigError
from seqlab.recurrent import Recurrent
from seqlab.tracking.loggers import RunCSVLogger

T, B, N = 12, 8, 32


def _image(path: Path) -> np.ndarray:
    """The decoded PNG at ``path``, checked to be a real picture (not a blank canvas)."""
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    image = imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 100, (path, image.shape)
    assert image[..., :3].std() > 0.01, f"{path} is blank"
    return image


def _data(seed: int = 0, steps: int = T) -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(N, steps, 3, generator=g), torch.randn(N, generator=g)
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=B, shuffle=False
    )


class Regressor(L.LightningModule):
    """Recurrent → last output → linear; MSE on a scalar target."""

    def __init__(
        self, cell: str = "rnn", layers: int = 1, bidirectional: bool = False, **options
    ) -> None:
        super().__init__()
        self.recurrent = Recurrent(cell, 3, 8, layers, bidirectional=bidirectional, **options)
        self.head = nn.Linear(self.recurrent.output_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.recurrent(x)
        return self.head(out[:, -1]).squeeze(-1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class ChunkedLM(L.LightningModule):
    """Manual optimisation with two TBPTT chunks per batch, state carried and detached."""

    def __init__(self, chunk: int = 6) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.chunk = chunk
        self.recurrent = Recurrent("lstm", 3, 8)
        self.head = nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        x, y = batch
        state = None
        for start in range(0, x.shape[1], self.chunk):
            out, state = self.recurrent(x[:, start : start + self.chunk], state=state)
            loss = F.mse_loss(self.head(out).squeeze(-1).mean(1), y)
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()
            state = Recurrent.detach_state(state)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def _fit(
    module: L.LightningModule, callback: GradientFlow, steps: int, run_dir: Path, loader=None
) -> L.Trainer:
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        devices=1,
        logger=[RunCSVLogger(run_dir)],
        callbacks=[callback],
        limit_val_batches=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(module, loader or _data())
    return trainer


def _manual_profile(model: Regressor, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """‖∂L/∂h_t‖ by hand: the Elman step written out, retain_grad on every h_t."""
    cell = model.recurrent.cells[0]
    h = torch.zeros(x.shape[0], 8)
    hs = []
    for t in range(x.shape[1]):
        h = torch.tanh(
            x[:, t] @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
        )
        h.retain_grad()
        hs.append(h)
    loss = F.mse_loss(model.head(hs[-1]).squeeze(-1), y)
    loss.backward()
    return np.array([float(h.grad.norm()) for h in hs])


def test_profile_equals_manual_autograd_and_ratio_is_logged(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Regressor("rnn")
    reference = copy.deepcopy(model)
    callback = GradientFlow(every_n_steps=2, run_dir=tmp_path)
    _fit(model, callback, steps=5, run_dir=tmp_path)

    history = callback.history["l0"]
    assert list(callback.history) == ["l0"]
    assert history.steps == [0, 2, 4]
    x, y = next(iter(_data()))
    expected = _manual_profile(reference, x, y)  # step 0 uses the initial weights
    np.testing.assert_allclose(history.norms[0], expected, rtol=1e-5, atol=0)
    assert gradient_ratio(history.norms[0]) == pytest.approx(expected[0] / expected[-1], rel=1e-5)

    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("grad_flow/ratio_l0")]
    logged = {int(r["step"]): float(r["grad_flow/ratio_l0"]) for r in rows}
    assert sorted(logged) == [0, 2, 4]
    for step, norms in zip(history.steps, history.norms, strict=True):
        assert logged[step] == pytest.approx(norms[0] / norms[-1], rel=1e-6)


def test_fused_path_runs_on_unmeasured_steps(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Regressor("lstm")
    cell = model.recurrent.cells[0]
    calls = {"sequence": 0, "step": 0}
    fused = cell.forward_sequence

    def counting_sequence(*args, **kwargs):
        calls["sequence"] += 1
        return fused(*args, **kwargs)

    cell.forward_sequence = counting_sequence
    cell.register_forward_hook(lambda *a: calls.__setitem__("step", calls["step"] + 1))
    callback = GradientFlow(every_n_steps=3, run_dir=tmp_path)
    _fit(model, callback, steps=6, run_dir=tmp_path)

    assert callback.history["l0"].steps == [0, 3]
    assert calls == {"sequence": 4, "step": 2 * T}  # steps 1, 2, 4, 5 fused; 0 and 3 stepped
    assert model.recurrent._observer is None


def test_truncated_bptt_measures_the_first_chunk_only(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = ChunkedLM(chunk=6)
    cell = model.recurrent.cells[0]
    counts = {"sequence": 0}
    fused = cell.forward_sequence

    def counting_sequence(*args, **kwargs):
        counts["sequence"] += 1
        return fused(*args, **kwargs)

    cell.forward_sequence = counting_sequence
    callback = GradientFlow(every_n_steps=2, run_dir=tmp_path)
    _fit(model, callback, steps=8, run_dir=tmp_path)  # 4 batches of 2 optimiser steps each

    history = callback.history["l0"]
    assert history.steps == [0, 2]  # log steps count batches, not the 2 chunks of each
    assert [len(n) for n in history.norms] == [6, 6]
    assert all(np.all(n > 0) and np.isfinite(gradient_ratio(n)) for n in history.norms)
    # 4 batches × 2 chunks = 8 forwards; the first chunk of the 2 measured batches steps.
    assert counts["sequence"] == 8 - 2


def test_bidirectional_stack_files_and_read_back(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Regressor("gru", layers=2, bidirectional=True)
    callback = GradientFlow(every_n_steps=1, run_dir=tmp_path)
    _fit(model, callback, steps=3, run_dir=tmp_path)

    assert set(callback.history) == {"l0", "l0_rev", "l1", "l1_rev"}
    out = tmp_path / "grad_flow"
    for key in callback.history:
        _image(out / f"heatmap_{key}.png")
    _image(out / "profile.png")
    loaded = load_grad_flow(tmp_path)
    assert set(loaded) == set(callback.history)
    for key, h in callback.history.items():
        assert loaded[key].steps == h.steps == [0, 1, 2]
        for a, b in zip(loaded[key].norms, h.norms, strict=True):
            np.testing.assert_array_equal(a, b)
    side_by_side = plot_heatmaps(
        {"run a": loaded["l0"], "run b": loaded["l1"]}, tmp_path / "cmp.png"
    )
    # two panels side by side: wider than one run's heatmap
    assert _image(side_by_side).shape[1] > _image(out / "heatmap_l0.png").shape[1]


def test_ratio_tells_vanishing_from_exploding(tmp_path: Path) -> None:
    ratios = {}
    for name, scale in (("vanishing", 0.05), ("exploding", 2.0)):
        torch.manual_seed(0)
        model = Regressor("rnn", nonlinearity="relu", init="identity", identity_scale=scale)
        callback = GradientFlow(every_n_steps=1, run_dir=tmp_path / name)
        _fit(model, callback, steps=1, run_dir=tmp_path / name)
        ratios[name] = callback.history["l0"].ratios()[0]
    assert ratios["vanishing"] < 1e-6
    assert ratios["exploding"] > 1e2


def test_history_matrix_pads_shorter_measurements() -> None:
    h = GradFlowHistory("l0")
    h.add(0, np.array([1.0, 2.0]))
    h.add(5, np.array([4.0, 2.0, 1.0]))
    m = h.matrix()
    assert m.shape == (3, 2)
    assert math.isnan(m[2, 0]) and m[2, 1] == 1.0
    np.testing.assert_allclose(h.ratios(), [0.5, 4.0])
    assert math.isnan(gradient_ratio([1.0, 0.0]))


@pytest.mark.parametrize(
    ("option", "every"), [("every=50", 50), ("7", 7), ("off", None), (None, None)]
)
def test_from_option(option, every, tmp_path: Path) -> None:
    callback = GradientFlow.from_option(option, tmp_path)
    assert (callback.every_n_steps if callback else None) == every


@pytest.mark.parametrize("option", ["every=x", "every=0", "-3"])
def test_bad_options_are_config_errors(option, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="every"):
        GradientFlow.from_option(option, tmp_path)


def test_padded_batches_measure_the_gradient_through_time() -> None:
    torch.manual_seed(0)
    layer = Recurrent("rnn", 3, 4)
    x = torch.randn(2, 5, 3)
    seen: dict[int, torch.Tensor] = {}

    def keep(index: int, t: int, h: torch.Tensor) -> None:
        h.retain_grad()
        seen[t] = h

    layer.observe_steps(keep)
    out, _ = layer(x, torch.tensor([5, 3]))
    out[0, -1].sum().backward()  # the full-length sequence's last output
    assert all(float(seen[t].grad[0].norm()) > 0 for t in range(4))


def test_a_resumed_run_continues_its_record(tmp_path: Path) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    torch.manual_seed(0)
    first = GradientFlow(every_n_steps=2, run_dir=tmp_path)
    saver = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=3, save_top_k=-1)
    trainer = L.Trainer(
        max_steps=5,
        accelerator="cpu",
        logger=False,
        callbacks=[first, saver],
        limit_val_batches=0,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Regressor("rnn"), _data())
    assert first.history["l0"].steps == [0, 2, 4]

    resumed = GradientFlow(every_n_steps=2, run_dir=tmp_path)
    trainer = L.Trainer(
        max_steps=6,
        accelerator="cpu",
        logger=False,
        callbacks=[resumed],
        limit_val_batches=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Regressor("rnn"), _data(), ckpt_path=str(tmp_path / "ckpt" / "epoch=0-step=3.ckpt"))
    # 0 and 2 come from the file; 4 was measured again after the checkpoint at step 3, once
    assert load_grad_flow(tmp_path)["l0"].steps == [0, 2, 4]


def test_mixed_precision_loss_scale_is_divided_out(tmp_path: Path) -> None:
    from lightning.pytorch.plugins.precision import MixedPrecision

    torch.manual_seed(0)
    model = Regressor("rnn")
    profiles = {}
    for name, module, plugins in (
        ("fp32", model, []),
        (
            "amp",
            copy.deepcopy(model),
            [
                MixedPrecision(
                    "16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=1024.0)
                )
            ],
        ),
    ):
        callback = GradientFlow(every_n_steps=1, run_dir=tmp_path / name)
        trainer = L.Trainer(
            max_steps=1,
            accelerator="cpu",
            logger=False,
            callbacks=[callback],
            plugins=plugins,
            limit_val_batches=0,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(module, _data())
        profiles[name] = callback.history["l0"].norms[0]
    np.testing.assert_allclose(
        profiles["amp"], profiles["fp32"], rtol=2e-2
    )  # float16 rounding only
