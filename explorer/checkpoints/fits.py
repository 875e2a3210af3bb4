"""Whether a checkpoint fits a dataset: the one wording of a mismatch, for the pages and the CLI.

A checkpoint records the images it was made for (`model.image_shape`, (C, H, W)) and its dataset
(`dataset`); a folder chosen at another side, a grey model given a colour set or the other way
round is named with both shapes, so the person sees what to change."""
from __future__ import annotations

from collections.abc import Sequence

from explorer.checkpoints.layout import CheckpointError


def shape_words(shape: Sequence[int]) -> str:
    """(3, 32, 32) -> "32x32 colour (3 channels)"; (1, 28, 28) -> "28x28 grey (1 channel)"."""
    c, h, w = (int(s) for s in shape)
    return f"{h}x{w} {'grey' if c == 1 else 'colour'} ({c} channel{'s' if c != 1 else ''})"


def shape_mismatch(model_shape: Sequence[int], data_shape: Sequence[int], data_name: str) -> str:
    """Why a model made for `model_shape` images cannot take `data_name`'s `data_shape` ones ("" if it can)."""
    if tuple(int(s) for s in model_shape) == tuple(int(s) for s in data_shape):
        return ""
    return (f"it was made for {shape_words(model_shape)} images, but {data_name} has "
            f"{shape_words(data_shape)} images")


def fit_problem(ckpt, dataset: str, image_shape: Sequence[int], num_classes: int) -> str:
    """Why checkpoint `ckpt` cannot be used with a dataset of this name, shape and class count ("" when it can)."""
    if ckpt.dataset != dataset:
        return f"it was trained on {ckpt.dataset or 'an unnamed dataset'}, not on {dataset}"
    problem = shape_mismatch(ckpt.model_cfg.image_shape, image_shape, dataset)
    if problem:
        return problem
    if ckpt.model_cfg.num_classes != num_classes:
        return f"it has {ckpt.model_cfg.num_classes} classes, the dataset {num_classes}"
    return ""


def check_fits(ckpt, data) -> None:
    """Raise CheckpointError, naming both shapes, when `ckpt` cannot take the images of `data`
    (an ImageDataset); what to do: retrain, or choose the side and dataset it was made for."""
    problem = fit_problem(ckpt, data.spec.name, data.images.shape[1:], data.spec.num_classes)
    if problem:
        raise CheckpointError(f"{ckpt.path}: {problem}. Retrain it on this data, or use it with the dataset "
                              "and side it was made for.")
