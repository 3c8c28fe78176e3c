"""``seqlab fit``, ``validate``, ``test`` and ``generate``: thin layers over seqlab.training."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from seqlab.cli.app import app, console
from seqlab.cli.checkpoint_options import ckpt_option, trust_option
from seqlab.cli.options import ConfigArgs, ConfigBlock, schema_command
from seqlab.config import Config
from seqlab.config.experiment import set_recipe_source


def _task_recipe(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The task's recipe (:func:`seqlab.training.task.task_recipe`), imported when first
    needed so that ``seqlab --help`` stays fast."""
    from seqlab.training.task import task_recipe

    return task_recipe(name, options)


# fit, compare and sweep resolve their configs through seqlab.config.resolve_config: the
# task's recipe is the layer between the built-in defaults and the user's file and flags.
set_recipe_source(_task_recipe)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _fit_config(args: ConfigArgs, resume: str | None) -> tuple[Config, Path | None]:
    """The run's config and the run directory it continues (``--resume`` or ``run.resume``;
    ``--resume auto``: the newest unfinished run of the same experiment, if any)."""
    from seqlab.training import resume_config
    from seqlab.training.resume import AUTO, find_unfinished_run

    if resume == AUTO:
        cfg = args.resolve()
        found = find_unfinished_run(cfg)
        if found is None:
            return cfg, None
        return args.resolve(resume_config(found, None, finished_ok=True)[1]), found
    run = Path(resume) if resume is not None else None
    base = resume_config(run, None, finished_ok=True)[1] if run is not None else None
    cfg = args.resolve(base)
    if run is None and cfg.run.resume:  # run.resume set in the file or by --set
        run = Path(cfg.run.resume)
        cfg = args.resolve(resume_config(run, None, finished_ok=True)[1])
    return cfg, run


def _print_result(cfg: Config, result: Any) -> None:
    from seqlab.training import describe

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


@schema_command("fit", ConfigBlock(exclude=("run.resume",), positional=True))
def fit_cmd(
    args: ConfigArgs,
    resume: str | None = typer.Option(
        None,
        "--resume",
        help="Continue a run directory from its last checkpoint; `auto`: the newest "
        "unfinished run of this experiment in --run-dir, else a new run.",
    ),
) -> None:
    """Train a model; print its result next to the task's trivial baseline.

    Precedence: defaults < --config FILE < flags < --set (and positional KEY=VALUE).
    Everything lands in <run-dir>/<name>-<timestamp>/ (config.yaml, checkpoints/,
    metrics.csv, summary.json).
    """
    from seqlab.training import fit
    from seqlab.training.resume import RunFinished

    cfg, run = _fit_config(args, resume)
    try:
        result = fit(cfg, resume=run)
    except RunFinished as done:
        console.print(str(done), highlight=False, soft_wrap=True)
        return
    if result.is_global_zero:
        _print_result(cfg, result)


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
    data: Path | None,
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
        data=data,
    )
    baselines = list(loaded.info.baselines)
    console.print(_metrics_table(f"{split} metrics of {ckpt}", metrics, baselines, split))


def _evaluate_command(split: str, what: str) -> Callable[..., None]:
    """The command printing a checkpoint's metrics on the ``split`` of its task."""

    def command(
        ckpt: Path = ckpt_option(),
        batch_size: int | None = typer.Option(
            None, "--batch-size", help="Override the batch size."
        ),
        accelerator: str = typer.Option("auto", "--accelerator"),
        devices: str = typer.Option("1", "--devices"),
        limit_batches: float | None = typer.Option(
            None, "--limit-batches", help="Evaluate only this many batches (or fraction)."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q"),
        trust_checkpoint: bool = trust_option(),
        data: Path | None = typer.Option(
            None, "--data", help="The task's data file, if it moved since training."
        ),
    ) -> None:
        _evaluate_cmd(
            split,
            ckpt,
            batch_size,
            accelerator,
            devices,
            limit_batches,
            quiet,
            trust_checkpoint,
            data,
        )

    command.__doc__ = f"Metrics of a checkpoint on its task's {what} split."
    command.__name__ = command.__qualname__ = f"{split}_cmd"
    return command


validate_cmd = app.command("validate")(_evaluate_command("val", "validation"))
test_cmd = app.command("test")(_evaluate_command("test", "test"))
