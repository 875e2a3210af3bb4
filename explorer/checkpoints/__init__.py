"""Checkpoints: a directory that describes itself, loaded without ever unpickling.

    layout.py    the files a checkpoint directory holds, CheckpointError
    format.py    save_checkpoint / load_checkpoint / read_config / write_metrics, weights checks
    paths.py     which directories are checkpoints; ids and paths kept inside the checkpoints folder
    recovery.py  the directory swap behind every save, and recovering from a killed one
    catalog.py   the checkpoint roots, and which checkpoints the app and the CLI offer
    card.py      the model card (README.md)
    external.py  an external model's description (model.json) and the checks on what it gives back
    adapter.py   an external model as a Checkpoint whose model has our models' verbs
    onnx_folder.py  an ONNX model folder, checked without running it, on ONNX Runtime
    factory.py   a PyTorch model from a factory the user names (and only then)
    onnx_export.py  one of our checkpoints written as an ONNX model folder
    fits.py      whether a checkpoint fits a dataset, in one wording

The names below are the package's public API, re-exported from those modules.
"""
from __future__ import annotations

from explorer.checkpoints.external import EXTERNAL_FILE, ExternalModelError
from explorer.checkpoints.format import (
    MAX_CONFIG_BYTES, MAX_PARAMETERS, Checkpoint, load_checkpoint, read_config, save_checkpoint, write_metrics,
)
from explorer.checkpoints.fits import check_fits, fit_problem, shape_mismatch, shape_words
from explorer.checkpoints.layout import (
    CARD_FILE, CONFIG_FILE, FORMAT, METRICS_FILE, OPTIMIZER_FILE, WEIGHTS_FILE, CheckpointError,
)
from explorer.checkpoints.paths import is_checkpoint_dir, is_inside, list_checkpoints, locate, resolve_ref
from explorer.checkpoints.recovery import recover_interrupted

__all__ = [
    "CARD_FILE", "CONFIG_FILE", "FORMAT", "METRICS_FILE", "OPTIMIZER_FILE", "WEIGHTS_FILE", "MAX_CONFIG_BYTES",
    "MAX_PARAMETERS", "Checkpoint", "CheckpointError", "load_checkpoint", "read_config", "save_checkpoint",
    "write_metrics", "is_checkpoint_dir", "is_inside", "list_checkpoints", "locate", "resolve_ref",
    "recover_interrupted", "EXTERNAL_FILE", "ExternalModelError", "check_fits", "fit_problem", "shape_mismatch", "shape_words",
]
