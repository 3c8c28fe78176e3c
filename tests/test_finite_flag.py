"""The non-finite loss guard reads a flag started before backward, not the loss itself."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from seqlab.errors import NonFiniteLossError
from seqlab.models.base import FiniteFlag
from seqlab.training.nonfinite import NonFiniteLossPolicy


def test_finite_flag_answers_like_isfinite():
    assert FiniteFlag(torch.tensor(1.5)).is_finite()
    assert not FiniteFlag(torch.tensor(float("nan"))).is_finite()
    assert not FiniteFlag(torch.tensor([1.0, float("inf")])).is_finite()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_finite_flag_on_cuda_is_pinned_and_evented():
    flag = FiniteFlag(torch.tensor(float("nan"), device="cuda"))
    assert not flag.is_finite()


def test_the_policy_takes_a_flag_or_a_loss():
    trainer = SimpleNamespace(world_size=1, global_step=3, current_epoch=0)
    policy = NonFiniteLossPolicy("skip", max_consecutive_skips=5)
    assert policy.loss_is_usable(trainer, FiniteFlag(torch.tensor(0.5)), 0)
    with pytest.warns(UserWarning, match="skipped the batch at step 3"):
        assert not policy.loss_is_usable(trainer, FiniteFlag(torch.tensor(float("nan"))), 1)
    assert policy.skipped_batches == 1
    with pytest.raises(NonFiniteLossError, match="nan"):
        NonFiniteLossPolicy("stop").loss_is_usable(trainer, torch.tensor(float("nan")), 2)
