"""Using a trained model elsewhere: ``predict``, ``export`` (ONNX, TorchScript,
safetensors), ``load_pretrained`` and the Hugging Face Hub (:class:`SeqlabModel`).

>>> from seqlab.serving import predict, export, load_pretrained
>>> rows = predict("runs/text-lstm-20250101-120000", "reviews.csv")       # doctest: +SKIP
>>> export("runs/text-lstm-20250101-120000", "onnx", "exported/")          # doctest: +SKIP
>>> loaded = load_pretrained("exported/")                                 # doctest: +SKIP
"""

from seqlab.serving.export import FORMATS, ExportError, ExportReport, check_format, export
from seqlab.serving.inputs import READERS, Inputs, read_inputs
from seqlab.serving.predict import OUTPUTS, format_rows, predict
from seqlab.serving.pretrained import load_pretrained, save_pretrained
from seqlab.serving.sources import Predictor, open_model


def __getattr__(name: str) -> object:
    """The Hub names, imported on first use (they need the ``hub`` extra)."""
    if name in ("SeqlabModel", "model_card"):
        from seqlab.serving import hub

        return getattr(hub, name)
    raise AttributeError(f"module 'seqlab.serving' has no attribute {name!r}")


__all__ = [
    "FORMATS",
    "OUTPUTS",
    "READERS",
    "ExportError",
    "ExportReport",
    "Inputs",
    "Predictor",
    "SeqlabModel",
    "check_format",
    "export",
    "format_rows",
    "load_pretrained",
    "model_card",
    "open_model",
    "predict",
    "read_inputs",
    "save_pretrained",
]
