"""Experiment tracking.

- :mod:`~seqlab.tracking.loggers`: the run's Lightning loggers (a local CSV record always;
  W&B or TensorBoard on request), what a run records about itself, ``wandb sync`` hints;
- :mod:`~seqlab.tracking.wandb_mode`: choosing online/offline/disabled without prompting;
- :mod:`~seqlab.tracking.secrets`: masking credentials in configs and command lines;
- :mod:`~seqlab.tracking.samples`: text samples of language models at each validation;
- :mod:`~seqlab.tracking.read_offline`: reading a W&B run file back.
"""
