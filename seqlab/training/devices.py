"""The accelerator, devices and strategy of a run, checked before any process starts."""

from __future__ import annotations

import os

import torch

from seqlab.config import TrainerConfig
from seqlab.errors import ConfigError, did_you_mean

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu", "hpu")


def _normalise_devices(devices: int | str) -> int | str | list[int]:
    if isinstance(devices, int):
        return devices
    text = devices.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if "," in text or text.startswith("["):
        try:
            return [int(p) for p in text.strip("[]").split(",") if p.strip()]
        except ValueError:
            pass
    if text != "auto":
        raise ConfigError(
            f"trainer.devices={devices!r} is not a device count, 'auto' or a list of device "
            f"indices such as '0,1'."
        )
    return text


def _available(trainer: TrainerConfig, accelerator: str) -> tuple[int, str] | None:
    """How many devices of the chosen kind this machine has, and what they are called
    (``None``: a kind Lightning checks itself)."""
    cuda = torch.cuda.device_count()
    if accelerator in ("gpu", "cuda"):
        if cuda == 0:
            raise ConfigError(
                f"--accelerator {trainer.accelerator} asks for a CUDA GPU, but none is visible "
                f"(torch.cuda.device_count() is 0). Use --accelerator cpu (or auto)."
            )
        return cuda, "CUDA GPU(s)"
    if accelerator == "cpu" or (accelerator == "auto" and cuda == 0):
        return os.cpu_count() or 1, "CPU core(s) (os.cpu_count())"
    if accelerator == "auto":
        return cuda, "CUDA GPU(s)"
    return None  # mps, tpu, hpu


def check_devices(trainer: TrainerConfig) -> int | str | list[int]:
    """The devices setting, checked against what this machine has (before any process starts)."""
    accelerator = trainer.accelerator.lower()
    if accelerator not in ACCELERATORS:
        raise ConfigError(
            f"unknown accelerator '{trainer.accelerator}'.{did_you_mean(accelerator, ACCELERATORS)} "
            f"Use one of: {', '.join(ACCELERATORS)}."
        )
    devices = _normalise_devices(trainer.devices)
    found = _available(trainer, accelerator)
    if found is None:
        return devices
    available, kind = found
    if isinstance(devices, int) and devices > available:
        raise ConfigError(
            f"--devices {devices} asks for {devices} devices, but this machine has "
            f"{available} {kind}. Use --devices {available} or fewer (on CPU each device is "
            f"one process)."
        )
    if isinstance(devices, list) and any(i >= available or i < 0 for i in devices):
        raise ConfigError(
            f"--devices {trainer.devices} names device indices outside 0..{available - 1}; "
            f"this machine has {available} {kind}."
        )
    return devices


def check_strategy(name: str) -> None:
    """Raise :class:`~seqlab.errors.ConfigError` unless Lightning knows the strategy ``name``."""
    from lightning.pytorch.strategies import StrategyRegistry

    known = ["auto", *StrategyRegistry.available_strategies()]
    if name not in known:
        raise ConfigError(
            f"unknown strategy '{name}'.{did_you_mean(name, known)} Lightning's strategies "
            f"include: auto, ddp, ddp_spawn, ddp_fork, fsdp, deepspeed."
        )


__all__ = ["ACCELERATORS", "check_devices", "check_strategy"]
