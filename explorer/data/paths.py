"""Where dataset files live: the cache dir, the search order, and the help text
that tells a person how to get files that are missing."""

from __future__ import annotations

import os
from pathlib import Path

from explorer.core.paths import CACHE_DIR_ENV, cache_dir, env_path
from explorer.data.registry import DatasetSpec, FileSpec, get_spec

DATA_DIR_ENV = "EXPLORER_DATA_DIR"


def search_dirs(name: str | DatasetSpec, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The base directories searched for a dataset's files, in order.

    ``data_dir``, ``$EXPLORER_DATA_DIR``, ``cache_dir() / <name>``, then the spec's
    system dirs. Each base is searched for ``<base>/<name>/`` first, then ``<base>/``.
    """
    spec = get_spec(name)
    bases = [
        Path(data_dir).expanduser() if data_dir is not None else None,
        env_path(DATA_DIR_ENV),
        cache_dir() / spec.name,
        *(Path(d) for d in spec.system_dirs),
    ]
    return [base for base in bases if base is not None]


def find_file(directory: Path, file: FileSpec) -> Path | None:
    """``file`` in ``directory`` under its ``.gz`` name or uncompressed name, if there."""
    for filename in (file.filename, file.raw_name):
        candidate = directory / filename
        if candidate.is_file():
            return candidate
    return None


def _holds_all(directory: Path, spec: DatasetSpec) -> bool:
    """Whether ``directory`` holds every file of ``spec`` (compressed or not)."""
    return all(find_file(directory, file) is not None for file in spec.files)


def locate_files(name: str | DatasetSpec, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first directory that holds all of a dataset's files, or None.

    Searches, in order: ``data_dir``, ``$EXPLORER_DATA_DIR``, the cache dir
    (``cache_dir() / <name>``), then the spec's system dirs; in each, both
    ``<dir>/<name>/`` and ``<dir>/`` itself. Each file may be ``.gz`` or uncompressed.
    Datasets without files (``digits``) return None.
    """
    spec = get_spec(name)
    if not spec.files:
        return None
    for base in search_dirs(spec, data_dir):
        for directory in (base / spec.name, base):
            if _holds_all(directory, spec):
                return directory
    return None


def ways_to_get(name: str | DatasetSpec | None = None) -> str:
    """A few lines telling a person how to get the files of a dataset.

    With no name (or an unknown one) the text is generic.
    """
    spec = None
    if name is not None:
        try:
            spec = get_spec(name)
        except Exception:  # unknown name: fall back to the generic text
            spec = None
    label = spec.name if spec else "NAME"
    target = cache_dir() / label
    archive = spec is not None and any(file.kind == "archive" for file in spec.files)
    files = spec.files[0].filename if archive else "the IDX files (.gz or uncompressed)"
    lines = [
        "To get the data, do one of:",
        f"  - put {files} in a folder and pass --data-dir DIR "
        f"or set {DATA_DIR_ENV}=DIR",
        f"  - download them with checksum check: python -m explorer fetch-data {label} "
        f"(saved in the cache dir {target}; set {CACHE_DIR_ENV} to move it)",
    ]
    if spec is None or spec.apt_package:
        package = spec.apt_package if spec else "dataset-fashion-mnist"
        where = f" (installs {spec.system_dirs[0]})" if spec and spec.system_dirs else ""
        prefix = "" if spec else "for fashion-mnist: "
        lines.append(f"  - {prefix}apt-get install {package}{where}")
    lines.append("  - or use the bundled 'digits' dataset, which needs no files")
    return "\n".join(lines)
