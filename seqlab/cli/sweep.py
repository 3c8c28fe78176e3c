"""``seqlab sweep SWEEP.yaml``: register a W&B sweep, or run the runs here or on SLURM.

The sweep's runs are ``seqlab fit`` over a base config (``--config``, ``--set``, the config
flags), each with the sweep file's parameters on top.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

import seqlab.sweep as sw
from seqlab.cli.app import console, err_console
from seqlab.cli.options import ConfigArgs, ConfigBlock, RunnerArgs, RunnerBlock, schema_command
from seqlab.config import Config
from seqlab.errors import ConfigError
from seqlab.sweep.running import BASE_FILE

# Set per run by the sweep (--out holds one directory per run; runs are quiet).
OWNED_KEYS = ("run.dir", "run.name", "run.quiet", "run.resume")


def _dim(message: str) -> None:
    err_console.print(message, style="dim", highlight=False, soft_wrap=True)


def _registers(local: bool, register: bool, wandb_mode: str | None, dry_run: bool) -> bool:
    """Whether to register the sweep with W&B: asked for, or (neither asked) W&B is online.
    A dry run lists the local runs: it registers nothing and does not ask W&B."""
    if local and register:
        raise ConfigError("--local and --register exclude each other; pick one.")
    if dry_run:
        return False
    if local or register:
        return register
    from seqlab.tracking.wandb_mode import resolve_wandb_mode

    resolved, reason = resolve_wandb_mode(wandb_mode)
    if resolved == "online":
        _dim(f"registering a W&B sweep (pass --local to run it here instead); {reason}")
        return True
    _dim(f"running the sweep locally; {reason}")
    return False


def _register(spec: sw.SweepSpec, args: ConfigArgs, **where: Any) -> None:
    if args.given:
        raise ConfigError(
            "--config, --set and the config flags make the base config of local runs; a "
            "registered W&B sweep runs seqlab fit on the agents' machines with the sweep "
            "file's parameters only. Put fixed keys in the file (key: {value: V}) or run "
            "the sweep with --local."
        )
    sweep_id, agent = sw.register_sweep(spec, **where)
    console.print(
        f"registered W&B sweep {sweep_id}; start agents (one run at a time each) with:",
        highlight=False,
    )
    console.print(f"  {agent}", highlight=False, soft_wrap=True)


def _dry_run(runs: list[dict[str, Any]], out_dir: Path, base: Config | None) -> None:
    config = ["--config", str(out_dir / BASE_FILE)] if base is not None else []
    for params in runs:
        argv = [*sw.default_command(), *config, *sw.set_arguments(params)]
        console.print(shlex.join(argv), highlight=False, soft_wrap=True)
    console.print(f"{len(runs)} runs; nothing was run (--dry-run).", highlight=False)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _summary(spec: sw.SweepSpec, results: list[sw.RunResult], out_dir: Path) -> int:
    """Write and print the summary; 1 when a run failed."""
    csv_path, md_path = sw.write_summary(spec, results, out_dir)
    columns, rows = sw.summary_rows(spec, results)
    table = Table(title=f"sweep {spec.name} (all columns: {csv_path.name})")
    params = spec.swept_keys or list(spec.parameters)
    measured = [c for c in columns if c not in ("run", "status", "seconds", "run_dir", *params)]
    headline = measured[:1] if spec.metric else measured[:4]  # the sweep's metric comes first
    extra = [c for c in ("baseline", "parameters") if c in measured]
    shown = list(dict.fromkeys(["run", "status", *params, *headline, *extra]))
    for c in shown:
        table.add_column(c, justify="left" if c in ("run", "status") else "right", overflow="fold")
    for row in rows:
        table.add_row(*[_cell(row[c]) for c in shown])
    console.print(table)
    console.print(f"wrote {csv_path} and {md_path}", soft_wrap=True, highlight=False)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        err_console.print(
            f"[bold red]{len(failed)} of {len(results)} runs failed:[/] "
            + ", ".join(f"{r.run_id} ({r.log})" for r in failed),
            highlight=False,
            soft_wrap=True,
        )
        return 1
    return 0


@schema_command(
    "sweep",
    ConfigBlock(exclude=OWNED_KEYS),
    RunnerBlock(min_workers=1, workers_help="Runs at a time (on slurm: jobs submitted at a time)."),
)
def sweep_cmd(
    args: ConfigArgs,
    runner: RunnerArgs,
    sweep: Path = typer.Argument(
        ..., help="Sweep YAML in W&B's format; parameter names are dotted config keys."
    ),
    local: bool = typer.Option(
        False, "--local", help="Run here (the default when W&B is not online)."
    ),
    register: bool = typer.Option(
        False, "--register", help="Register a W&B sweep and print the agent command."
    ),
    count: int | None = typer.Option(
        None, "--count", min=1, help="Random sweeps: runs to draw. Grids: run the first N."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the random draws."),
    out: Path | None = typer.Option(
        None, "--out", help="Local output directory (default: sweeps/<name>)."
    ),
    project: str | None = typer.Option(
        None, "--wandb-project", help="W&B project of a registered sweep."
    ),
    entity: str | None = typer.Option(
        None, "--wandb-entity", help="W&B entity of a registered sweep."
    ),
    wandb_mode: str | None = typer.Option(
        None, "--wandb-mode", help="online, offline or disabled."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the runs' commands; run nothing."),
) -> int:
    """Sweep cells and hyperparameters with seqlab fit: as a W&B sweep, or locally with a summary table.

    Local runs are seqlab fit over a base config (defaults < --config < flags < --set)
    with the sweep file's parameters on top.
    """
    spec = sw.load_sweep(sweep)
    if _registers(local, register, wandb_mode, dry_run):
        _register(spec, args, project=project, entity=entity, mode=wandb_mode)
        return 0
    base = args.resolve() if args.given else None
    runs = sw.plan_runs(spec, count, seed)
    sw.check_runs(runs, base=base, source=spec.source)
    out_dir = out if out is not None else Path("sweeps") / re.sub(r"[^\w.-]+", "-", spec.name)
    if dry_run:
        _dry_run(runs, out_dir, base)
        return 0
    _dim(f"{len(runs)} runs, {runner.workers} at a time, into {out_dir}")
    results = sw.run_local(
        spec,
        out_dir,
        runs=runs,
        workers=runner.workers,
        notify=_dim,
        base=base,
        threads=runner.threads,
        launcher=runner.launcher,
        launcher_options=runner.launcher_options,
    )
    return _summary(spec, results, out_dir)
