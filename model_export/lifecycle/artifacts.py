"""Reading saved Pipelines (joblib). A pickle names the module of every class in it, so a
Pipeline saved by an earlier release names modules that have since moved; they are mapped to
their current place here, so that every registered version stays loadable (verify, check)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import joblib

# module path in an older release -> where it lives now
_MOVED = {
    "model_export.features": "model_export.training.features",
    "model_export.tokenizer": "model_export.training.tokenizer",
    "model_export.detector": "model_export.training.anomaly_detectors",
}


def load_pipeline(path: Path | str) -> object:
    """The fitted object saved at `path`, whichever release of logml saved it."""
    for old, new in _MOVED.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)
    return joblib.load(path)
