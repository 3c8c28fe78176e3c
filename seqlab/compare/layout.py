"""A comparison's output directory: its file names, the writability check, ``compare.json``.

Layout of ``--out DIR`` (see :mod:`seqlab.compare.runner` for how it is run and resumed)::

    compare.json                the comparison: name, cells, seeds, budget, command
    runs/<cell>-s<seed>/        one slot per run
        run.json                what the worker runs (config, budget, resume)
        signature.json          what makes the run the experiment it is
        output.log              the worker's stdout and stderr
        <cell>-s<seed>-<time>/  seqlab fit's run directory (config.yaml, metrics.csv,
                                summary.json, checkpoints/, grad_flow/, resources.json)
    submitit/                   submitit's files (--launcher slurm only)
    results.csv, report.md, *.png   written by :mod:`seqlab.compare.report`
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqlab.errors import ConfigError

if TYPE_CHECKING:
    from seqlab.compare.plan import ComparisonPlan

RUNS_DIR = "runs"
"""One slot per run: ``runs/<cell>-s<seed>/``."""
PLAN_FILE = "compare.json"
"""The comparison as planned: name, cells, seeds, budget, command, per-run sizes."""
SPEC_FILE = "run.json"
"""What a slot's worker runs (config, budget, resume)."""
SIGNATURE_FILE = "signature.json"
"""What makes a slot's run the experiment it is (compared when a command is re-run)."""
LOG_FILE = "output.log"
"""A worker's stdout and stderr."""
RESOURCES_FILE = "resources.json"
"""Written by the worker into the run directory: training time, samples/s, peak memory."""
SUBMITIT_DIR = "submitit"
"""submitit's pickles and logs (``--launcher slurm``)."""


def check_out_dir(out: Path) -> None:
    """Make ``out`` (and check it is writable) or raise ConfigError naming the fix."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"--out {str(out)!r} is not a writable directory ({exc.strerror or exc}); choose a "
            f"directory you can write, e.g. --out results/my-comparison."
        ) from None


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """``["key.sub (old → new)", ...]`` for every leaf where two nested dicts differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')} ({old!r} → {new!r})"]


def write_plan_record(plan: ComparisonPlan, out: Path, command: Sequence[str] | None) -> Path:
    """Write ``compare.json``: the comparison as planned."""
    record = {
        "name": plan.name,
        "command": shlex.join(command) if command else None,
        "cells": [c.label for c in plan.cells],
        "seeds": plan.seeds,
        "budget": {"max_steps": plan.budget.max_steps, "time_budget_s": plan.budget.time_budget_s},
        "match": plan.match,
        "target_parameters": plan.target_parameters,
        "grad_flow_every": plan.grad_flow_every,
        "runs": [
            {
                "run_id": r.run_id,
                "cell": r.cell.label,
                "seed": r.seed,
                "hidden_size": r.hidden_size,
                "parameters": r.parameters,
                "flops_per_step": r.flops_per_step,
            }
            for r in plan.runs
        ],
        "base_config": plan.base.to_dict(),
    }
    path = out / PLAN_FILE
    path.write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    return path
