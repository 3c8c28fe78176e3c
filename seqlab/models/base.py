"""The LightningModule every output kind shares: encoder, optimiser, schedule, metric logging.

The encoder is ``[embedding →] seqlab.Recurrent``: token inputs (``info.input_kind ==
"tokens"``) are embedded first, real-valued features go straight in. Subclasses add the
head, the loss and the metric updates for their output kind
(:mod:`seqlab.models.classification`, ``tagging``, ``regression``, ``language_model``).

Metrics are torchmetrics objects updated in ``validation_step``/``test_step`` and
computed (synchronised across processes) once per evaluation in
``on_validation_epoch_end``/``on_test_epoch_end``, where they are logged as
``val_<name>``/``test_<name>``; the training loss is logged as ``train_loss``, the rate
each optimiser step used (with a warm-up or a schedule) as ``lr``.

The rate of every optimiser step is set just before it (:meth:`SequenceModel.lr_factor`):
the linear warm-up, then the cosine schedule, or the plateau schedule's cuts.

Before a training loss updates the weights, the model asks its trainer's
:class:`LossPolicy` (``fit`` installs seqlab.training's ``NonFiniteLossPolicy``) whether
it may: a NaN/Inf loss stops the run or skips the update, as ``trainer.nonfinite_loss``
says.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, cast

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer
from torch import Tensor, nn
from torchmetrics import Metric

from seqlab.cells.base import State
from seqlab.config import ModelConfig, OptimConfig
from seqlab.errors import ConfigError
from seqlab.models.metrics import METRIC_NAMES
from seqlab.recurrent import Recurrent
from seqlab.tasks.base import TaskInfo

Batch = dict[str, Tensor]


class FiniteFlag:
    """Whether a loss is finite, on its way to the host without stopping the CPU.

    Reading a GPU tensor's value (``bool(t)``) makes the CPU wait for every kernel queued
    so far, so a check right after the forward would stall it before it can queue the
    backward. This flag queues ``isfinite(loss).all()`` and a non-blocking copy into
    pinned memory with a CUDA event behind it; :meth:`is_finite`, asked after the
    backward is queued, waits only for that event (the end of the forward), not for the
    backward. On the CPU it is an ordinary check.
    """

    def __init__(self, loss: Tensor) -> None:
        self.loss = loss.detach()
        flag = torch.isfinite(self.loss).all()
        self._event: torch.cuda.Event | None = None
        if flag.device.type == "cuda":
            host = torch.empty((), dtype=torch.bool, pin_memory=True)
            host.copy_(flag, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()
            flag = host
        self._flag = flag

    def is_finite(self) -> bool:
        if self._event is not None:
            self._event.synchronize()
        return bool(self._flag)


class LossPolicy(Protocol):
    """A trainer callback that decides whether a training loss may update the weights.

    :class:`SequenceModel` asks the first callback of its trainer that has this method
    (seqlab.training's ``NonFiniteLossPolicy``, which ``fit`` installs), once per update:
    per batch, or per chunk of truncated BPTT. Under DDP the answer must be the same on
    every process, since each process takes part in every update.
    """

    def loss_is_usable(self, trainer: L.Trainer, loss: Tensor | FiniteFlag, batch_idx: int) -> bool:
        """True: update with ``loss``; False: skip this update; or raise to stop training."""
        ...


def time_budget(trainer: L.Trainer) -> float | None:
    """The fraction of the trainer's time limit (Lightning's :class:`Timer`, which
    ``trainer.max_time`` installs) spent so far; ``None`` without one."""
    for callback in trainer.callbacks:
        if isinstance(callback, Timer):
            remaining = callback.time_remaining()
            if remaining is not None:
                elapsed = callback.time_elapsed()
                return elapsed / max(elapsed + remaining, 1e-9)
    return None


def logs_this_batch(trainer: L.Trainer) -> bool:
    """Whether Lightning writes what is logged during this training batch (every
    ``log.every_n_steps`` batches, and at a stop)."""
    return bool(trainer._logger_connector.should_update_logs)  # no public equivalent


def loss_policy(trainer: L.Trainer) -> LossPolicy | None:
    """The trainer's :class:`LossPolicy` callback, if it has one."""
    # Asked at every update: an attribute test costs well under a microsecond, isinstance
    # on a runtime-checkable Protocol ~80 µs over a fit's callbacks.
    for callback in trainer.callbacks:
        if callable(getattr(callback, "loss_is_usable", None)):
            return cast(LossPolicy, callback)
    return None


class SequenceModel(L.LightningModule):
    """Base of seqlab's models: ``[embedding →] Recurrent → head`` with shared training logic.

    Args:
        model: the network's configuration (cell, sizes, regularisers, pooling...).
        optim: the optimiser, schedule, weight decay and gradient clipping.
        info: what the task publishes (input kind and size, outputs, metric).

    Subclasses set :attr:`output_kind` and implement :meth:`step` (loss and predictions
    for a batch) and :meth:`update_metrics`; one that optimises itself (manual
    optimisation) asks :meth:`loss_is_usable` before each update.
    """

    output_kind: ClassVar[str] = ""

    def __init__(self, model: ModelConfig, optim: OptimConfig, info: TaskInfo) -> None:
        super().__init__()
        if info.output_kind != self.output_kind:
            raise ConfigError(
                f"{type(self).__name__} models '{self.output_kind}' tasks, but the task is "
                f"'{info.output_kind}'; build models with seqlab.models.build_model."
            )
        names = METRIC_NAMES[self.output_kind]
        if info.metric not in names:
            raise ConfigError(
                f"the task's headline metric '{info.metric}' is not one that {self.output_kind} "
                f"models compute ({', '.join(names)}); the task should publish one of those."
            )
        self.model_config = model
        self.optim_config = optim
        self.info = info
        self.embedding: nn.Embedding | None = None
        if info.input_kind == "tokens":
            vocab = info.vocab_size or info.input_size
            self.embedding = nn.Embedding(vocab, model.embedding_size or model.hidden_size)
            # Small uniform init (PyTorch's word_language_model example): N(0, 1) rows make
            # the first logits of a tied softmax huge.
            nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
            input_size = self.embedding.embedding_dim
        else:
            input_size = info.input_size
        self.recurrent = Recurrent(
            model.cell,
            input_size,
            model.hidden_size,
            model.num_layers,
            bidirectional=model.bidirectional,
            dropout=model.dropout,
            recurrent_dropout=model.recurrent_dropout,
            zoneout=model.zoneout,
            fused=model.fused,
            compile=model.compile,
            **model.cell_options,
        )
        self.output_dropout = nn.Dropout(model.dropout)
        self.val_metrics = nn.ModuleDict(self.make_metrics())
        self.test_metrics = nn.ModuleDict(self.make_metrics())
        self._skip_update = False
        self._loss_checks: list[tuple[FiniteFlag, int]] = []

    # -- to be provided by each output kind ------------------------------------------------
    def make_metrics(self) -> dict[str, Metric]:
        raise NotImplementedError

    def step(self, batch: Batch) -> tuple[Tensor, Any]:
        """The mean loss of ``batch`` and whatever :meth:`update_metrics` needs."""
        raise NotImplementedError

    def update_metrics(self, metrics: nn.ModuleDict, batch: Batch, out: Any) -> None:
        raise NotImplementedError

    # -- shared pieces ------------------------------------------------------------------------
    @property
    def metric_names(self) -> tuple[str, ...]:
        return METRIC_NAMES[self.output_kind]

    def encode(
        self, x: Tensor, lengths: Tensor | None = None, state: list[State] | None = None
    ) -> tuple[Tensor, list[State]]:
        """Recurrent outputs (B, T, num_directions * H) and final states for inputs ``x``.

        ``x`` is (B, T, F) features or (B, T) token ids.
        """
        if self.embedding is not None:
            x = self.embedding(x)
        return self.recurrent(x, lengths, state)

    @staticmethod
    def batch_size_of(batch: Batch) -> int:
        return int(batch["x"].shape[0])

    # -- Lightning hooks ------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss, _ = self.step(batch)
        if loss_policy(self.trainer) is not None:
            # Decided in on_before_optimizer_step, once the backward is queued: asking
            # here would make the CPU wait for the GPU's forward every step. Backward runs
            # for a bad loss too, so every DDP process takes part in the all-reduce.
            self._loss_checks.append((FiniteFlag(loss), batch_idx))
        self.log(
            "train_loss",
            loss,  # NaN/Inf at a skipped batch: the record says what happened
            on_step=True,
            on_epoch=False,
            prog_bar=True,
            batch_size=self.batch_size_of(batch),
        )
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Lightning calls this before every optimiser step, automatic or manual (the
        # language model's), after the backward: where both the loss check and the rate
        # of this very step are decided.
        checks, self._loss_checks = self._loss_checks, []  # every batch since the last update
        if not all([self.loss_is_usable(flag, batch_idx) for flag, batch_idx in checks]):
            self._skip_update = True
        if self._skip_update:
            # With no gradient, torch's optimisers leave a parameter (and its moments) alone.
            for group in optimizer.param_groups:
                for p in group["params"]:
                    p.grad = None
            self._skip_update = False
        self.set_learning_rate(optimizer)

    def loss_is_usable(self, loss: Tensor | FiniteFlag, batch_idx: int) -> bool:
        """Whether ``loss`` may update the weights, as the trainer's :class:`LossPolicy`
        decides (it may also stop training by raising); without one, every loss may.

        Callers make no update when this is False: :meth:`training_step` drops the
        gradients, the language model skips its optimiser step.
        """
        policy = loss_policy(self.trainer)
        return True if policy is None else policy.loss_is_usable(self.trainer, loss, batch_idx)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        _, out = self.step(batch)
        self.update_metrics(self.val_metrics, batch, out)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        _, out = self.step(batch)
        self.update_metrics(self.test_metrics, batch, out)

    def on_validation_epoch_end(self) -> None:
        values = self.log_metrics(self.val_metrics, "val")
        if not self.trainer.sanity_checking:
            self.step_plateau(values)

    def on_test_epoch_end(self) -> None:
        self.log_metrics(self.test_metrics, "test")

    def compute_metrics(self, metrics: nn.ModuleDict) -> dict[str, Tensor]:
        """Each metric's value over the evaluation (synchronised across processes)."""
        return {name: m.compute() for name, m in metrics.items()}

    def log_metrics(self, metrics: nn.ModuleDict, prefix: str) -> dict[str, Tensor]:
        values = {f"{prefix}_{k}": v for k, v in self.compute_metrics(metrics).items()}
        for m in metrics.values():
            m.reset()
        # The values are already reduced over processes by torchmetrics.
        self.log_dict(values, on_step=False, on_epoch=True, prog_bar=prefix == "val")
        return values

    # -- optimisation -----------------------------------------------------------------------------
    def parameter_groups(self) -> list[dict[str, Any]]:
        """Weight matrices (≥ 2-D) decay; biases and other vectors do not."""
        decay, no_decay = [], []
        for p in self.parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
        groups = [
            {"params": decay, "weight_decay": self.optim_config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return [g for g in groups if g["params"]]

    def make_optimizer(self) -> torch.optim.Optimizer:
        o = self.optim_config
        groups = self.parameter_groups()
        # One fused kernel for all parameters instead of a loop over them: Adam's step took
        # 0.29x the time on CPU (2.6% of a char-LM step); the same update up to rounding.
        fused = all(
            p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in self.parameters()
        )
        if o.name == "adam":
            return torch.optim.Adam(groups, lr=o.lr, fused=fused or None)
        if o.name == "adamw":
            return torch.optim.AdamW(groups, lr=o.lr, fused=fused or None)
        if o.name == "sgd":
            return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum)
        if o.name == "rmsprop":
            return torch.optim.RMSprop(groups, lr=o.lr, momentum=o.momentum)
        raise ConfigError(f"unknown optimiser {o.name!r}; use adam, adamw, sgd or rmsprop.")

    def total_optimizer_steps(self) -> int:
        """Optimiser steps of the whole run (the length of the cosine schedule), when
        ``max_steps`` or ``max_epochs`` bounds it."""
        return max(1, int(self.trainer.estimated_stepping_batches))

    def run_progress(self, step: int) -> float:
        """How far through the run optimiser step ``step`` (0-based) is, from 0 to 1: the
        further along of its fraction of the run's steps after the warm-up (when
        ``max_steps`` or ``max_epochs`` bounds the run; the last step is at 1) and of its
        time budget (``trainer.max_time``, over every fit of a resumed run): whichever
        limit binds first ends the schedule."""
        trainer, warmup = self.trainer, self.optim_config.warmup_steps
        fractions = []
        if trainer.max_steps != -1 or trainer.max_epochs not in (None, -1):
            after_warmup = self.total_optimizer_steps() - 1 - warmup
            fractions.append((step - warmup) / after_warmup if after_warmup > 0 else 1.0)
        budget = time_budget(trainer)
        if budget is not None:
            # rank 0's clock decides: DDP processes must all take the same step
            fractions.append(float(trainer.strategy.broadcast(budget, src=0)))
        return min(1.0, max(0.0, *fractions))

    def cosine_factor(self) -> Callable[[int], float]:
        """The cosine schedule's multiple of ``lr`` at an optimiser step (0-based)."""
        o = self.optim_config
        floor = o.min_lr / o.lr

        def factor(step: int) -> float:
            progress = self.run_progress(step)
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

        return factor

    def lr_factor(self, step: int) -> float | None:
        """The multiple of ``lr`` that optimiser step ``step`` (0-based) uses: the linear
        warm-up, ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps, times
        the cosine schedule's factor (1 without one). ``None``: the plateau schedule owns
        the rate from the end of the warm-up on."""
        o = self.optim_config
        if step < o.warmup_steps:
            warm = (step + 1) / o.warmup_steps
        elif o.scheduler == "plateau":
            return None
        else:
            warm = 1.0
        return warm * (self.cosine_factor()(step) if o.scheduler == "cosine" else 1.0)

    def set_learning_rate(self, optimizer: torch.optim.Optimizer) -> None:
        """Give the optimiser step about to be taken its rate (:meth:`lr_factor`), and log it
        as ``lr`` (with a warm-up or a schedule: a constant rate is ``optim.lr``).

        A function of the optimiser step (and of the time budget) set just before each
        step, rather than a torch scheduler stepped after it: it is the same for automatic
        and manual optimisation (the language model's several steps per batch), resumes
        from the step count alone, and composes the warm-up with every schedule.
        """
        o = self.optim_config
        if o.scheduler == "none" and o.warmup_steps == 0:
            return  # a constant rate: nothing to set or to record
        factor = self.lr_factor(int(self.trainer.global_step))
        if factor is not None:
            for group in optimizer.param_groups:
                group["lr"] = o.lr * factor
        # The rate this step uses (Lightning's LearningRateMonitor reads it at batch start,
        # before this hook, and names it per optimiser and parameter group). Only on the
        # batches Lightning writes: self.log costs ~1 ms a call here (it moves the whole
        # result collection), a tenth of a small model's step.
        if logs_this_batch(self.trainer):
            self.log("lr", float(optimizer.param_groups[0]["lr"]), on_step=True, on_epoch=False)

    def configure_optimizers(self) -> Any:
        optimizer = self.make_optimizer()
        o = self.optim_config
        if o.scheduler != "plateau":
            return optimizer  # warm-up and cosine: set_learning_rate, before every step
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode=self.info.metric_mode,
            factor=o.plateau_factor,
            patience=o.plateau_patience,
        )
        # Stepped by step_plateau after every validation (not by Lightning at epoch end).
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": plateau,
                "interval": "epoch",
                "monitor": self.monitor,
                "strict": False,
            },
        }

    @property
    def monitor(self) -> str:
        """The logged name of the task's headline validation metric."""
        return f"val_{self.info.metric}"

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            return  # stepped in step_plateau, once per validation
        scheduler.step()

    def step_plateau(self, values: dict[str, Tensor]) -> None:
        """Step a plateau schedule on the validation metric (before checkpoints are written)."""
        if self.optim_config.scheduler != "plateau" or self.monitor not in values:
            return
        if self.trainer.global_step < self.optim_config.warmup_steps:
            return  # the warm-up comes first; plateau cuts count from its end
        sched = self.lr_schedulers()
        if isinstance(sched, list):
            sched = sched[0]
        if sched is not None:
            sched.step(float(values[self.monitor]))
