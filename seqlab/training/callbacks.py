"""Callbacks every ``fit`` installs: checkpoint metadata, ``last.ckpt``, per-step seeding,
and the graceful stop on Ctrl-C."""

from __future__ import annotations

import random
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, Checkpoint, ProgressBar


class CheckpointMetadata(Callback):
    """Adds seqlab's record (config, task info, cell name and source) to every checkpoint."""

    def __init__(self, metadata: dict[str, Any]) -> None:
        self.metadata = metadata

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        from seqlab.training.checkpoint import META_KEY

        checkpoint[META_KEY] = self.metadata


class LastCheckpoint(Checkpoint):
    """Writes ``last.ckpt`` after every validation, at the last batch of every epoch and at
    the last step.

    Lightning 2.6's ``ModelCheckpoint(save_last=True)`` writes ``last`` only when it also
    writes a top-k checkpoint at that step, i.e. only when the monitored metric improved;
    a resumable run needs the latest state whatever the metric did. Being a
    :class:`~lightning.pytorch.callbacks.Checkpoint`, it runs after the best-checkpoint
    callback, so the state it saves includes the latest best score.

    Checkpoints are taken only where Lightning's restart logic resumes them exactly: in
    ``on_train_batch_end`` (at an epoch's last batch, at ``max_steps``, or when a callback
    asked training to stop) and ``on_validation_end``. (A checkpoint taken in
    ``on_train_epoch_end`` of a run bounded by ``max_steps`` is resumed as an unfinished
    epoch, which runs one batch too many.) ``on_train_end`` saves only when training
    stopped for another reason at a step nothing was saved at.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._saved: tuple[int, int, str] | None = None
        self._hook = ""
        self._next_log_step: int | None = None

    def _save(self, trainer: L.Trainer, hook: str) -> None:
        from lightning.pytorch.trainer.states import TrainerFn

        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING or trainer.fast_dev_run:
            return
        key = (trainer.current_epoch, trainer.global_step, hook)
        if key == self._saved:
            return
        self._hook = hook
        try:
            trainer.save_checkpoint(self.path, weights_only=False)
        finally:
            self._hook = ""
        self._saved = key

    @property
    def saved_step(self) -> int | None:
        """The global step of the last checkpoint this process wrote (``None``: none yet)."""
        return self._saved[1] if self._saved is not None else None

    # Lightning restores its logging step (`_batches_that_stepped`) from a checkpoint taken
    # in on_validation_end sometimes one short, depending on where in the epoch it was
    # taken, so a resumed run would log its rows one step early. The step the next batch
    # logs at is saved here and put back at the first batch of the resumed run.
    def state_dict(self) -> dict[str, Any]:
        if not self._hook:
            return {}
        logged = self._trainer_log_step
        # In these hooks the current batch's step has not been counted yet; at the end it has.
        return {"next_log_step": logged if self._hook == "end" else logged + 1}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._next_log_step = state_dict.get("next_log_step")

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer

    @property
    def _trainer_log_step(self) -> int:
        return int(self._trainer.fit_loop.epoch_loop._batches_that_stepped)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._next_log_step is not None:
            trainer.fit_loop.epoch_loop._batches_that_stepped = self._next_log_step
            self._next_log_step = None

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        last_step = trainer.max_steps != -1 and trainer.global_step >= trainer.max_steps
        last_batch = batch_idx + 1 >= trainer.num_training_batches
        # should_stop: a callback before this one (a Timer, a time budget) ends training now.
        if last_step or last_batch or trainer.should_stop:
            self._save(trainer, "batch")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer, "validation")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._saved is None or self._saved[1] != trainer.global_step:
            self._save(trainer, "end")


_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def step_seed(seed: int, step: int, rank: int) -> int:
    """A well-mixed 63-bit seed for (run seed, optimiser step, process rank) (SplitMix64)."""
    return _splitmix64(_splitmix64(_splitmix64(seed) ^ step) ^ rank) >> 1


class StepSeeder(Callback):
    """Reseeds torch, numpy and random before every training batch from (seed, step, rank).

    Randomness inside a step (dropout, zoneout masks) then depends only on where the run
    is, not on how it got there, so a run resumed from a checkpoint draws exactly what the
    uninterrupted run drew.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        s = step_seed(self.seed, trainer.global_step, trainer.global_rank)
        # torch.manual_seed visits every device type (~0.2 ms); seed what is in use.
        torch.default_generator.manual_seed(s)
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.manual_seed_all(s)
        if torch.backends.mps.is_available():
            torch.mps.manual_seed(s)
        random.seed(s)
        np.random.seed(s % (2**32))


class GracefulStop(Callback):
    """Ctrl-C (SIGINT) or SIGTERM: finish the current batch, save ``last.ckpt``, stop.

    The signal only sets a flag (a handler that raised mid-step could leave the optimiser
    half-updated); at the end of the batch the callback asks Lightning to stop, and
    :class:`LastCheckpoint`, which runs after it, saves the state there, where a resumed run
    continues exactly. Under DDP the processes agree (any one signalled stops all) at the same
    step. A second signal stops at once with ``KeyboardInterrupt``; the last checkpoint on disk
    is then the previous one, intact (checkpoints are written atomically).

    :meth:`handling_signals` installs the handlers around ``trainer.fit``; ``fit`` turns a
    stop into :class:`~seqlab.errors.Interrupted` with the command to resume.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None  # the signal number
        self.stopped_at: int | None = None  # the global step training stopped after

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""

    @contextmanager
    def handling_signals(self) -> Iterator[None]:
        """Install the handlers (main thread only: Python's rule) for the duration."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in self.SIGNALS}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        def handle(signum: int, frame: Any) -> None:
            if self.received is not None:
                restore()
                raise KeyboardInterrupt
            self.received = signum
            print(
                f"\n{signal.Signals(signum).name}: stopping after this batch and saving a "
                f"checkpoint to resume from (Ctrl-C again stops at once).",
                file=sys.stderr,
                flush=True,
            )

        for sig in self.SIGNALS:
            signal.signal(sig, handle)
        try:
            yield
        finally:
            restore()

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        stop = self.received is not None
        if trainer.world_size > 1:
            stop = bool(trainer.strategy.reduce_boolean_decision(stop, all=False))
        if stop and self.stopped_at is None:
            if self.received is None:
                self.received = signal.SIGINT  # another process was signalled
            trainer.should_stop = True
            self.stopped_at = trainer.global_step


class LineProgress(ProgressBar):
    """Progress as plain lines, for logs (stdout not a terminal): no ``\\r``, no cursor
    escapes. A line every ``every`` training steps (about 20 lines a run when the budget is
    known) and one per validation, with the metrics logged so far::

        epoch 1 step 40/200 (20%) train_loss 0.4123
        validation at step 40: val_loss 0.3901 val_mse 0.3901
    """

    def __init__(self, every: int | None = None, stream: Any = None) -> None:
        super().__init__()
        self.every = every
        self.stream = stream
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _write(self, text: str) -> None:
        if self._enabled and self.trainer.is_global_zero:
            print(text, file=self.stream or sys.stdout, flush=True)

    def _interval(self, trainer: L.Trainer) -> int:
        if self.every is not None:
            return self.every
        total = trainer.max_steps
        if total is None or total < 0:
            batches = trainer.num_training_batches
            epochs = trainer.max_epochs or 1
            total = batches * epochs if isinstance(batches, int) else 1000
        return max(1, int(total) // 20)

    def _metrics(self, trainer: L.Trainer, prefix: str) -> str:
        return " ".join(
            f"{k} {float(v):.4g}"
            for k, v in sorted(trainer.callback_metrics.items())
            if k.startswith(prefix) and getattr(v, "numel", lambda: 1)() == 1
        )

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        step = trainer.global_step
        if step == 0 or step % self._interval(trainer):
            return
        limit = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        of = f"/{limit} ({100 * step // limit}%)" if limit else ""
        self._write(
            f"epoch {trainer.current_epoch} step {step}{of} {self._metrics(trainer, 'train')}"
        )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        self._write(f"validation at step {trainer.global_step}: {self._metrics(trainer, 'val')}")
