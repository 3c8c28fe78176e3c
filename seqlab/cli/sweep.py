"""``seqlab sweep CONFIG.yaml``: register a W&B sweep, or run the grid here, one process per run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer
from rich.table import Table

from seqlab.cli.app import app, console, err_console
from seqlab.errors import ConfigError


@app.command("sweep")
def sweep_cmd(
    config: Path = typer.Argument(
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
    workers: int = typer.Option(1, "--workers", min=1, help="Local runs at a time."),
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
    """Sweep cells and hyperparameters with seqlab fit: as a W&B sweep, or locally with a summary table."""
    from seqlab import sweep as sw

    if local and register:
        raise ConfigError("--local and --register exclude each other; pick one.")
    spec = sw.load_sweep(config)
    if not local and not register:
        from seqlab.tracking.wandb_mode import resolve_wandb_mode

        resolved, reason = resolve_wandb_mode(wandb_mode)
        register = resolved == "online" and not dry_run
        if register:
            message = f"registering a W&B sweep (pass --local to run it here instead); {reason}"
        else:
            message = f"running the sweep locally; {reason}"
        err_console.print(message, style="dim", highlight=False, soft_wrap=True)
    if register:
        sweep_id, agent = sw.register_sweep(spec, project=project, entity=entity, mode=wandb_mode)
        console.print(
            f"registered W&B sweep {sweep_id}; start agents (one run at a time each) with:",
            highlight=False,
        )
        console.print(f"  {agent}", highlight=False, soft_wrap=True)
        return 0

    runs = sw.plan_runs(spec, count, seed)
    sw.check_runs(runs)
    out_dir = out if out is not None else Path("sweeps") / re.sub(r"[^\w.-]+", "-", spec.name)
    if dry_run:
        for params in runs:
            console.print(
                shlex.join([*sw.default_command(), *sw.set_arguments(params)]),
                highlight=False,
                soft_wrap=True,
            )
        console.print(f"{len(runs)} runs; nothing was run (--dry-run).", highlight=False)
        return 0
    err_console.print(
        f"{len(runs)} runs, {workers} at a time, into {out_dir}", style="dim", soft_wrap=True
    )
    results = sw.run_local(
        spec,
        out_dir,
        runs=runs,
        workers=workers,
        notify=lambda m: err_console.print(m, style="dim", highlight=False, soft_wrap=True),
    )
    csv_path, md_path = sw.write_summary(spec, results, out_dir)
    columns, rows = sw.summary_rows(spec, results)
    table = Table(title=f"sweep {spec.name} (all columns: {csv_path.name})")
    params = spec.swept_keys or list(spec.parameters)
    measured = [c for c in columns if c not in ("run", "status", "seconds", "run_dir", *params)]
    headline = measured[:1] if spec.metric else measured[:4]  # the sweep's metric comes first
    shown = [
        "run",
        "status",
        *params,
        *headline,
        *[c for c in ("baseline", "parameters") if c in measured],
    ]
    for c in dict.fromkeys(shown):
        table.add_column(c, justify="left" if c in ("run", "status") else "right", overflow="fold")
    shown = list(dict.fromkeys(shown))
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


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
