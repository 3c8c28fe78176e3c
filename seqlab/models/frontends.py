"""Fixed front-ends beside the recurrent stack of a classifier (``model.frontend``).

``fcn``: the fully convolutional branch of LSTM-FCN (Karim et al. 2017, after Wang et al.
2017's FCN): three blocks of Conv1d (128, 256, 128 filters; kernels 8, 5, 3; "same"
padding) + batch norm + ReLU, then global average pooling over each series' valid steps.
The classifier concatenates its output with the recurrent branch's pooled output before the
head; the recurrent branch sees the same input as without it. Karim's "dimension shuffle"
(the LSTM reading the series transposed, as one step of T features) is not done: the cell
reads the series step by step, as it does without a front-end.

Padding is masked throughout: after every block the steps past each series' length are set
to zero, which is exactly the zero padding a convolution gives a series on its own, and the
batch statistics of the normalisation count valid steps only. A series in a padded batch
gets the same output as alone (up to floating point).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.config import ModelConfig
from seqlab.errors import ConfigError
from seqlab.models.pooling import valid_mask
from seqlab.tasks.base import TaskInfo

FRONTENDS = ("none", "fcn")

#: (filters, kernel) of LSTM-FCN's three convolutional blocks.
FCN_BLOCKS: tuple[tuple[int, int], ...] = ((128, 8), (256, 5), (128, 3))


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch norm over (B, C, T) whose training statistics count only the valid steps
    (``mask`` (B, 1, T), 1.0 where valid); in evaluation it is plain batch norm."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        if not self.training or mask is None:
            return super().forward(x)
        count = mask.sum().clamp(min=2.0)
        mean = (x * mask).sum(dim=(0, 2)) / count
        var = (((x - mean[None, :, None]) * mask) ** 2).sum(dim=(0, 2)) / count
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                unbiased = var * count / (count - 1)
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * unbiased)
                self.num_batches_tracked.add_(1)
        out = (x - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        if self.affine:
            out = out * self.weight[None, :, None] + self.bias[None, :, None]
        return out


class FCNBranch(nn.Module):
    """LSTM-FCN's convolutional branch: (B, T, C) inputs and (B,) lengths → (B, 128).

    ``output_size`` is the width of the pooled vector (the last block's filters).
    """

    def __init__(self, input_size: int, blocks: tuple[tuple[int, int], ...] = FCN_BLOCKS) -> None:
        super().__init__()
        convs, norms = [], []
        width = input_size
        for filters, kernel in blocks:
            convs.append(nn.Conv1d(width, filters, kernel))
            norms.append(MaskedBatchNorm1d(filters))
            width = filters
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(norms)
        self.output_size = width

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        mask = valid_mask(lengths.to(x.device), x.shape[1]).unsqueeze(1).to(x.dtype)  # (B,1,T)
        h = x.transpose(1, 2) * mask  # (B, C, T), zero past each length
        for conv, norm in zip(self.convs, self.norms, strict=True):
            k = conv.kernel_size[0]
            # "same" padding, split as torch splits it (the extra zero on the right); explicit
            # so that even kernels need no internal copy.
            h = conv(F.pad(h, ((k - 1) // 2, k // 2)))
            h = torch.relu(norm(h, mask)) * mask
        return h.sum(2) / mask.sum(2).clamp(min=1.0)


def build_frontend(model: ModelConfig, info: TaskInfo) -> FCNBranch | None:
    """The front-end ``model.frontend`` names for a task of ``info`` (``None`` for none).

    Raises :class:`ConfigError` where it cannot apply: a front-end needs real-valued
    inputs and a classification task.
    """
    check_frontend(model, info)
    if model.frontend == "fcn":
        return FCNBranch(info.input_size)
    return None


def check_frontend(model: ModelConfig, info: TaskInfo) -> None:
    """Refuse ``model.frontend`` where it cannot apply, in one paragraph naming the fix."""
    if model.frontend == "none":
        return
    if model.frontend not in FRONTENDS:
        raise ConfigError(
            f"model.frontend={model.frontend!r} is not a front-end; use one of: "
            f"{', '.join(FRONTENDS)}."
        )
    if info.output_kind != "classification":
        raise ConfigError(
            f"model.frontend={model.frontend} is for classification tasks (one label per "
            f"series), and this task is '{info.output_kind}'; set model.frontend=none."
        )
    if info.input_kind == "tokens":
        raise ConfigError(
            f"model.frontend={model.frontend} convolves real-valued series, and this task's "
            f"inputs are token ids; set model.frontend=none."
        )


__all__ = [
    "FCN_BLOCKS",
    "FRONTENDS",
    "FCNBranch",
    "MaskedBatchNorm1d",
    "build_frontend",
    "check_frontend",
]
