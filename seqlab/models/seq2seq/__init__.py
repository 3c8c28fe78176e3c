"""Sequence to sequence: encoder–decoder with attention over any registered cells."""

from seqlab.models.seq2seq.attention import (
    ATTENTIONS,
    AdditiveAttention,
    Attention,
    DotAttention,
    GeneralAttention,
    Memory,
    make_attention,
)
from seqlab.models.seq2seq.bridge import Bridge
from seqlab.models.seq2seq.model import Carry, Seq2Seq
from seqlab.models.seq2seq.search import Decoded, beam_search, greedy

__all__ = [
    "ATTENTIONS",
    "AdditiveAttention",
    "Attention",
    "Bridge",
    "Carry",
    "Decoded",
    "DotAttention",
    "GeneralAttention",
    "Memory",
    "Seq2Seq",
    "beam_search",
    "greedy",
    "make_attention",
]
