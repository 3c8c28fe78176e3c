"""Diagnostics measured during training (gradient flow through time)."""

from seqlab.diagnostics.grad_flow import GradientFlow, load_grad_flow

__all__ = ["GradientFlow", "load_grad_flow"]
