"""A cell's equations, read from its docstring: their one home.

The project writes each cell's equations once, in its class docstring, as a literal block
introduced by a paragraph that starts with ``Equation`` and ends with ``::``::

    Equations (σ the logistic sigmoid, ⊙ elementwise)::

        h_t = tanh(W x_t + U h_{t-1} + b)

:class:`seqlab.cells.Cell` derives its ``equations`` attribute (what ``seqlab cells show``
prints) from that block with :func:`equations_from_docstring`.
"""

from __future__ import annotations

import inspect
import textwrap


def equations_from_docstring(doc: str | None) -> str:
    """The first literal block of ``doc`` introduced by an ``Equation…::`` paragraph, dedented
    (``""`` when there is none)."""
    if not doc:
        return ""
    lines = inspect.cleandoc(doc).splitlines()
    for start, line in enumerate(lines):
        if not line.lstrip().startswith("Equation"):
            continue
        end = start
        while end < len(lines) and lines[end].strip() and not lines[end].rstrip().endswith("::"):
            end += 1
        if end < len(lines) and lines[end].rstrip().endswith("::"):
            indent = len(lines[end]) - len(lines[end].lstrip())
            return _literal_block(lines[end + 1 :], indent)
    return ""


def _literal_block(lines: list[str], indent: int) -> str:
    """The lines indented deeper than ``indent`` at the start of ``lines`` (blank lines kept
    inside), dedented."""
    block: list[str] = []
    for line in lines:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        block.append(line.rstrip())
    return textwrap.dedent("\n".join(block)).strip("\n")


__all__ = ["equations_from_docstring"]
