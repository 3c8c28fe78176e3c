"""Tests of the seqlab-janet example plugin (a package, so that pytest can tell its
``test_conformance`` module from seqlab's own ``tests/test_conformance.py``)."""
