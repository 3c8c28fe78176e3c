"""Experiment tracking.

- :mod:`~seqlab.tracking.loggers`: the run's Lightning loggers (a local CSV record always;
  W&B or TensorBoard on request), flushing and closing them, ``wandb sync`` hints;
- :mod:`~seqlab.tracking.metrics_csv`: ``metrics.csv``, the run's local metric record
  (:class:`CSVMetricsLogger`, :class:`RunCSVLogger`, :func:`read_metrics`);
- :mod:`~seqlab.tracking.wandb_logger`: seqlab's W&B logger (scrubbed, falls back offline);
- :mod:`~seqlab.tracking.run_metadata`: what a run records about itself (versions, git, sizes);
- :mod:`~seqlab.tracking.process`: this process's rank and logging step;
- :mod:`~seqlab.tracking.wandb_mode`: choosing online/offline/disabled without prompting;
- :mod:`~seqlab.tracking.secrets`: masking credentials in configs and command lines;
- :mod:`~seqlab.tracking.samples`: text samples of language models at each validation;
- :mod:`~seqlab.tracking.read_offline`: reading a W&B run file back.
"""
