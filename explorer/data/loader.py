"""Loading a dataset split into memory as uint8 pixels and int64 labels.

Pixels stay uint8 (N, C, H, W), a quarter of float32's memory; `ImageDataset.images` gives the
float32 form in [0, 1] for callers that want the whole split at once (a test set), and the
training loop and the encoders convert one batch at a time. IDX files are parsed once; the decoded uint8 arrays are kept as ``.npy`` files in
``cache_dir() / "decoded"``, keyed by the source file's path, size and mtime, so
later loads skip the gzip and parse steps.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from explorer.core import diskcache
from explorer.data.errors import DataError
from explorer.data.idx import read_idx
from explorer.core.paths import cache_dir
from explorer.data.paths import find_file, locate_files, search_dirs, ways_to_get
from explorer.data.registry import DATASETS, DatasetSpec, check_split, get_spec, is_folder_id
from explorer.data.shapes import load_split as load_shapes_split

DECODED_FORMAT = 1  # bump to invalidate every decoded .npy copy
DIGITS_SEED = 0


@dataclass
class ImageDataset:
    """One split of a dataset, in memory."""

    pixels: np.ndarray  # uint8 (N, C, H, W): the stored form
    labels: np.ndarray  # int64 (N,)
    spec: DatasetSpec
    split: str
    factors: np.ndarray | None = None  # int64 (N, F): indices into spec.factor_values, where known

    def __len__(self) -> int:
        return len(self.labels)

    @cached_property
    def images(self) -> np.ndarray:
        """float32 (N, C, H, W) in [0, 1], converted once: for callers that take a whole test set."""
        return to_float(self.pixels)


def to_float(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels (any shape) -> float32 in [0, 1]."""
    out = np.empty(pixels.shape, dtype=np.float32)
    np.divide(pixels, np.float32(255), out=out, dtype=np.float32)
    return out


# progress(done, total): how far a folder's decoding has got
DecodeProgress = Callable[[int, int], None]


def load_dataset(
    name: str | DatasetSpec,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    progress: DecodeProgress | None = None,
) -> ImageDataset:
    """Load ``split`` ("train" or "test") of dataset ``name`` (a registered name or a folder id).

    Files are looked up with :func:`locate_files`; nothing is downloaded. A folder is decoded
    once (``progress(done, total)`` is told how far) and then read from its cache. Raises
    DataError, naming the file and the ways to get the data, when files are missing, corrupt,
    or do not match the spec.
    """
    check_split(split)
    if is_folder_id(name.name if isinstance(name, DatasetSpec) else name):
        from explorer.data.folders import load_folder_split  # folders builds on this module

        return load_folder_split(name if isinstance(name, str) else name.name, split, progress)
    spec = get_spec(name)
    factors = None
    if spec.name in BUILTIN_LOADERS and not spec.files:
        pixels, labels, *known = BUILTIN_LOADERS[spec.name](split)  # a third array: the true factors
        factors = known[0] if known else None
    elif spec.name in ARCHIVE_LOADERS:
        pixels, labels = ARCHIVE_LOADERS[spec.name](spec, split, data_dir)
    else:
        pixels, labels = _load_idx_split(spec, split, data_dir)
    return ImageDataset(pixels=pixels, labels=labels, spec=spec, split=split, factors=factors)


def available_datasets(data_dir: str | os.PathLike | None = None) -> list[str]:
    """Names of the datasets loadable without a download, best first (digits always).

    A dataset counts when :func:`locate_files` finds its files; their contents are
    checked only when it is loaded.
    """
    return [
        name
        for name, spec in DATASETS.items()
        if not spec.files or locate_files(spec, data_dir) is not None
    ]


# --- IDX datasets ----------------------------------------------------------------


def _load_idx_split(
    spec: DatasetSpec, split: str, data_dir: str | os.PathLike | None
) -> tuple[np.ndarray, np.ndarray]:
    """Find, read (through the decoded cache), validate and convert one split."""
    directory = locate_files(spec, data_dir)
    if directory is None:
        raise _missing_files_error(spec, data_dir)
    images_path = find_file(directory, spec.file_for(split, "images"))
    labels_path = find_file(directory, spec.file_for(split, "labels"))
    assert images_path is not None and labels_path is not None  # locate_files checked
    raw_images = _read_decoded(images_path, spec)
    raw_labels = _read_decoded(labels_path, spec)
    _validate(spec, split, images_path, raw_images, labels_path, raw_labels)
    return raw_images[:, None], raw_labels.astype(np.int64)


def _missing_files_error(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> DataError:
    """The error for a dataset whose files are in none of the searched places."""
    names = ", ".join(file.filename for file in spec.files)
    looked = "\n".join(
        f"  {base / spec.name} and {base}" for base in search_dirs(spec, data_dir)
    )
    return DataError(
        f"{spec.name}: the data files were not found ({names}; .gz or uncompressed). "
        f"Looked in:\n{looked}\n{ways_to_get(spec)}"
    )


def _validate(
    spec: DatasetSpec,
    split: str,
    images_path: Path,
    images: np.ndarray,
    labels_path: Path,
    labels: np.ndarray,
) -> None:
    """Check kinds, counts, image shape and label range against the spec."""
    hint = ways_to_get(spec)
    if images.ndim != 3:
        raise DataError(f"{images_path}: expected an images file (3-D), found {images.ndim}-D\n{hint}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected a labels file (1-D), found {labels.ndim}-D\n{hint}")
    expected = spec.split_size(split)
    if not len(images) == len(labels) == expected:
        raise DataError(
            f"{images_path} holds {len(images)} images and {labels_path} holds "
            f"{len(labels)} labels; the {spec.name} {split} split has {expected} of each\n{hint}"
        )
    if (1, *images.shape[1:]) != spec.image_shape:
        raise DataError(
            f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, "
            f"but {spec.name} images are {spec.image_shape[1]}x{spec.image_shape[2]}\n{hint}"
        )
    if labels.size and int(labels.max()) >= spec.num_classes:
        raise DataError(
            f"{labels_path}: label {int(labels.max())} is out of range; "
            f"{spec.name} labels run from 0 to {spec.num_classes - 1}\n{hint}"
        )


# --- decoded cache ------------------------------------------------------------------


def decoded_path(source: Path) -> Path:
    """Where the decoded copy of ``source`` lives.

    The name is ``<file name>-<path hash>-<version hash>.npy``: the path hash tells
    sources apart, the version hash (size and mtime) tells a changed file apart.
    """
    stat = source.stat()
    location = diskcache.key(str(source.resolve()))
    version = diskcache.key(f"{DECODED_FORMAT}|{stat.st_size}|{stat.st_mtime_ns}")
    return cache_dir() / "decoded" / f"{source.name}-{location}-{version}.npy"


def _read_decoded(source: Path, spec: DatasetSpec) -> np.ndarray:
    """The uint8 array in IDX file ``source``, from the decoded cache when fresh."""
    decoded = decoded_path(source)

    def make() -> np.ndarray:
        array = read_idx(source, hint=ways_to_get(spec))
        _store_decoded(decoded, array)
        return array

    # once: the server's replicas, starting together, decode each file once between them
    return diskcache.once(decoded, lambda: diskcache.read_npy(decoded), make)


def _store_decoded(decoded: Path, array: np.ndarray) -> None:
    """Save a decoded copy atomically and drop stale copies of the same source.

    A cache that cannot be written only costs speed, so failures are warnings.
    """
    try:
        diskcache.write_npy(decoded, array)
    except OSError as error:
        warnings.warn(f"could not cache decoded data in {decoded.parent}: {error}", stacklevel=3)
        return
    diskcache.drop_older(decoded)


# --- built-in datasets ----------------------------------------------------------------


def _load_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, split 1437/360 by a fixed permutation (seed 0).

    Their 17 levels (0..16) become uint8 0..255, rounded: within half a level of 255 of v / 16.
    """
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import

    bunch = load_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    permutation = np.random.default_rng(DIGITS_SEED).permutation(len(labels))
    n_test = DATASETS["digits"].n_test
    chosen = permutation[:n_test] if split == "test" else permutation[n_test:]
    return np.ascontiguousarray(images[chosen]), labels[chosen]


# Generated or bundled datasets: split -> (pixels, labels), or (pixels, labels, factors) where
# the true factors are known (the generated shapes, explorer/data/shapes.py: the shape is the label).
BUILTIN_LOADERS = {"digits": _load_digits, "shapes": load_shapes_split}


def _load_cifar(spec: DatasetSpec, split: str, data_dir) -> tuple[np.ndarray, np.ndarray]:
    from explorer.data.cifar import load_cifar_split  # cifar builds on this module's cache

    return load_cifar_split(spec, split, data_dir)


ARCHIVE_LOADERS = {"cifar-10": _load_cifar}
