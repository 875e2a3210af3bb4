"""A person's own folder of images as a dataset: ``folder:<side>:<absolute path>``.

The folder is listed (explorer.data.folder_scan), its files decoded once to uint8 squares of
the chosen side (explorer.data.folder_decode), and the result kept in the cache dir, keyed by
the folder's contents: every file's relative name, size and modification time. A changed,
added or removed file makes a new key, so the folder is decoded again; otherwise a load reads
one array file. Nothing is ever written inside the folder.

Without ``train/`` and ``test/`` subfolders, each class is split 85/15 (at least one test
image when a class has two or more), seeded, and the split is stored in the cache dir: a file
keeps its side for good, and files added later are split among themselves the same way.
"""
from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.core import diskcache
from explorer.core.paths import cache_dir
from explorer.data.errors import DataError
from explorer.data.folder_decode import decode_all
from explorer.data.folder_scan import Candidate, FolderProblem, Scan, scan_folder, shown
from explorer.data.loader import ImageDataset
from explorer.data.registry import FOLDER_PREFIX, DatasetSpec, check_split, is_folder_id

SIDES = (28, 32, 64)
TEST_FRACTION = 0.15
SPLIT_SEED = 0
CACHE_FORMAT = 2  # bump to decode every folder again (2: 16-bit grey rounded to 8 bits, not truncated)

Progress = Callable[[int, int], None]  # progress(done, total) while files are decoded


@dataclass(frozen=True)
class Folder:
    """A folder, decoded: every usable image, its class and split, and what was left out."""

    root: Path
    side: int
    pixels: np.ndarray       # uint8 (N, C, side, side)
    labels: np.ndarray       # int64 (N,)
    test: np.ndarray         # bool (N,): in the test split
    class_names: tuple[str, ...]
    problems: tuple[FolderProblem, ...]


def folder_dataset_id(path: str | os.PathLike, side: int) -> str:
    """The dataset name of the folder at ``path`` worked on at ``side`` pixels a side."""
    _check_side(side)
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"{shown(str(path))} is not a folder. Give a folder holding one subfolder per class "
                        "(for example cats/ and dogs/), each with its images.")
    return f"{FOLDER_PREFIX}{side}:{root}"


def dataset_dir_name(name: str) -> str:
    """The checkpoint folder's name for dataset ``name``: a registered name as it is, a folder as
    ``<its own name>-<side>-<hash of the id>`` (``pets-32-1a2b3c4d``: two folders called pets
    never share one); the dataset's full id is in each config.json. Reads nothing from the folder."""
    if not is_folder_id(name):
        return name
    root, side = parse_folder_id(name)
    plain = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in root.name)
    plain = plain.lstrip("._-")[:40] or "folder"
    return f"{plain}-{side}-{diskcache.key(name, length=8)}"


def parse_folder_id(name: str) -> tuple[Path, int]:
    """The folder and side named by a folder id."""
    _, side, path = name.split(":", 2) if name.count(":") >= 2 else (None, "", "")
    if not side.isdigit() or not path:
        raise DataError(f"{shown(name)!r} is not a folder dataset name; it reads folder:<side>:<path>, "
                        f"for example folder:32:/home/me/pets")
    _check_side(int(side))
    return Path(path), int(side)


def _check_side(side: int) -> None:
    if side not in SIDES:
        raise DataError(f"side {side} is not offered; choose one of {', '.join(map(str, SIDES))} pixels")


def folder_spec(name: str, progress: Progress | None = None) -> DatasetSpec:
    """The spec of a folder dataset (decoding the folder first if it is not cached). A spec is
    kept per folder id and contents key, so a title or a size asked on every rerun costs one
    listing of the folder, never a read of its pixels."""
    root, side = parse_folder_id(name)
    key = _contents_key(scan_folder(root), side)
    with _lock:
        if name in _specs and _specs[name][0] == key:
            return _specs[name][1]
    load_folder(name, progress)
    with _lock:
        return _specs[name][1]


def _spec(name: str, folder: Folder) -> DatasetSpec:
    n_test = int(folder.test.sum())
    return DatasetSpec(
        name=name, title=folder.root.name or str(folder.root), image_shape=tuple(folder.pixels.shape[1:]),
        class_names=folder.class_names, n_train=len(folder.labels) - n_test, n_test=n_test, files=(),
        mirrors=(), system_dirs=(), source=str(folder.root), licence="your own images",
    )


def load_folder_split(name: str, split: str, progress: Progress | None = None) -> ImageDataset:
    """One split of a folder dataset, as an ImageDataset."""
    check_split(split)
    return _split_of(name, load_folder(name, progress), split)


def folder_datasets(name: str, progress: Progress | None = None
                    ) -> tuple[ImageDataset, ImageDataset, list[FolderProblem]]:
    """Both splits of a folder dataset and its report, from one listing of the folder."""
    folder = load_folder(name, progress)
    return _split_of(name, folder, "train"), _split_of(name, folder, "test"), list(folder.problems)


def _split_of(name: str, folder: Folder, split: str) -> ImageDataset:
    """A split as views of the folder's arrays (stored train first, then test: no copy)."""
    n_train = len(folder.labels) - int(folder.test.sum())
    part = slice(n_train, None) if split == "test" else slice(0, n_train)
    return ImageDataset(pixels=folder.pixels[part], labels=folder.labels[part], spec=_spec(name, folder),
                        split=split)


def folder_report(name_or_path: str | os.PathLike, side: int = 32,
                  progress: Progress | None = None) -> list[FolderProblem]:
    """What was left out of a folder and why (a folder id's own side wins over ``side``)."""
    name = str(name_or_path)
    if not name.startswith(FOLDER_PREFIX):
        name = folder_dataset_id(name_or_path, side)
    return list(load_folder(name, progress).problems)


# --- load: the in-process copy, then the disk cache, then a decode ------------------------

_last: dict[str, tuple[str, Folder]] = {}  # folder id -> (contents key, folder): the latest one only
_specs: dict[str, tuple[str, DatasetSpec]] = {}  # folder id -> (contents key, spec): every one seen
_lock = threading.Lock()


def load_folder(name: str, progress: Progress | None = None) -> Folder:
    """The folder named by ``name``, decoded, from the cache when its contents have not changed.

    Raises DataError when the folder cannot be used: it is missing, or fewer than two classes
    hold a usable image.
    """
    root, side = parse_folder_id(name)
    scan = scan_folder(root)
    key = _contents_key(scan, side)
    with _lock:
        if name in _last and _last[name][0] == key:
            return _last[name][1]
    place = diskcache.key(os.fsencode(str(root)), str(side))
    path = cache_dir() / "folders" / f"{place}-{key}.npz"

    def make() -> Folder:
        decoded = _decode(scan, side, progress)
        _write_cache(path, decoded)
        return decoded

    # once: two processes (replicas of `serve`, a CLI run beside the app) decode a folder once
    folder = diskcache.once(path, lambda: _read_cache(path, root, side), make)
    _check_usable(folder)
    with _lock:
        _last.clear()
        _last[name] = (key, folder)
        _specs[name] = (key, _spec(name, folder))
    return folder


def _contents_key(scan: Scan, side: int) -> str:
    """A hash of what decides the decoded arrays: every candidate's name, size and time, the side."""
    parts = [f"{CACHE_FORMAT}|{side}|{scan.root}|{scan.presplit}"]
    parts += [f"{c.rel}|{c.label}|{c.split}|{c.size}|{c.mtime_ns}" for c in scan.candidates]
    parts += [str(p) for p in scan.problems]
    return diskcache.key(os.fsencode("\n".join(parts)))


def _decode(scan: Scan, side: int, progress: Progress | None) -> Folder:
    """Decode every candidate; the usable ones become the folder's images, the rest its report."""
    root = str(scan.root)  # os.path.join: a Path per file costs a tenth of the decoding
    results = decode_all([os.path.join(root, c.rel) for c in scan.candidates], side, progress,
                         sizes=[c.size for c in scan.candidates])
    problems = list(scan.problems)
    good: list[tuple[Candidate, np.ndarray]] = []
    for candidate, result in zip(scan.candidates, results):
        if result.image is None:
            problems.append(FolderProblem(shown(candidate.rel), result.reason + "; skipped"))
        else:
            good.append((candidate, result.image))
    class_names = tuple(sorted({c.label for c, _ in good}))
    for label in sorted({c.label for c in scan.candidates} - set(class_names)):
        problems.append(FolderProblem(shown(label) + "/", "no usable image in this class; the class is left out"))
    test = _split(scan, [c for c, _ in good])
    order = np.argsort(test, kind="stable")  # train first, then test: a split is a slice
    pixels = _stack([good[i][1] for i in order], side)
    index = {label: i for i, label in enumerate(class_names)}
    labels = np.array([index[good[i][0].label] for i in order], dtype=np.int64)
    return Folder(scan.root, side, pixels, labels, test[order], class_names, tuple(problems))


def _stack(images: list[np.ndarray], side: int) -> np.ndarray:
    """uint8 (N, C, side, side): one channel when every image is grey, else three."""
    if not any(image.ndim == 3 for image in images):
        return np.stack(images)[:, None] if images else np.zeros((0, 1, side, side), np.uint8)
    rgb = np.stack([image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2) for image in images])
    # (N, S, S, 3) -> (N, 3, S, S), through (N, S*S, 3): numpy moves a 3-d array's axes ten
    # times faster than the same bytes seen in four
    n = len(rgb)
    return rgb.reshape(n, side * side, 3).transpose(0, 2, 1).copy().reshape(n, 3, side, side)


def _check_usable(folder: Folder) -> None:
    where = shown(str(folder.root))
    if len(folder.class_names) < 2:
        found = f"only {shown(folder.class_names[0])!r}" if folder.class_names else "none"
        raise DataError(f"{where}: a classifier needs at least two classes with images, and this folder has "
                        f"{found}. Put each class's images in a subfolder of its own (cats/, dogs/, ...).")
    if not folder.test.any() or folder.test.all():
        which = "test" if not folder.test.any() else "train"
        raise DataError(f"{where}: the {which} split has no usable image. Add images (two or more per class), "
                        "or put some in test/ beside train/.")


# --- the stored split ---------------------------------------------------------------------


def _split(scan: Scan, good: list[Candidate]) -> np.ndarray:
    """bool (N,): which of ``good`` are test images; the folder's own split when it has one."""
    if scan.presplit:
        return np.array([c.split == "test" for c in good], dtype=bool)
    path = cache_dir() / "folders" / f"split-{diskcache.key(os.fsencode(str(scan.root)))}.npz"
    with diskcache.exclusive(path):  # read, add to, write: one process at a time (two sides at once)
        stored = diskcache.read_npz(path) or {}
        train = set(stored.get("train", np.array([], dtype=str)).tolist())
        test = set(stored.get("test", np.array([], dtype=str)).tolist())
        new = [c for c in good if c.rel not in train and c.rel not in test]
        for label in sorted({c.label for c in new}):
            _assign([c for c in new if c.label == label], [c for c in good if c.label == label], test, train)
        if new:
            try:
                diskcache.write_npz(path, {"train": np.array(sorted(train), dtype=str),
                                           "test": np.array(sorted(test), dtype=str)})
            except OSError as error:
                warnings.warn(f"could not store the split of {shown(str(scan.root))}: {error}", stacklevel=2)
    return np.array([c.rel in test for c in good], dtype=bool)


def _assign(new: list[Candidate], whole: list[Candidate], test: set[str], train: set[str]) -> None:
    """Put a seeded share of one class's new files in ``test`` so the class is 15 % test."""
    target = max(1 if len(whole) >= 2 else 0, round(TEST_FRACTION * len(whole)))
    have = sum(c.rel in test for c in whole)
    need = min(len(new), max(0, target - have))
    rng = np.random.default_rng([SPLIT_SEED, int(diskcache.key(os.fsencode(new[0].label)), 16)])
    order = rng.permutation(len(new))
    for rank, i in enumerate(order):
        (test if rank < need else train).add(new[i].rel)


# --- the disk cache -----------------------------------------------------------------------


def _read_cache(path: Path, root: Path, side: int) -> Folder | None:
    z = diskcache.read_npz(path)
    if z is None or set(z) != {"pixels", "labels", "test", "class_names", "problems"}:
        return None
    test = z["test"].astype(bool)
    if (test[:-1] & ~test[1:]).any():  # a test image before a train one: not written by _decode
        return None
    problems = tuple(FolderProblem(str(w), str(r)) for w, r in z["problems"].reshape(-1, 2).tolist())
    return Folder(root, side, z["pixels"], z["labels"], test, tuple(z["class_names"].tolist()), problems)


def _write_cache(path: Path, folder: Folder) -> None:
    """Keep the decoded folder and drop older copies of the same folder at the same side."""
    problems = np.array([[p.where, p.reason] for p in folder.problems], dtype=str).reshape(-1, 2)
    try:
        diskcache.write_npz(path, {"pixels": folder.pixels, "labels": folder.labels, "test": folder.test,
                                   "class_names": np.array(folder.class_names, dtype=str), "problems": problems})
    except OSError as error:
        warnings.warn(f"could not cache the decoded folder in {path.parent}: {error}", stacklevel=5)
        return
    diskcache.drop_older(path)
