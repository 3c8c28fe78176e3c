"""Gradient flow through time: ‖∂L/∂h_t‖ for every step t of every recurrent layer, measured.

A recurrent network learns a dependency across k steps only if the loss gradient survives
the k-fold product of step Jacobians on its way back. :class:`GradientFlow` measures it:
every N training steps, on one batch, it records for each step t the norm of ∂L/∂h_t — the
gradient of that batch's training loss with respect to the hidden output h_t of each layer
and direction of every :class:`seqlab.Recurrent` in the module, through all later steps.

- the **profile** (norm against t) of a well-conditioned network is flat; one that decays
  towards t = 1 means vanishing gradients (early inputs cannot be learnt from), one that
  grows means exploding gradients;
- the **ratio** ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ sums it up in one number per layer: ≈ 1 healthy,
  ≪ 1 vanishing, ≫ 1 exploding (log it on a log scale);
- the **heatmap** (time step × training step, log colour) shows how this changes as the
  network trains.

The reduction: ‖·‖ is the Frobenius norm of the whole batch's gradient, a (B, H) matrix —
the literal ‖∂L/∂h_t‖ for the batch's state h_t, with L the (mean-reduced) training loss.
Steps past a sequence's length contribute zero. In manual optimisation (truncated BPTT) L
is the loss of the first chunk of the batch, and t runs over that chunk. For a backward
direction t counts its own processing order (t = 1 reads the last input). Under mixed
precision the gradient scaler's factor is divided out.

How it stays cheap: ``Recurrent.observe_steps`` makes a layer step its cell (observers need
every h_t as a graph node) — so the observer is set on the measured batch only, and taken
off right after the first forward pass of each layer in that batch; every other batch runs
the fused path (a cell's ``forward_sequence``) untouched. Gradients are caught by tensor
hooks on h_t during backward (no ``retain_grad`` copies) and reduced on the device, with one
synchronisation per measured batch.

Outputs (global rank 0 only): scalars ``grad_flow/ratio_<layer>`` to every logger at each
measurement (``metrics.csv`` included); at each validation and at the end of training,
``<run_dir>/grad_flow/heatmap_<layer>.png``, ``profile.png``, the numbers in
``grad_flow.npz`` (:func:`load_grad_flow` reads them back, :func:`plot_heatmaps` draws
several runs side by side) and, with a W&B logger, the heatmaps as images
``grad_flow/heatmap_<layer>``.

Layer names: ``l<k>`` for layer k, ``l<k>_rev`` for its backward direction, prefixed with the
module's path (``encoder_l0``) when the model holds more than one ``Recurrent``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from seqlab.config import GradFlowOption, parse_grad_flow
from seqlab.errors import ConfigError
from seqlab.recurrent import Recurrent
from seqlab.tracking.loggers import log_step

GRAD_FLOW_DIR = "grad_flow"
NPZ_NAME = "grad_flow.npz"


@dataclass
class GradFlowHistory:
    """The measurements of one layer/direction: ``norms[i][t]`` = ‖∂L/∂h_{t+1}‖ at ``steps[i]``."""

    key: str
    steps: list[int] = field(default_factory=list)
    norms: list[np.ndarray] = field(default_factory=list)

    def add(self, step: int, norms: np.ndarray) -> None:
        self.steps.append(int(step))
        self.norms.append(np.asarray(norms, dtype=np.float64))

    def matrix(self) -> np.ndarray:
        """(T_max, M): time step × measurement, NaN where a measurement had fewer steps."""
        if not self.norms:
            return np.zeros((0, 0))
        t_max = max(len(n) for n in self.norms)
        out = np.full((t_max, len(self.norms)), np.nan)
        for i, n in enumerate(self.norms):
            out[: len(n), i] = n
        return out

    def ratios(self) -> np.ndarray:
        """‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ of each measurement."""
        return np.array([gradient_ratio(n) for n in self.norms])


def gradient_ratio(norms: Sequence[float] | np.ndarray) -> float:
    """‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ from a profile (NaN when it is empty or ends in zero)."""
    norms = np.asarray(norms, dtype=np.float64)
    if norms.size == 0 or norms[-1] == 0 or not np.isfinite(norms[-1]):
        return math.nan
    return float(norms[0] / norms[-1])


def layer_key(index: int, num_directions: int, prefix: str = "") -> str:
    """``l0``, ``l0_rev``, ``encoder_l1``: the name of layer/direction ``index`` of a Recurrent."""
    layer, direction = divmod(index, num_directions)
    return f"{prefix}l{layer}" + ("_rev" if direction else "")


def recurrent_layers(module: torch.nn.Module) -> list[tuple[str, Recurrent]]:
    """``(prefix, layer)`` for every ``Recurrent`` in ``module``; prefix "" when there is one."""
    found = [(name, m) for name, m in module.named_modules() if isinstance(m, Recurrent)]
    if len(found) == 1:
        return [("", found[0][1])]
    return [(re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_") + "_", m) for name, m in found]


class _Probe:
    """Watches one Recurrent during one forward: registers a gradient hook on every h_t."""

    def __init__(self, prefix: str, layer: Recurrent) -> None:
        self.prefix = prefix
        self.layer = layer
        self.previous = getattr(layer, "_observer", None)
        self.squares: dict[int, dict[int, Tensor]] = {}
        self.lengths: dict[int, int] = {}
        layer.observe_steps(self.observe)
        self.handle = layer.register_forward_hook(self.after_forward)

    def observe(self, index: int, t: int, h: Tensor) -> None:
        if self.previous is not None:
            self.previous(index, t, h)
        self.lengths[index] = max(self.lengths.get(index, 0), t + 1)
        if not h.requires_grad:
            return
        slots = self.squares.setdefault(index, {})

        def catch(grad: Tensor) -> None:
            slots[t] = grad.detach().float().pow(2).sum()

        h.register_hook(catch)

    def after_forward(self, module: Any, args: Any, output: Any) -> None:
        self.stop()  # later forwards in this batch (further TBPTT chunks) run fused again

    def stop(self) -> None:
        if self.handle is not None:
            self.layer.observe_steps(self.previous)
            self.handle.remove()
            self.handle = None

    def profiles(self, scale: float) -> dict[str, np.ndarray]:
        """``{layer key: (T,) norms}`` for every layer/direction whose gradient arrived."""
        out = {}
        for index, slots in self.squares.items():
            if not slots:
                continue  # no backward reached this layer: nothing was measured
            steps = self.lengths[index]
            zero = next(iter(slots.values())).new_zeros(())
            squares = torch.stack([slots.get(t, zero) for t in range(steps)])
            norms = squares.sqrt().cpu().numpy().astype(np.float64) / scale
            out[layer_key(index, self.layer.num_directions, self.prefix)] = norms
        return out


class GradientFlow(Callback):
    """Measure ‖∂L/∂h_t‖ through time every ``every_n_steps`` training steps (see the module doc).

    Args:
        every_n_steps: measure on the batches whose log step (Lightning's
            ``trainer/global_step``, see :func:`seqlab.tracking.loggers.log_step`) is a
            multiple of this; step 0 included.
        run_dir: where ``grad_flow/`` is written (default: ``trainer.log_dir``).
        log_images: also log the heatmaps to W&B when a W&B logger is present.
    """

    def __init__(
        self, every_n_steps: int, run_dir: str | Path | None = None, *, log_images: bool = True
    ) -> None:
        self.every_n_steps = GradFlowOption(every_n_steps).every_n_steps  # checks it
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.log_images = log_images
        self.history: dict[str, GradFlowHistory] = {}
        self._probes: list[_Probe] = []
        self._step: int | None = None
        self._last_measured: int | None = None
        self._scale: float | None = None
        self._rendered = 0

    @classmethod
    def from_option(
        cls, option: str | int | None, run_dir: str | Path | None = None
    ) -> GradientFlow | None:
        """The callback for ``--grad-flow`` (``every=50``, ``50``; ``off``/``none``/empty: None),
        read by :func:`seqlab.config.parse_grad_flow`."""
        parsed = parse_grad_flow(option)
        return None if parsed is None else cls(parsed.every_n_steps, run_dir)

    # -- measuring --------------------------------------------------------------------------
    @property
    def measuring(self) -> bool:
        return bool(self._probes)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A resumed run continues the record it left in its run directory.
        path = self.output_dir(trainer) / NPZ_NAME
        if trainer.is_global_zero and not self.history and path.is_file():
            self.history = load_grad_flow(path)
            self._rendered = sum(len(h.steps) for h in self.history.values())

    def _forget_from(self, step: int) -> None:
        """Drop measurements at ``step`` or later (made after the checkpoint a run resumed from)."""
        for h in self.history.values():
            keep = [i for i, s in enumerate(h.steps) if s < step]
            if len(keep) != len(h.steps):
                h.steps = [h.steps[i] for i in keep]
                h.norms = [h.norms[i] for i in keep]

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if not trainer.is_global_zero:
            return
        step = log_step(trainer)
        if step % self.every_n_steps or step == self._last_measured:
            return
        self._release()
        self._forget_from(step)
        self._step = step
        self._last_measured = step
        self._scale = None
        self._probes = [_Probe(prefix, layer) for prefix, layer in recurrent_layers(pl_module)]

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: Tensor
    ) -> None:
        if self._probes and self._scale is None:
            scaler = getattr(getattr(trainer.strategy, "precision_plugin", None), "scaler", None)
            self._scale = float(scaler.get_scale()) if scaler is not None else 1.0

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if not self._probes:
            return
        probes = self._release()
        assert self._step is not None
        ratios = {}
        for probe in probes:
            for key, norms in probe.profiles(self._scale or 1.0).items():
                self.history.setdefault(key, GradFlowHistory(key)).add(self._step, norms)
                ratios[f"grad_flow/ratio_{key}"] = gradient_ratio(norms)
        if ratios:
            for logger in trainer.loggers:
                logger.log_metrics(ratios, step=self._step)

    def _release(self) -> list[_Probe]:
        probes, self._probes = self._probes, []
        for probe in probes:
            probe.stop()
        return probes

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._release()

    # -- writing ----------------------------------------------------------------------------
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.is_global_zero:
            self._write(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self._write(trainer)

    def output_dir(self, trainer: L.Trainer | None = None) -> Path:
        base = (
            self.run_dir if self.run_dir is not None else Path(trainer.log_dir if trainer else ".")
        )
        return base / GRAD_FLOW_DIR

    def _write(self, trainer: L.Trainer) -> None:
        count = sum(len(h.steps) for h in self.history.values())
        if count == 0 or count == self._rendered:
            return
        self._rendered = count
        out = self.output_dir(trainer)
        images = write_grad_flow(self.history, out)
        if not self.log_images:
            return
        from lightning.pytorch.loggers import WandbLogger

        step = log_step(trainer)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                for key, path in images.items():
                    logger.log_image(f"grad_flow/heatmap_{key}", images=[str(path)], step=step)


# -- files and figures --------------------------------------------------------------------------
def save_grad_flow(history: Mapping[str, GradFlowHistory], path: str | Path) -> Path:
    """The numbers as ``.npz``: ``keys``, and per key ``steps__<key>`` (M,) and
    ``norms__<key>`` (M, T_max), NaN-padded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"keys": np.array(list(history), dtype=str)}
    for key, h in history.items():
        arrays[f"steps__{key}"] = np.array(h.steps, dtype=np.int64)
        arrays[f"norms__{key}"] = h.matrix().T
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path


def load_grad_flow(path: str | Path) -> dict[str, GradFlowHistory]:
    """Read :func:`save_grad_flow`'s file (or a run dir holding ``grad_flow/grad_flow.npz``)."""
    path = Path(path)
    if path.is_dir():
        path = (
            path / GRAD_FLOW_DIR / NPZ_NAME if (path / GRAD_FLOW_DIR).is_dir() else path / NPZ_NAME
        )
    if not path.is_file():
        from seqlab.errors import DataError

        raise DataError(
            f"no gradient-flow record at {path}; was the run made with --grad-flow every=N?"
        )
    with np.load(path) as data:
        out = {}
        for key in data["keys"].tolist():
            h = GradFlowHistory(key)
            for step, row in zip(
                data[f"steps__{key}"].tolist(), data[f"norms__{key}"], strict=True
            ):
                h.add(step, row[~np.isnan(row)])
            out[key] = h
    return out


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _draw_heatmap(fig: Any, ax: Any, h: GradFlowHistory, title: str) -> None:
    from matplotlib.colors import LogNorm

    m = h.matrix()
    positive = m[np.isfinite(m) & (m > 0)]
    masked = np.ma.masked_where(~np.isfinite(m) | (m <= 0), m)
    norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size else None
    cmap = _cmap()
    t_max, count = m.shape
    image = ax.imshow(
        masked,
        aspect="auto",
        origin="lower",
        cmap=cmap,
        norm=norm,
        extent=(-0.5, count - 0.5, 0.5, t_max + 0.5),
        interpolation="nearest",
    )
    ticks = np.unique(np.linspace(0, count - 1, min(count, 8)).round().astype(int))
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(h.steps[i]) for i in ticks])
    ax.set_xlabel("training step")
    ax.set_ylabel("time step t")
    ratio = gradient_ratio(h.norms[-1]) if h.norms else math.nan
    ax.set_title(f"{title}   ‖∂L/∂h₁‖/‖∂L/∂h_T‖ = {ratio:.3g}", fontsize=9)
    bar = fig.colorbar(image, ax=ax, label="‖∂L/∂h_t‖")
    _plain_log_ticks(bar.ax.yaxis)


def _plain_log_ticks(axis: Any) -> None:
    """Label log axes as 1e-03 (matplotlib's default mathtext labels take ~0.2 s per figure)."""
    from matplotlib.ticker import FuncFormatter

    def minor(value: float, _pos: int) -> str:
        low, high = axis.get_view_interval()
        return f"{value:.1g}" if low > 0 and high / low < 10 else ""  # label less than a decade

    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:.0e}"))
    axis.set_minor_formatter(FuncFormatter(minor))


def _cmap() -> Any:
    import matplotlib

    return matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")


def plot_heatmap(h: GradFlowHistory, path: str | Path, title: str | None = None) -> Path:
    """One layer's heatmap (time step × training step, log colour) as a PNG."""
    fig = _figure(7, 4)
    _draw_heatmap(fig, fig.add_subplot(1, 1, 1), h, title or h.key)
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.13, top=0.9)  # tight_layout costs 0.5 s
    fig.savefig(path, bbox_inches="tight", pad_inches=0.05)  # keeps the colour-bar label
    return Path(path)


def plot_heatmaps(histories: Mapping[str, GradFlowHistory], path: str | Path) -> Path:
    """Several heatmaps side by side (``{label: history}``, e.g. one per run) in one PNG."""
    if not histories:
        raise ConfigError("plot_heatmaps: nothing to draw; pass at least one history.")
    fig = _figure(4.2 * len(histories), 3.8)
    for i, (label, h) in enumerate(histories.items()):
        _draw_heatmap(fig, fig.add_subplot(1, len(histories), i + 1), h, label)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.88, wspace=0.35)
    fig.savefig(path, bbox_inches="tight", pad_inches=0.05)  # keeps the colour-bar label
    return Path(path)


def plot_profiles(histories: Mapping[str, GradFlowHistory], path: str | Path) -> Path:
    """The latest profile ‖∂L/∂h_t‖ against t of each layer, log scale, as a PNG."""
    fig = _figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    for key, h in histories.items():
        if h.norms:
            n = h.norms[-1]
            t = np.arange(1, len(n) + 1)
            keep = n > 0
            ax.plot(t[keep], n[keep], label=f"{key} (step {h.steps[-1]})")
    ax.set_yscale("log")
    _plain_log_ticks(ax.yaxis)
    ax.set_xlabel("time step t")
    ax.set_ylabel("‖∂L/∂h_t‖")
    ax.set_title("gradient flow through time (latest measurement)", fontsize=9)
    ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.13, top=0.9)
    fig.savefig(path)
    return Path(path)


def write_grad_flow(history: Mapping[str, GradFlowHistory], out_dir: str | Path) -> dict[str, Path]:
    """Write ``heatmap_<key>.png`` per layer, ``profile.png`` and ``grad_flow.npz`` into
    ``out_dir``; returns ``{key: heatmap path}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = {
        key: plot_heatmap(h, out / f"heatmap_{key}.png") for key, h in history.items() if h.norms
    }
    plot_profiles(history, out / "profile.png")
    save_grad_flow(history, out / NPZ_NAME)
    return images


__all__ = [
    "GradFlowHistory",
    "GradientFlow",
    "gradient_ratio",
    "layer_key",
    "load_grad_flow",
    "plot_heatmap",
    "plot_heatmaps",
    "plot_profiles",
    "recurrent_layers",
    "save_grad_flow",
    "write_grad_flow",
]
