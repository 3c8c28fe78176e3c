"""How training stops: Ctrl-C and SIGTERM, NaN/Inf losses, a run already in use.

In-process versions (fast, exact): signals are sent to this very process from inside a
training step, NaN is injected into the recurrent layer's output at chosen steps. The
same behaviour through real ``seqlab`` processes is in ``tests/test_faults.py``.
"""

from __future__ import annotations

import hashlib
import math
import os
import signal
from pathlib import Path

import lightning as L
import pytest
import torch
from test_train import charlm, tiny, train_curve

from seqlab.errors import CheckpointError, Interrupted, NonFiniteLossError, RunInUseError
from seqlab.training import fit, load_checkpoint, read_metrics
from seqlab.training.checkpoint import AtomicCheckpointIO
from seqlab.training.rundir import run_lock

FLAGS = {"trainer.max_steps": 9, "trainer.val_check_interval": 2, "model.dropout": 0.3}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _SignalAt(L.Callback):
    """Sends ``signals`` to this process in the middle of the training step ``step``."""

    def __init__(self, step: int, *signals: int) -> None:
        self.step, self.signals = step, signals

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            for sig in self.signals:
                os.kill(os.getpid(), sig)


class _NaNAt(L.Callback):
    """Makes the recurrent layer's output NaN at the given training steps."""

    def __init__(self, steps: set[int] | range) -> None:
        self.steps = steps
        self.handle = None
        self.params_before: dict[int, dict[str, torch.Tensor]] = {}
        self.params_after: dict[int, dict[str, torch.Tensor]] = {}

    @staticmethod
    def _params(pl_module) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in pl_module.named_parameters()}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        step = trainer.global_step
        if step in self.steps and step not in self.params_before:  # once per step
            self.params_before[step] = self._params(pl_module)

            def poison(module, args, output):
                out, state = output
                return out * float("nan"), state

            self.handle = pl_module.recurrent.register_forward_hook(poison)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.handle is not None:
            self.handle.remove()
            self.handle = None
            self.params_after[trainer.global_step] = self._params(pl_module)


# -- Ctrl-C and SIGTERM ------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_saves_a_checkpoint_and_the_resumed_run_matches(tmp_path, sig):
    full = fit(tiny(tmp_path / "full", **FLAGS))
    before = signal.getsignal(sig)
    with pytest.raises(Interrupted) as info:
        fit(tiny(tmp_path / "part", **FLAGS), callbacks=[_SignalAt(4, sig)])
    assert signal.getsignal(sig) is before  # handlers put back
    (run,) = (tmp_path / "part" / "runs").iterdir()
    message = str(info.value)
    assert f"stopped by {sig.name} after step 5" in message
    assert f"Resume with: seqlab fit --resume {run}" in message
    assert info.value.exit_code == 130
    assert load_checkpoint(run / "checkpoints" / "last.ckpt").global_step == 5
    assert not (run / "summary.json").exists()

    resumed = fit(tiny(tmp_path / "part", **FLAGS), resume=run)
    assert resumed.global_step == full.global_step == 9
    assert train_curve(resumed.run_dir) == train_curve(full.run_dir)
    assert resumed.metrics == full.metrics


def test_a_second_ctrl_c_stops_at_once_and_keeps_the_last_checkpoint(tmp_path):
    # the checkpoint on disk when step 4 starts must survive the abrupt stop inside step 4
    grab: dict[str, str] = {}

    class _Snapshot(L.Callback):
        def __init__(self, path_of) -> None:
            self.path_of = path_of

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == 4:
                last = self.path_of(trainer)
                grab["last"] = digest(last)

    def last_of(trainer):
        (run,) = (tmp_path / "runs").iterdir()
        return run / "checkpoints" / "last.ckpt"

    with pytest.raises(Interrupted, match="stopped at once by a second SIGINT") as info:
        fit(
            tiny(tmp_path, **FLAGS),
            callbacks=[_Snapshot(last_of), _SignalAt(4, signal.SIGINT, signal.SIGINT)],
        )
    (run,) = (tmp_path / "runs").iterdir()
    assert "(step 3), is intact" in str(info.value)  # saved at the end of epoch 0
    assert digest(run / "checkpoints" / "last.ckpt") == grab["last"]
    assert load_checkpoint(run / "checkpoints" / "last.ckpt").global_step == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- NaN and Inf -------------------------------------------------------------------------------
def test_a_nan_loss_stops_before_the_update_and_names_the_step(tmp_path):
    poison = _NaNAt({6})
    with pytest.raises(NonFiniteLossError) as info:
        fit(tiny(tmp_path, **FLAGS), callbacks=[poison])
    (run,) = (tmp_path / "runs").iterdir()
    message = " ".join(str(info.value).split())
    assert "the training loss is nan at step 6 (epoch 2, batch 0)" in message
    assert "--set trainer.nonfinite_loss=skip" in message
    assert f"The last good checkpoint is {run / 'checkpoints' / 'last.ckpt'} (step 6)" in message
    assert f"seqlab fit --resume {run}" in message
    loaded = load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert loaded.global_step == 6
    assert all(torch.isfinite(p).all() for p in loaded.model.parameters())
    assert not (run / "summary.json").exists()


def test_skip_drops_bad_batches_without_an_update_and_goes_on(tmp_path):
    poison = _NaNAt({3, 7})
    flags = {**FLAGS, "trainer.nonfinite_loss": "skip"}
    with pytest.warns(UserWarning, match=r"skipped the batch at step (3|7) .*nan") as record:
        result = fit(tiny(tmp_path, **flags), callbacks=[poison])
    skips = [str(w.message) for w in record if "skipped the batch" in str(w.message)]
    assert len(skips) == 2 and "(1 in a row, trainer.max_consecutive_skips=10)" in skips[0]
    assert result.global_step == 9
    assert result.summary["skipped_batches"] == 2
    for step in (3, 7):  # the skipped step changed no parameter
        before, after = poison.params_before[step], poison.params_after[step + 1]
        assert all(torch.equal(before[k], after[k]) for k in before)
    loaded = load_checkpoint(result.run_dir)
    assert all(torch.isfinite(p).all() for p in loaded.model.parameters())
    rows = read_metrics(result.run_dir / "metrics.csv")
    logged = {r["step"]: r["train_loss"] for r in rows if r["train_loss"] is not None}
    assert sorted(logged) == list(range(9))
    assert math.isnan(logged[3]) and math.isnan(logged[7])  # the record says what happened
    assert all(math.isfinite(v) for s, v in logged.items() if s not in (3, 7))


def test_skip_gives_up_after_too_many_bad_batches_in_a_row(tmp_path):
    flags = {**FLAGS, "trainer.nonfinite_loss": "skip", "trainer.max_consecutive_skips": 2}
    with (
        pytest.warns(UserWarning, match="skipped the batch"),
        pytest.raises(NonFiniteLossError, match="non-finite for 3 batches in a row"),
    ):
        fit(tiny(tmp_path, **flags), callbacks=[_NaNAt(range(2, 100))])


@pytest.mark.slow
def test_language_model_nan_stop_and_skip(tmp_path):
    # manual optimisation, truncated BPTT in 2 chunks per batch (2 optimiser steps): the
    # same guard per chunk; a skipped chunk takes no optimiser step
    with pytest.raises(NonFiniteLossError, match="at step 4"):
        fit(charlm(tmp_path / "stop", **{"trainer.max_steps": 8}), callbacks=[_NaNAt({4})])
    poison = _NaNAt({4})
    flags = {"trainer.max_steps": 8, "trainer.nonfinite_loss": "skip"}
    with pytest.warns(UserWarning, match="skipped the batch at step 4"):
        result = fit(charlm(tmp_path / "skip", **flags), callbacks=[poison])
    assert result.summary["skipped_batches"] == 2  # both chunks of the batch
    assert result.global_step == 8
    before, after = poison.params_before[4], poison.params_after[4]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_checkpoint_with_nan_weights_is_never_written(tmp_path):
    path = tmp_path / "last.ckpt"
    good = {"state_dict": {"w": torch.ones(3)}, "global_step": 1}
    AtomicCheckpointIO().save_checkpoint(good, path)
    kept = digest(path)
    bad = {"state_dict": {"w": torch.tensor([1.0, float("nan"), 2.0]), "b": torch.zeros(2)}}
    with pytest.raises(CheckpointError, match=r"refusing to write .*NaN or Inf \(w\).*intact"):
        AtomicCheckpointIO().save_checkpoint(bad, path)
    assert digest(path) == kept and sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


# -- one writer per run ------------------------------------------------------------------------
def test_a_run_in_use_is_refused_and_stale_temporaries_are_removed(tmp_path):
    first = fit(tiny(tmp_path))
    stale = first.run_dir / "checkpoints" / ".last.ckpt.12345.deadbeef.tmp"
    stale.write_bytes(b"half a checkpoint")
    in_use = rf"in use by another seqlab process \(PID {os.getpid()}\)"
    with run_lock(first.run_dir), pytest.raises(RunInUseError, match=in_use):
        fit(tiny(tmp_path, **{"trainer.max_steps": 6}), resume=first.run_dir)
    assert stale.exists()  # untouched while the run was in use
    resumed = fit(tiny(tmp_path, **{"trainer.max_steps": 6}), resume=first.run_dir)
    assert resumed.global_step == 6 and not stale.exists()
