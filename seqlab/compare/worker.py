"""One run of a comparison, in its own process: ``python -m seqlab.compare.worker RUN.json``.

The worker trains with :func:`seqlab.training.fit` and adds what a comparison needs on
top of a plain ``seqlab fit``:

- the wall-clock budget (``time_budget_s``): Lightning's ``Timer`` callback, which stops
  training once that much time has passed since training started (validation during
  training counts, data generation and the final evaluation do not); its elapsed time is
  saved in checkpoints, so a resumed run gets only what is left;
- gradient flow through time every N steps (:class:`seqlab.diagnostics.grad_flow.GradientFlow`),
  unless the training layer's own ``log.grad_flow`` is set in the config;
- :class:`ResourceMeter`: training time without validation, training samples and the
  peak memory, written as ``resources.json`` into the run directory.

``RUN.json`` holds ``config`` (the complete config, as a dict), ``resume`` (a run
directory to continue, or null), ``time_budget_s``, ``grad_flow_every`` and ``threads``
(torch's intra-op threads; null: torch's default). The exit code
is 0 on success, 2 for a :class:`~seqlab.errors.SeqlabError` (its message on stderr).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from seqlab.compare.layout import RESOURCES_FILE


def max_rss_mb() -> float:
    """This process's peak resident set size in MiB (``getrusage``; KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class ResourceMeter(Callback):
    """Measures the training loop: time without validation, samples, tokens, peak memory.

    ``train_time_s`` runs from ``on_train_start`` to ``on_train_end`` minus the time spent
    in validation during training. ``samples`` counts training sequences (rows of each
    batch's ``x``) and ``tokens`` their valid steps (``lengths``). The counts are saved in
    checkpoints (a resumed run adds to them; work done after the last checkpoint of an
    interrupted process is not counted twice because it is discarded with it). Once
    training has ended, restoring a checkpoint (fit's evaluation of the best one) leaves
    the counts alone.
    """

    def __init__(self) -> None:
        self.train_time_s = 0.0
        self.val_time_s = 0.0
        self.samples = 0
        self.tokens = 0
        self._train_started: float | None = None
        self._val_started: float | None = None
        self._val_in_session = 0.0
        self._trained = False

    @property
    def state_key(self) -> str:
        return "seqlab.compare.ResourceMeter"

    def _live_train_time(self) -> float:
        if self._train_started is None:
            return self.train_time_s
        return (
            self.train_time_s + (time.perf_counter() - self._train_started) - self._val_in_session
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "train_time_s": self._live_train_time(),
            "samples": self.samples,
            "tokens": self.tokens,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self._trained:
            # fit evaluates the best checkpoint after training, which restores callback
            # states too: the counts of that (earlier) step must not replace the final ones.
            return
        self.train_time_s = float(state_dict.get("train_time_s", 0.0))
        self.samples = int(state_dict.get("samples", 0))
        self.tokens = int(state_dict.get("tokens", 0))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._train_started = time.perf_counter()
        self._val_in_session = 0.0

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        x = batch["x"] if isinstance(batch, dict) else batch[0]
        self.samples += int(x.shape[0])
        lengths = batch.get("lengths") if isinstance(batch, dict) else None
        self.tokens += int(lengths.sum()) if lengths is not None else int(x.shape[0] * x.shape[1])

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._train_started is not None and not trainer.sanity_checking:
            self._val_started = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._val_started is not None:
            spent = time.perf_counter() - self._val_started
            self._val_in_session += spent
            self.val_time_s += spent
            self._val_started = None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_time_s = self._live_train_time()
        self._train_started = None
        self._val_in_session = 0.0
        self._trained = True


def config_has(config_dict: dict[str, Any], section: str, key: str) -> bool:
    """Whether the installed config schema has ``section.key`` (the training layer grows)."""
    from seqlab.config import Config

    return key in Config().to_dict().get(section, {})


def run(spec: dict[str, Any]) -> Path:
    """Train the run ``spec`` describes; returns its run directory (``resources.json`` written)."""
    from seqlab.config import Config

    config = Config.from_dict(spec["config"], "the comparison's run spec")
    threads = spec.get("threads")
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return _run(spec, config)
    finally:
        torch.set_num_threads(previous_threads)  # matters only when run in the caller's process


def _run(spec: dict[str, Any], config: Any) -> Path:
    from seqlab.training import fit
    from seqlab.training.checkpoint import atomic_write

    callbacks: list[Callback] = []
    budget = spec.get("time_budget_s")
    if budget is not None:
        from lightning.pytorch.callbacks import Timer

        callbacks.append(Timer(duration={"seconds": float(budget)}, interval="step"))
    every = spec.get("grad_flow_every")
    if every and not config_has(spec["config"], "log", "grad_flow"):
        from seqlab.diagnostics.grad_flow import GradientFlow

        callbacks.append(GradientFlow(int(every)))
    meter = ResourceMeter()
    callbacks.append(meter)
    cuda = torch.cuda.is_available() and config.trainer.accelerator in ("auto", "gpu", "cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    result = fit(config, resume=spec.get("resume"), callbacks=callbacks)
    if cuda:
        peak, kind = torch.cuda.max_memory_allocated() / 2**20, "torch.cuda.max_memory_allocated"
    else:
        peak, kind = max_rss_mb(), "max RSS of the run's process"
    resources = {
        "train_time_s": round(meter.train_time_s, 3),
        "val_time_s": round(meter.val_time_s, 3),
        "samples": meter.samples,
        "tokens": meter.tokens,
        "samples_per_s": meter.samples / meter.train_time_s if meter.train_time_s > 0 else None,
        "tokens_per_s": meter.tokens / meter.train_time_s if meter.train_time_s > 0 else None,
        "peak_memory_mb": round(peak, 1),
        "peak_memory_kind": kind,
        "time_budget_s": budget,
        "threads": torch.get_num_threads(),
        "pid": os.getpid(),
    }
    text = json.dumps(resources, indent=2) + "\n"
    atomic_write(result.run_dir / RESOURCES_FILE, lambda f: f.write(text.encode()))
    return result.run_dir


def main(argv: list[str] | None = None) -> int:
    from seqlab.errors import SeqlabError

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m seqlab.compare.worker RUN.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    try:
        run_dir = run(spec)
    except SeqlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"run: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
