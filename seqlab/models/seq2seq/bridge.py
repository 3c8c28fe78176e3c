"""The bridge: the encoder's final states → the decoder's initial states.

The encoder (``seqlab.Recurrent``) ends with one state per layer and direction; the
decoder is a stack of (possibly different) cells with one state per layer. Decoder layer
l starts from encoder layer min(l, L_enc − 1). When that layer is unidirectional and its
state has the same tensors and widths as the decoder cell's (same cell, same size), the
state is passed as is; otherwise (another cell, e.g. lstm → gru, or a bidirectional
encoder) all its state tensors are concatenated and mapped by a learned tanh layer to
the decoder's state tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from seqlab.cells.base import State, like_state, state_tensors


def _widths(state: State) -> tuple[int, ...]:
    return tuple(int(t.shape[-1]) for t in state_tensors(state))


class Bridge(nn.Module):
    """Maps encoder final states to decoder initial states, layer by layer.

    Args:
        encoder_states: the encoder's state layout, e.g. ``Recurrent.initial_state(1)``
            (one state per layer and direction, index ``layer * num_directions + d``).
        decoder_states: one template state per decoder layer (``cell.initial_state(1)``).
        num_directions: the encoder's directions (1 or 2).
    """

    def __init__(
        self,
        encoder_states: Sequence[State],
        decoder_states: Sequence[State],
        num_directions: int,
    ) -> None:
        super().__init__()
        self.num_directions = num_directions
        self.encoder_layers = len(encoder_states) // num_directions
        self.decoder_templates = [_widths(s) for s in decoder_states]
        maps: list[nn.Module] = []
        for layer, target in enumerate(self.decoder_templates):
            sources = self._layer_states(encoder_states, layer)
            if num_directions == 1 and _widths(sources[0]) == target:
                maps.append(nn.Identity())
            else:
                width = sum(sum(_widths(s)) for s in sources)
                maps.append(nn.Sequential(nn.Linear(width, sum(target)), nn.Tanh()))
        self.maps = nn.ModuleList(maps)

    def _layer_states(self, states: Sequence[State], layer: int) -> list[State]:
        source = min(layer, self.encoder_layers - 1)
        start = source * self.num_directions
        return list(states[start : start + self.num_directions])

    @property
    def identity(self) -> bool:
        """True when every layer's state passes unchanged."""
        return all(isinstance(m, nn.Identity) for m in self.maps)

    def forward(self, encoder_final: Sequence[State], templates: Sequence[State]) -> list[State]:
        """Decoder states (one per layer, in the form of ``templates``) from ``encoder_final``."""
        out: list[State] = []
        for layer, (mapping, template) in enumerate(zip(self.maps, templates, strict=True)):
            sources = self._layer_states(encoder_final, layer)
            if isinstance(mapping, nn.Identity):
                out.append(sources[0])
                continue
            flat = torch.cat([t for s in sources for t in state_tensors(s)], dim=-1)
            parts: list[Tensor] = list(
                mapping(flat).split(list(self.decoder_templates[layer]), dim=-1)
            )
            out.append(like_state(template, parts))
        return out
