"""``seqlab fit``, ``validate``, ``test`` and ``generate``: thin layers over seqlab.training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from seqlab.cli.app import app, console, parse_key_values

_FLAG_KEYS = {
    "cell": "model.cell",
    "task": "task.name",
    "hidden_size": "model.hidden_size",
    "num_layers": "model.num_layers",
    "bidirectional": "model.bidirectional",
    "dropout": "model.dropout",
    "batch_size": "task.batch_size",
    "lr": "optim.lr",
    "max_epochs": "trainer.max_epochs",
    "max_steps": "trainer.max_steps",
    "seed": "trainer.seed",
    "accelerator": "trainer.accelerator",
    "devices": "trainer.devices",
    "strategy": "trainer.strategy",
    "num_nodes": "trainer.num_nodes",
    "precision": "trainer.precision",
    "gradient_clip": "optim.gradient_clip",
    "run_dir": "run.dir",
    "name": "run.name",
    "logger": "log.logger",
    "wandb_project": "log.wandb_project",
    "wandb_entity": "log.wandb_entity",
    "wandb_group": "log.wandb_group",
    "wandb_mode": "log.wandb_mode",
    "log_model": "log.log_model",
    "grad_flow": "log.grad_flow",
}


def config_flags(
    values: dict[str, Any], task_opt: list[str] | None, cell_opt: list[str] | None, quiet: bool
) -> dict[str, Any]:
    """Dotted config keys for the flags given on the command line (others are ``None``)."""
    flags: dict[str, Any] = {}
    for arg, key in _FLAG_KEYS.items():
        value = values.get(arg)
        if value is not None:
            flags[key] = str(value) if isinstance(value, Path) else value
    tags = values.get("wandb_tags")
    if tags:
        flags["log.wandb_tags"] = [t.strip() for t in str(tags).split(",") if t.strip()]
    for k, v in parse_key_values(task_opt, "--task-opt").items():
        flags[f"task.options.{k}"] = v
    for k, v in parse_key_values(cell_opt, "--cell-opt").items():
        flags[f"model.cell_options.{k}"] = v
    if quiet:
        flags["run.quiet"] = True
    return flags


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


@app.command("fit")
def fit_cmd(
    cell: str | None = typer.Option(
        None, "--cell", help="Recurrent cell (seqlab cells lists them)."
    ),
    task: str | None = typer.Option(
        None, "--task", help="Task (seqlab tasks lists them). Default: adding."
    ),
    hidden_size: int | None = typer.Option(
        None, "--hidden-size", help="Units per layer and direction."
    ),
    num_layers: int | None = typer.Option(None, "--num-layers", help="Stacked recurrent layers."),
    bidirectional: bool | None = typer.Option(
        None, "--bidirectional/--no-bidirectional", help="Add a backward cell per layer."
    ),
    dropout: float | None = typer.Option(
        None, "--dropout", help="Dropout between layers and before the head."
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Sequences per batch (per device)."
    ),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate."),
    max_epochs: int | None = typer.Option(
        None, "--max-epochs", help="Stop after this many epochs."
    ),
    max_steps: int | None = typer.Option(
        None, "--max-steps", help="Stop after this many optimiser steps."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of data, initialisation and dropout."
    ),
    accelerator: str | None = typer.Option(None, "--accelerator", help="auto, cpu, gpu, mps."),
    devices: str | None = typer.Option(
        None, "--devices", help="Devices per node: a count, auto or '0,1'."
    ),
    strategy: str | None = typer.Option(None, "--strategy", help="auto, ddp, ddp_spawn, fsdp..."),
    num_nodes: int | None = typer.Option(None, "--num-nodes", help="Machines taking part."),
    precision: str | None = typer.Option(
        None, "--precision", help="32-true, 16-mixed, bf16-mixed..."
    ),
    gradient_clip: float | None = typer.Option(
        None, "--gradient-clip", help="Clip the gradient norm to this."
    ),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Where run directories go (default ./runs)."
    ),
    name: str | None = typer.Option(None, "--name", help="Run name (default <task>-<cell>)."),
    task_opt: list[str] | None = typer.Option(
        None, "--task-opt", help="Task option KEY=VALUE (repeatable)."
    ),
    cell_opt: list[str] | None = typer.Option(
        None, "--cell-opt", help="Cell option KEY=VALUE (repeatable)."
    ),
    config: Path | None = typer.Option(None, "--config", help="A YAML config (see configs/)."),
    set_: list[str] | None = typer.Option(
        None, "--set", help="Override SECTION.KEY=VALUE (repeatable)."
    ),
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue a run directory from its last checkpoint."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bar; print only the result."
    ),
    logger: str | None = typer.Option(
        None, "--logger", help="wandb, csv, tensorboard or none (metrics.csv is always written)."
    ),
    wandb_project: str | None = typer.Option(None, "--wandb-project", help="W&B project."),
    wandb_entity: str | None = typer.Option(
        None, "--wandb-entity", help="W&B entity (user or team)."
    ),
    wandb_group: str | None = typer.Option(None, "--wandb-group", help="W&B group."),
    wandb_tags: str | None = typer.Option(None, "--wandb-tags", help="Comma-separated W&B tags."),
    wandb_mode: str | None = typer.Option(
        None,
        "--wandb-mode",
        help="online, offline or disabled (default: offline without credentials).",
    ),
    log_model: bool | None = typer.Option(
        None,
        "--log-model/--no-log-model",
        help="Upload best and last checkpoints as W&B artifacts.",
    ),
    grad_flow: str | None = typer.Option(
        None, "--grad-flow", help="Measure gradient flow through time, e.g. every=50."
    ),
    overrides: list[str] | None = typer.Argument(
        None,
        help="KEY=VALUE overrides, the same as --set (W&B sweep agents pass these).",
        show_default=False,
    ),
) -> None:
    """Train a model; print its result next to the task's trivial baseline.

    Precedence: defaults < --config FILE < flags < --set (and positional KEY=VALUE).
    Everything lands in <run-dir>/<name>-<timestamp>/ (config.yaml, checkpoints/,
    metrics.csv, summary.json).
    """
    from seqlab.config import Config, resolve_config
    from seqlab.training import describe, fit
    from seqlab.training.fitting import _resume_config

    values = dict(locals())
    flags = config_flags(values, task_opt, cell_opt, quiet)
    set_ = [*(set_ or []), *(o.lstrip("-") for o in overrides or [])]
    base = None
    if resume is not None:
        _, base = _resume_config(resume, None)
    cfg: Config = resolve_config(config, flags, set_ or None, base=base)
    if resume is None and cfg.run.resume:  # run.resume set in the file or by --set
        resume = Path(cfg.run.resume)
        _, base = _resume_config(resume, None)
        cfg = resolve_config(config, flags, set_ or None, base=base)
    result = fit(cfg, resume=resume)
    if not result.is_global_zero:
        return
    if cfg.run.quiet:
        console.print(f"{describe(result)}\nrun: {result.run_dir}", highlight=False, soft_wrap=True)
        if result.sync_hint:
            console.print(result.sync_hint, highlight=False, soft_wrap=True)
        return
    params = result.parameters["total"]
    console.print(
        f"[bold]{cfg.task.name}[/] with [bold]{cfg.model.cell}[/] ({params:,} parameters): "
        f"{result.global_step:,} steps, {result.epochs} epoch(s) in {_duration(result.wall_time_s)}",
        highlight=False,
    )
    console.print(f"[bold green]{describe(result)}[/]", highlight=False, soft_wrap=True)
    console.print(f"run: {result.run_dir}", highlight=False, soft_wrap=True)
    if result.sync_hint:
        console.print(
            f"W&B ran offline; upload with: {result.sync_hint}", highlight=False, soft_wrap=True
        )


def _metrics_table(
    title: str, metrics: dict[str, float], baselines: list[Any], split: str
) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("trivial baseline", justify="left")
    for key, value in metrics.items():
        name = key.split("_", 1)[-1]
        base = next((b for b in baselines if b.metric == name and b.split == split), None)
        table.add_row(
            key, f"{value:.4g}", "" if base is None else f"{base.value:.4g} ({base.description})"
        )
    return table


def _evaluate_cmd(
    split: str,
    ckpt: Path,
    batch_size: int | None,
    accelerator: str,
    devices: str,
    limit_batches: float | None,
    quiet: bool,
    trust: bool,
) -> None:
    from seqlab.training import evaluate, load_checkpoint

    limit: int | float | None = None
    if limit_batches is not None:
        limit = (
            int(limit_batches)
            if float(limit_batches).is_integer() and limit_batches >= 1
            else limit_batches
        )
    loaded = load_checkpoint(ckpt, trust=trust)
    metrics = evaluate(
        split,  # type: ignore[arg-type]
        loaded,
        batch_size=batch_size,
        accelerator=accelerator,
        devices=devices,
        limit_batches=limit,
        quiet=quiet,
    )
    baselines = list(loaded.info.baselines)
    console.print(_metrics_table(f"{split} metrics of {ckpt}", metrics, baselines, split))


_CKPT_HELP = "A checkpoint file, or a run directory (its checkpoints/best.ckpt)."
_TRUST_HELP = (
    "Load a checkpoint that holds Python objects beyond tensors (refused by default: "
    "unpickling can run arbitrary code). Only for files whose origin you trust."
)


def _trust_option() -> Any:
    return typer.Option(False, "--trust-checkpoint", help=_TRUST_HELP)


@app.command("validate")
def validate_cmd(
    ckpt: Path = typer.Option(..., "--ckpt", help=_CKPT_HELP),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Override the batch size."),
    accelerator: str = typer.Option("auto", "--accelerator"),
    devices: str = typer.Option("1", "--devices"),
    limit_batches: float | None = typer.Option(
        None, "--limit-batches", help="Evaluate only this many batches (or fraction)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    trust_checkpoint: bool = _trust_option(),
) -> None:
    """Metrics of a checkpoint on its task's validation split."""
    _evaluate_cmd(
        "val", ckpt, batch_size, accelerator, devices, limit_batches, quiet, trust_checkpoint
    )


@app.command("test")
def test_cmd(
    ckpt: Path = typer.Option(..., "--ckpt", help=_CKPT_HELP),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Override the batch size."),
    accelerator: str = typer.Option("auto", "--accelerator"),
    devices: str = typer.Option("1", "--devices"),
    limit_batches: float | None = typer.Option(
        None, "--limit-batches", help="Evaluate only this many batches (or fraction)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    trust_checkpoint: bool = _trust_option(),
) -> None:
    """Metrics of a checkpoint on its task's test split."""
    _evaluate_cmd(
        "test", ckpt, batch_size, accelerator, devices, limit_batches, quiet, trust_checkpoint
    )


@app.command("generate")
def generate_cmd(
    ckpt: Path = typer.Option(..., "--ckpt", help=_CKPT_HELP),
    prompt: str = typer.Option("\n", "--prompt", help="Text to start from."),
    length: int = typer.Option(500, "--length", help="Tokens to sample."),
    temperature: float = typer.Option(
        0.8, "--temperature", help="Softmax temperature (0: greedy)."
    ),
    top_k: int | None = typer.Option(
        None, "--top-k", help="Sample among the k most likely tokens."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the sampling."),
    trust_checkpoint: bool = _trust_option(),
) -> None:
    """Sample text from a language-model checkpoint (e.g. charlm)."""
    from seqlab.training import generate

    text = generate(ckpt, prompt, length, temperature, top_k, seed=seed, trust=trust_checkpoint)
    typer.echo(text)
