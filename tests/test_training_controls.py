"""Everyday training controls (issue 12): a time budget that resumes, early stopping on the
validation metric, learning-rate warm-up under every schedule, gradient accumulation,
label smoothing, and the bad values of each refused before anything is written.

The learning rates are read back from ``metrics.csv`` (``lr``: the rate each optimiser
step used), the stop reasons from ``summary.json``, the time spent from ``segments.jsonl``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from test_models import info, model_cfg, real_batch
from test_train import charlm, tiny

from seqlab.cli import main
from seqlab.config import Config, OptimConfig
from seqlab.models import build_model
from seqlab.training import fit, read_metrics

# Slack for timings on a shared 2-core machine: a step here takes milliseconds, a
# validation tens of them; the time limit is checked after every step.
SLACK_S = 2.0


class _TrainingClock(L.Callback):
    """How long ``trainer.fit`` trained, from ``on_train_start`` to ``on_train_end``."""

    def on_train_start(self, trainer, pl_module):
        self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        self.seconds = time.perf_counter() - self.start


def lrs(run_dir: Path) -> dict[int, float]:
    """The rate every optimiser step used, by step."""
    return {
        int(r["step"]): r["lr"]
        for r in read_metrics(run_dir / "metrics.csv")
        if r.get("lr") is not None
    }


def segments(run_dir: Path) -> list[float]:
    lines = (run_dir / "segments.jsonl").read_text().splitlines()
    return [json.loads(line)["wall_time_s"] for line in lines]


def fingerprint(run_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


# -- max_time ------------------------------------------------------------------------------
def endless(tmp_path: Path, max_time: float, **flags) -> Config:
    """A tiny fit bounded by its time budget only (no step or epoch limit)."""
    config = tiny(tmp_path, **{"trainer.max_time": max_time, **flags})
    config.trainer.max_steps, config.trainer.max_epochs = -1, None
    return config.validate()


def test_max_time_stops_the_run_says_why_and_anneals_cosine_over_the_time(tmp_path):
    clock = _TrainingClock()
    config = endless(tmp_path, 2, **{"optim.scheduler": "cosine", "optim.lr": 0.01})
    result = fit(config, callbacks=[clock])
    assert result.stopped_because.startswith("max_time=2 s reached (step ")
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["stopped_because"] == result.stopped_because
    assert 2.0 <= clock.seconds < 2.0 + SLACK_S
    assert result.global_step >= 3  # (steps take 10 ms idle, up to 0.5 s on a loaded machine)
    # no step or epoch limit: the cosine schedule follows the elapsed fraction of max_time
    rates = [lr for _, lr in sorted(lrs(result.run_dir).items())]
    assert len(rates) == result.global_step
    assert rates[0] > 0.5 * 0.01 and rates[-1] < 0.2 * 0.01
    assert all(b <= a * (1 + 1e-6) for a, b in itertools.pairwise(rates))


def test_a_resumed_run_gets_what_is_left_of_max_time_then_nothing(tmp_path, capsys):
    first = fit(endless(tmp_path, 2))
    (spent,) = segments(first.run_dir)
    assert spent >= 2.0
    clock = _TrainingClock()
    budget = spent + 1.0  # one second left
    second = fit(endless(tmp_path, budget), resume=first.run_dir, callbacks=[clock])
    assert second.stopped_because.startswith(f"max_time={budget:g} s reached")
    assert second.global_step > first.global_step
    # the whole budget again would be > 3 s: the earlier segment counted
    assert 1.0 <= clock.seconds < 1.0 + SLACK_S
    assert len(segments(first.run_dir)) == 2
    # nothing left: like resuming a finished run, exit 0 and nothing touched
    before = fingerprint(first.run_dir)
    argv = ["fit", "--resume", str(first.run_dir), "--max-time", f"{budget:g}", "--quiet"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "already finished" in captured.out + captured.err
    assert fingerprint(first.run_dir) == before


# -- early stopping ------------------------------------------------------------------------------
def test_early_stop_stops_after_patience_validations_without_improvement(tmp_path, capsys):
    # lr 1e-12 moves no float32 weight: every validation gives the same val_mse, which
    # improves on nothing after the first
    config = tiny(
        tmp_path,
        **{
            "trainer.max_steps": 40,
            "trainer.early_stop": 2,
            "trainer.val_check_interval": 2,
            "trainer.check_val_every_n_epoch": None,
            "optim.lr": 1e-12,
        },
    )
    result = fit(config)
    validations = [r for r in read_metrics(result.run_dir / "metrics.csv") if r.get("val_mse")]
    assert len(validations) == 3  # the first, then patience=2 without improvement
    # (a validation's row carries the step of the last training row before it)
    steps = [int(r["step"]) for r in validations]
    assert result.global_step == steps[-1] + 1 < 40  # it stopped at the third validation
    assert result.stopped_because.startswith("early_stop=2: val_mse did not improve for 2")
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["stopped_because"] == result.stopped_because
    # the best checkpoint (the first validation's) is what was measured
    best = torch.load(result.best_checkpoint, map_location="cpu", weights_only=False)
    assert best["global_step"] == steps[0] + 1
    assert result.metrics["val_mse"] == pytest.approx(validations[0]["val_mse"])
    # resumed with the same patience: already finished, nothing written
    before = fingerprint(result.run_dir)
    assert main(["fit", "--resume", str(result.run_dir), "--quiet"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert fingerprint(result.run_dir) == before
    # with more patience it goes on, its count so far kept: one more validation
    config.trainer.early_stop = 3
    more = fit(config, resume=result.run_dir)
    assert more.stopped_because.startswith("early_stop=3: val_mse did not improve for 3")
    rows = read_metrics(result.run_dir / "metrics.csv")
    assert len([r for r in rows if r.get("val_mse")]) == 4


# -- warm-up ------------------------------------------------------------------------------
def test_warmup_then_constant_rate(tmp_path):
    result = fit(tiny(tmp_path, **{"optim.warmup_steps": 3, "optim.lr": 0.01}))
    rates = lrs(result.run_dir)
    assert list(rates) == [0, 1, 2, 3]
    assert [rates[s] for s in range(4)] == pytest.approx([0.01 / 3, 0.02 / 3, 0.01, 0.01])


def test_warmup_then_cosine_to_min_lr_at_the_last_step(tmp_path):
    flags = {"optim.warmup_steps": 2, "optim.lr": 0.01, "optim.min_lr": 0.001}
    result = fit(tiny(tmp_path, **{"trainer.max_steps": 8, "optim.scheduler": "cosine", **flags}))
    rates = lrs(result.run_dir)

    def cosine(step: int) -> float:
        progress = (step - 2) / (8 - 1 - 2)
        return 0.001 + 0.009 * 0.5 * (1 + math.cos(math.pi * progress))

    expected = [0.005, 0.01] + [cosine(s) for s in range(2, 8)]
    assert [rates[s] for s in range(8)] == pytest.approx(expected, rel=1e-5)


def test_warmup_comes_before_plateau_cuts(tmp_path):
    # lr 1e-7: val_mse moves by far less than the plateau's 1e-4 relative threshold
    flags = {
        "trainer.max_steps": 10,
        "task.options.n_train": 64,  # 2 batches an epoch, a validation after each epoch
        "optim.scheduler": "plateau",
        "optim.plateau_patience": 0,
        "optim.warmup_steps": 4,
        "optim.lr": 1e-7,
    }
    rates = lrs(fit(tiny(tmp_path, **flags)).run_dir)
    # validations after steps 2, 4, 6, 8: the one at 2 is inside the warm-up, the one at 4
    # sets the best, each later one cuts by plateau_factor 0.5
    expected = [0.25, 0.5, 0.75, 1, 1, 1, 0.5, 0.5, 0.25, 0.25]
    assert [rates[s] for s in range(10)] == pytest.approx([1e-7 * f for f in expected])


def test_language_model_warmup_and_accumulation(tmp_path):
    """The language model optimises itself (manual optimisation, two TBPTT chunks a
    batch): the warm-up still sets each step's rate, and it accumulates itself."""
    config = charlm(
        tmp_path,
        **{
            "optim.warmup_steps": 4,
            "optim.lr": 0.01,
            "trainer.max_steps": 6,
            "trainer.accumulate_grad_batches": 2,  # 2 chunks: one step a batch
        },
    )
    result = fit(config)
    assert result.global_step == 6
    rates = lrs(result.run_dir)  # a row a batch (metrics.csv counts batches here)
    assert list(rates) == list(range(6))
    assert [rates[b] for b in range(6)] == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01])


# -- accumulation ------------------------------------------------------------------------------
def test_accumulation_takes_one_optimizer_step_per_k_batches(tmp_path):
    flags = {"trainer.max_steps": -1, "trainer.max_epochs": 2}
    plain = fit(tiny(tmp_path / "a", **flags))
    accumulated = fit(tiny(tmp_path / "b", **flags, **{"trainer.accumulate_grad_batches": 3}))
    assert plain.global_step == 6  # 3 batches an epoch
    assert accumulated.global_step == 2
    assert accumulated.stopped_because.startswith("max_epochs=2 reached")


# -- label smoothing ------------------------------------------------------------------------------
def test_label_smoothing_raises_the_training_loss_only():
    batch = real_batch()
    models = {}
    for smoothing in (0.0, 0.2):
        torch.manual_seed(0)  # the same weights
        models[smoothing] = build_model(
            model_cfg(label_smoothing=smoothing), OptimConfig(), info("classification")
        )
    with torch.no_grad():
        logits = models[0.0].eval()(batch["x"], batch["lengths"])
    batch["y"] = logits.argmax(-1)  # the labels it predicts: smoothing must cost it
    out = {}
    for smoothing, model in models.items():
        with torch.no_grad():
            train_loss, _ = model.train().step(batch)
            val_loss, val_logits = model.eval().step(batch)
        model.update_metrics(model.val_metrics, batch, val_logits)
        out[smoothing] = (
            float(train_loss),
            float(val_loss),
            float(model.val_metrics["ce"].compute()),
        )
    (plain, plain_val, plain_ce), (smooth, smooth_val, smooth_ce) = out[0.0], out[0.2]
    # (1 - e) * CE + e * mean over classes of -log p (Szegedy et al. 2016)
    spread = float(-torch.log_softmax(logits, -1).mean())
    assert smooth == pytest.approx(0.8 * plain + 0.2 * spread, rel=1e-5)
    assert smooth > plain + 1e-3
    # validation: the plain loss, so runs with and without smoothing compare
    assert smooth_val == pytest.approx(plain_val) and smooth_ce == pytest.approx(plain_ce)
    assert smooth_ce == pytest.approx(plain)


# -- bad values ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--max-time", "0"], "trainer.max_time"),
        (["--early-stop", "0"], "trainer.early_stop"),
        (["--set", "trainer.accumulate_grad_batches=0"], "trainer.accumulate_grad_batches"),
        (["--set", "optim.warmup_steps=-1"], "optim.warmup_steps"),
        (["--early-stop", "3", "--set", "trainer.limit_val_batches=0"], "limit_val_batches"),
    ],
)
def test_bad_controls_exit_2_and_write_nothing(tmp_path, capsys, args, names):
    runs = tmp_path / "runs"
    code = main(["fit", *args, "--run-dir", str(runs), "--max-steps", "3", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and names in err, err
    assert not runs.exists()
