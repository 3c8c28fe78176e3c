"""File names of a comparison's output directory (see :mod:`seqlab.compare.runner`)."""

from __future__ import annotations

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
