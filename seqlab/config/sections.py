"""The sections of the experiment config: one dataclass each, its keys documented once.

Each class's ``Attributes:`` docstring entries are the meaning of its keys, read by the
command line for its help texts (:mod:`seqlab.config.keys`). A field's ``metadata`` may
name the short command-line flags of its key (``{"flag": "--hidden-size"}``); every key
also has a long flag derived from its dotted name (``--model.hidden_size``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from seqlab.errors import ConfigError, did_you_mean
from seqlab.validation import at_least, in_range, positive, probability

# The default job of `seqlab fit`: the adding problem at T=50 with 5,000 training
# sequences, 10 epochs. The default GRU (128 units, Adam 3e-3) drives the test MSE from the
# 0.167 baseline to 0.0009-0.0023 (seeds 0-3) in about 40 s on 2 idle CPU cores
# (docs/training.md has the measurements).
DEFAULT_TASK = "adding"
DEFAULT_TASK_OPTIONS: dict[str, Any] = {
    "seq_len": 50,
    "n_train": 5000,
    "n_val": 1000,
    "n_test": 1000,
}

PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "64")


def flag(*names: str) -> dict[str, Any]:
    """Field metadata naming the short command-line flags of a key: ``flag("--quiet", "-q")``."""
    return {"flag": names}


@dataclass
class ModelConfig:
    """The network: a recurrent stack of any registered cell plus a task-specific head.

    Attributes:
        cell: registry name of the recurrent cell (``seqlab cells`` lists them).
        hidden_size: units per layer and direction.
        num_layers: stacked recurrent layers.
        bidirectional: add a backward-running cell per layer (not with language models).
        dropout: dropout between stacked layers and before the output head.
        recurrent_dropout: variational dropout on the state fed back at each step.
        zoneout: probability of keeping each state unit at its previous value per step.
        cell_options: keyword options of the cell (e.g. ``forget_bias: 0`` for lstm).
        pooling: how a sequence becomes one vector for classification and regression:
            the output at the last valid step, or the mean or max over valid steps.
        embedding_size: width of the token embedding for token inputs (default:
            ``hidden_size``).
        tie_weights: language models: share the embedding matrix with the softmax layer.
        tbptt_steps: language models: split each batch into chunks of this many steps,
            one optimiser step per chunk, state carried across chunks (``None``: one
            chunk per batch).
        fused: use a cell's fused ``forward_sequence`` when it has one.
        decoder_cell: sequence to sequence: registry name of the decoder's cell (``None``:
            the encoder's ``cell``); a bridge maps the encoder's final state when the two
            cells' states differ in shape.
        attention: sequence to sequence: ``none`` (the final encoder state only, Sutskever
            et al. 2014); ``additive`` (Bahdanau et al. 2015: the previous decoder state
            queries, the context feeds the decoder's input and the readout); ``dot`` or
            ``general`` (Luong et al. 2015, with input feeding).
        teacher_forcing: sequence to sequence: probability of feeding the decoder the true
            previous token in training (else its own most likely one).
        label_smoothing: classification, language models and sequence to sequence: mass
            spread uniformly over the classes (or the vocabulary) in the training loss
            (Szegedy et al. 2016); validation and test metrics use the plain loss.
        frontend: classification: ``fcn`` adds the fully convolutional branch of LSTM-FCN
            (Karim et al. 2017) beside the recurrent stack, the same for every cell;
            ``none``: the recurrent stack alone.
        compile: step the cell through ``torch.compile`` (a chunk of steps per compiled
            graph) wherever it is stepped; same results, first batches slower while it
            compiles. If compiling fails: one warning and eager stepping.
    """

    cell: str = field(default="gru", metadata=flag("--cell"))
    hidden_size: int = field(default=128, metadata=flag("--hidden-size"))
    num_layers: int = field(default=1, metadata=flag("--num-layers"))
    bidirectional: bool = field(default=False, metadata=flag("--bidirectional"))
    dropout: float = field(default=0.0, metadata=flag("--dropout"))
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    cell_options: dict[str, Any] = field(default_factory=dict)
    pooling: Literal["last", "mean", "max"] = "last"
    embedding_size: int | None = None
    tie_weights: bool = False
    tbptt_steps: int | None = None
    fused: bool = True
    decoder_cell: str | None = None
    attention: Literal["none", "additive", "dot", "general"] = "additive"
    teacher_forcing: float = 1.0
    label_smoothing: float = 0.0
    frontend: Literal["none", "fcn"] = "none"
    compile: bool = field(default=False, metadata=flag("--compile"))

    def validate(self) -> None:
        positive("model.hidden_size", self.hidden_size)
        in_range("model.teacher_forcing", self.teacher_forcing, 0, 1, closed=True)
        probability("model.label_smoothing", self.label_smoothing)
        positive("model.num_layers", self.num_layers)
        for key in ("dropout", "recurrent_dropout", "zoneout"):
            probability(f"model.{key}", getattr(self, key))
        if self.embedding_size is not None:
            positive("model.embedding_size", self.embedding_size)
        if self.tbptt_steps is not None:
            positive("model.tbptt_steps", self.tbptt_steps)


@dataclass
class TaskConfig:
    """The data: a registered task and its options (``seqlab tasks`` lists them).

    Attributes:
        name: registry name of the task.
        options: keyword options of the task (``seq_len``, ``path``, ``dataset``...).
        batch_size: sequences per batch (per device under DDP).
        num_workers: DataLoader worker processes (0: load in the main process).
    """

    name: str = field(default=DEFAULT_TASK, metadata=flag("--task"))
    options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TASK_OPTIONS))
    batch_size: int = field(default=64, metadata=flag("--batch-size"))
    num_workers: int = 0

    def validate(self) -> None:
        if not self.name:
            raise ConfigError(
                "task.name is empty; name a task, e.g. --task adding (seqlab tasks lists them)."
            )
        positive("task.batch_size", self.batch_size)
        at_least("task.num_workers", self.num_workers, 0)


@dataclass
class OptimConfig:
    """The optimiser, its learning-rate schedule and gradient clipping.

    Attributes:
        name: adam, adamw, sgd or rmsprop.
        lr: learning rate (the peak rate with a schedule).
        weight_decay: L2 penalty (decoupled for adamw), applied to weight matrices only,
            not to biases or other vectors.
        momentum: momentum of sgd and rmsprop.
        scheduler: ``none``; ``cosine`` annealing from ``lr`` to ``min_lr`` at the run's
            last optimiser step (or over ``trainer.max_time``, whichever limit is nearer);
            ``plateau``: multiply the rate by ``plateau_factor`` when the task's validation
            metric has not improved for ``plateau_patience`` validations.
        min_lr: the final rate of the cosine schedule.
        plateau_factor: the factor of the plateau schedule.
        plateau_patience: validations without improvement before the plateau schedule cuts.
        warmup_steps: raise the rate linearly from 0 to ``lr`` over this many optimiser
            steps before the schedule starts (0: no warm-up); the plateau schedule counts
            validations from its end.
        gradient_clip: clip the global gradient norm to this value (``None``: no clipping).
    """

    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    lr: float = field(default=3e-3, metadata=flag("--lr"))
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: Literal["none", "cosine", "plateau"] = "none"
    min_lr: float = 0.0
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    warmup_steps: int = 0
    gradient_clip: float | None = field(default=1.0, metadata=flag("--gradient-clip"))

    def validate(self) -> None:
        positive("optim.lr", self.lr)
        at_least("optim.weight_decay", self.weight_decay, 0)
        at_least("optim.momentum", self.momentum, 0)
        at_least("optim.min_lr", self.min_lr, 0)
        in_range("optim.plateau_factor", self.plateau_factor, 0, 1)
        at_least("optim.plateau_patience", self.plateau_patience, 0)
        at_least("optim.warmup_steps", self.warmup_steps, 0)
        if self.gradient_clip is not None:
            positive("optim.gradient_clip", self.gradient_clip)


@dataclass
class TrainerConfig:
    """How long, where and how reproducibly to train (Lightning's Trainer arguments).

    Attributes:
        max_epochs: stop after this many epochs (``None``: no epoch limit). The limits
            (``max_epochs``, ``max_steps``, ``max_time``) given in one layer (a file, or the
            command line) are the budget: the others are lifted; the first reached stops.
        max_steps: stop after this many optimiser steps (-1: no limit).
        max_time: stop after this many seconds of training (``None``: no time limit); a
            resumed run gets what is left of it after its earlier fits (``segments.jsonl``).
        early_stop: stop when the task's validation metric has not improved for this many
            validations (``None``: never stop early); the best checkpoint is kept.
        accumulate_grad_batches: sum the gradients of this many batches per optimiser step
            (language models: this many TBPTT chunks).
        accelerator: ``auto``, ``cpu``, ``gpu``/``cuda`` or ``mps``.
        devices: devices per node: a count, ``auto``, or a list such as ``"0,1"``.
        strategy: ``auto``, ``ddp``, ``ddp_spawn``, ``fsdp``... (Lightning's names).
        num_nodes: machines taking part (multi-node: see docs/training.md).
        precision: ``32-true``, ``16-mixed``, ``bf16-mixed``...
        seed: seeds data generation, initialisation, shuffling and dropout.
        val_check_interval: validate every this fraction of an epoch (float) or every
            this many training batches (int); ``None`` means once per epoch.
        check_val_every_n_epoch: validate every this many epochs (``None``: by batches only).
        limit_train_batches: batches per training epoch (fraction or count).
        limit_val_batches: batches per validation (fraction or count).
        limit_test_batches: batches of the final test (fraction or count).
        num_sanity_val_steps: validation batches run before training to catch errors.
        deterministic: ask torch for deterministic algorithms (slower on GPU).
        test: evaluate the best checkpoint on the task's test split at the end of fit.
        nonfinite_loss: what a NaN or infinite training loss does: ``stop`` (the default)
            ends the run with an error naming the step, before that step's update, so no
            checkpoint ever holds the damage; ``skip`` drops the batch (no update) and goes on.
        max_consecutive_skips: with ``skip``, this many non-finite batches in a row stop
            the run anyway (a diverged model gives nothing else).
    """

    max_epochs: int | None = field(default=10, metadata=flag("--max-epochs"))
    max_steps: int = field(default=-1, metadata=flag("--max-steps"))
    max_time: float | None = field(default=None, metadata=flag("--max-time"))
    early_stop: int | None = field(default=None, metadata=flag("--early-stop"))
    accumulate_grad_batches: int = 1
    accelerator: str = field(default="auto", metadata=flag("--accelerator"))
    devices: int | str = field(default="auto", metadata=flag("--devices"))
    strategy: str = field(default="auto", metadata=flag("--strategy"))
    num_nodes: int = field(default=1, metadata=flag("--num-nodes"))
    precision: str = field(default="32-true", metadata=flag("--precision"))
    seed: int = field(default=0, metadata=flag("--seed"))
    val_check_interval: float | int | None = None
    check_val_every_n_epoch: int | None = 1
    limit_train_batches: float | int = 1.0
    limit_val_batches: float | int = 1.0
    limit_test_batches: float | int = 1.0
    num_sanity_val_steps: int = 2
    deterministic: bool = False
    test: bool = True
    nonfinite_loss: Literal["stop", "skip"] = "stop"
    max_consecutive_skips: int = 10

    def validate(self) -> None:
        if self.max_epochs is not None:
            positive("trainer.max_epochs", self.max_epochs)
        if self.max_steps != -1:
            positive("trainer.max_steps", self.max_steps)
        if self.max_time is not None:
            positive("trainer.max_time", self.max_time)
        if self.early_stop is not None:
            positive("trainer.early_stop", self.early_stop)
        positive("trainer.accumulate_grad_batches", self.accumulate_grad_batches)
        if self.max_epochs is None and self.max_steps == -1 and self.max_time is None:
            raise ConfigError(
                "trainer.max_epochs is null, trainer.max_steps is -1 and trainer.max_time is "
                "null: the run would never stop. Set one of them, e.g. --max-epochs 10, "
                "--max-steps 1000 or --max-time 300."
            )
        if isinstance(self.devices, int) and self.devices != -1:
            positive("trainer.devices", self.devices)
        positive("trainer.num_nodes", self.num_nodes)
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"trainer.precision={self.precision!r} is not a precision Lightning knows."
                f"{did_you_mean(self.precision, PRECISIONS)} Choose one of: {', '.join(PRECISIONS)}."
            )
        at_least("trainer.seed", self.seed, 0)
        if self.val_check_interval is not None:
            positive("trainer.val_check_interval", self.val_check_interval)
        if self.check_val_every_n_epoch is not None:
            positive("trainer.check_val_every_n_epoch", self.check_val_every_n_epoch)
        for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches"):
            value = getattr(self, key)
            if isinstance(value, float) and not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"trainer.{key}={value!r}: a fraction must lie in [0, 1]; use an integer "
                    f"for a number of batches."
                )
            at_least(f"trainer.{key}", value, 0)
        at_least("trainer.num_sanity_val_steps", self.num_sanity_val_steps, -1)
        positive("trainer.max_consecutive_skips", self.max_consecutive_skips)


@dataclass
class RunConfig:
    """Where a run is stored and how it talks.

    Attributes:
        dir: the directory holding run directories (each run: ``<dir>/<name>-<timestamp>``).
        name: the run's name (default: ``<task>-<cell>``).
        quiet: no progress bar and minimal output (for scripts).
        resume: a run directory to continue from its ``checkpoints/last.ckpt``.
    """

    dir: str = field(default="runs", metadata=flag("--run-dir"))
    name: str | None = field(default=None, metadata=flag("--name"))
    quiet: bool = field(default=False, metadata=flag("--quiet", "-q"))
    resume: str | None = None


@dataclass(frozen=True)
class GradFlowOption:
    """The ``log.grad_flow`` option, read: measure gradient flow every ``every_n_steps`` steps."""

    every_n_steps: int

    def __post_init__(self) -> None:
        every = self.every_n_steps
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(
                f"grad flow: every must be a positive number of steps, got {every!r}; "
                f"for example --grad-flow every=50."
            )


def parse_grad_flow(option: str | int | None) -> GradFlowOption | None:
    """``--grad-flow`` / ``log.grad_flow`` read: ``every=50`` or ``50``; ``off``, ``none``,
    ``false``, ``0`` or empty: ``None`` (off). Raises :class:`ConfigError` when malformed."""
    if option is None:
        return None
    text = str(option).strip().lower()
    if text in ("", "off", "none", "false", "0"):
        return None
    value = text.split("=", 1)[1] if text.startswith("every=") else text
    try:
        every = int(value)
    except ValueError:
        raise ConfigError(
            f"--grad-flow {option!r}: expected every=N (N training steps between "
            f"measurements), for example --grad-flow every=50."
        ) from None
    return GradFlowOption(every)


@dataclass
class LogConfig:
    """Metric logging and diagnostics. A local ``metrics.csv`` is always written.

    Attributes:
        logger: where metrics go next to the CSV record: ``wandb`` (Weights & Biases,
            offline automatically when no account is configured), ``tensorboard`` (needs
            the tensorboard extra), ``csv`` or ``none`` (the CSV record only).
        every_n_steps: log training metrics every this many steps.
        wandb_project: W&B project (default: ``WANDB_PROJECT`` or ``seqlab``).
        wandb_entity: W&B entity (user or team); ``None``: the account's default.
        wandb_group: W&B group (``seqlab compare`` sets it to the comparison's name).
        wandb_tags: W&B tags (on the command line: comma-separated).
        wandb_mode: ``online``, ``offline`` or ``disabled``; ``None`` decides from
            ``WANDB_MODE`` and whether credentials exist (never prompting).
        log_model: upload the best and last checkpoints as W&B artifacts.
        grad_flow: gradient flow through time, e.g. ``every=50``: measure ‖∂L/∂h_t‖ for
            every step t every 50 training steps (``None``: off).
        samples: language models: log generated samples at each validation;
            sequence-to-sequence models: sample translations and attention maps (PNGs).
    """

    logger: Literal["wandb", "csv", "tensorboard", "none"] = field(
        default="csv", metadata=flag("--logger")
    )
    every_n_steps: int = 50
    wandb_project: str | None = field(default=None, metadata=flag("--wandb-project"))
    wandb_entity: str | None = field(default=None, metadata=flag("--wandb-entity"))
    wandb_group: str | None = field(default=None, metadata=flag("--wandb-group"))
    wandb_tags: list[str] = field(default_factory=list, metadata=flag("--wandb-tags"))
    wandb_mode: Literal["online", "offline", "disabled"] | None = field(
        default=None, metadata=flag("--wandb-mode")
    )
    log_model: bool = field(default=False, metadata=flag("--log-model"))
    grad_flow: str | None = field(default=None, metadata=flag("--grad-flow"))
    samples: bool = True

    def validate(self) -> None:
        positive("log.every_n_steps", self.every_n_steps)
        parse_grad_flow(self.grad_flow)  # raises ConfigError if malformed


__all__ = [
    "DEFAULT_TASK",
    "DEFAULT_TASK_OPTIONS",
    "PRECISIONS",
    "GradFlowOption",
    "LogConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TaskConfig",
    "TrainerConfig",
    "flag",
    "parse_grad_flow",
]
