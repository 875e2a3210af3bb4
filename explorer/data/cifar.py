"""CIFAR-10 from its official binary archive, read without unpickling and without extracting.

The archive (``cifar-10-binary.tar.gz``) holds ``cifar-10-batches-bin/data_batch_1.bin`` to
``data_batch_5.bin`` and ``test_batch.bin``: 10,000 records each of 1 label byte and 3,072
pixel bytes (the red plane, then green, then blue, each 32 rows of 32). Only those six members
are read, each straight out of the tar stream, and only when it is a regular file of exactly
that size; no name in the tar is ever used as a path on this machine, so a member such as
``../../etc/passwd`` cannot write anywhere. The decoded uint8 arrays are kept in the cache dir,
keyed by the archive's path, size and modification time.
"""
from __future__ import annotations

import tarfile
import warnings
from pathlib import Path

import numpy as np

from explorer.core import diskcache
from explorer.core.paths import cache_dir
from explorer.data.errors import DataError
from explorer.data.paths import locate_files, search_dirs, ways_to_get
from explorer.data.registry import DatasetSpec

MEMBER_DIR = "cifar-10-batches-bin"
TRAIN_MEMBERS = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_MEMBERS = ("test_batch.bin",)
RECORDS_PER_BATCH = 10_000
RECORD_BYTES = 1 + 3 * 32 * 32
DECODED_FORMAT = 1


def load_cifar_split(spec: DatasetSpec, split: str, data_dir) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, 3, 32, 32) pixels and int64 (N,) labels of ``split``, from the decoded cache
    when it is fresh, else read out of the archive."""
    directory = locate_files(spec, data_dir)
    if directory is None:
        looked = "\n".join(f"  {base / spec.name} and {base}" for base in search_dirs(spec, data_dir))
        raise DataError(f"{spec.name}: {spec.files[0].filename} was not found. Looked in:\n{looked}\n"
                        f"{ways_to_get(spec)}")
    archive = directory / spec.files[0].filename
    decoded = _decoded_path(archive, split)

    def read() -> tuple[np.ndarray, np.ndarray] | None:
        cached = diskcache.read_npz(decoded)
        return (cached["pixels"], cached["labels"]) if cached is not None and set(cached) == {"pixels", "labels"} \
            else None

    def make() -> tuple[np.ndarray, np.ndarray]:
        pixels, labels = read_archive(archive, split, spec)
        try:
            diskcache.write_npz(decoded, {"pixels": pixels, "labels": labels})
        except OSError as error:  # a cache that cannot be written costs only speed
            warnings.warn(f"could not cache decoded {spec.name} in {cache_dir()}: {error}", stacklevel=4)
        else:
            diskcache.drop_older(decoded)  # an archive fetched again leaves no stale 150 MB copy
        return pixels, labels

    # once: replicas of `serve` starting together read the archive once between them
    return diskcache.once(decoded, read, make)


def _decoded_path(archive: Path, split: str) -> Path:
    stat = archive.stat()
    location = diskcache.key(str(archive.resolve()))
    version = diskcache.key(f"{DECODED_FORMAT}|{stat.st_size}|{stat.st_mtime_ns}")
    return cache_dir() / "decoded" / f"cifar-10-{split}-{location}-{version}.npz"


def read_archive(archive: Path, split: str, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    """The records of ``split``'s batch files, parsed out of the (gzipped) tar ``archive``."""
    wanted = TRAIN_MEMBERS if split == "train" else TEST_MEMBERS
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for member in tar:  # streamed: one pass, nothing extracted
                base = member.name.removeprefix(f"{MEMBER_DIR}/")
                if base in wanted and member.name == f"{MEMBER_DIR}/{base}" and base not in found:
                    found[base] = _member_bytes(tar, member, archive)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(f"{archive}: cannot be read as a tar.gz archive ({error}); it is damaged or cut "
                        f"off. Delete it and fetch it again.\n{ways_to_get(spec)}") from error
    missing = [name for name in wanted if name not in found]
    if missing:
        raise DataError(f"{archive}: {', '.join(missing)} missing from {MEMBER_DIR}/; this is not the "
                        f"CIFAR-10 binary archive.\n{ways_to_get(spec)}")
    pixels, labels = parse_records(b"".join(found[name] for name in wanted), spec, str(archive))
    if len(labels) != spec.split_size(split):
        raise DataError(f"{archive}: the {split} batches hold {len(labels):,} images; {spec.name}'s {split} "
                        f"split has {spec.split_size(split):,}. Delete the archive and fetch it again.")
    return pixels, labels


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Path) -> bytes:
    """The bytes of one batch file, refused unless it is a regular file of whole records, at most
    one official batch (10,000 records) long."""
    most = RECORDS_PER_BATCH * RECORD_BYTES
    if not member.isfile() or not 0 < member.size <= most or member.size % RECORD_BYTES:
        raise DataError(f"{archive}: {member.name} is not a regular file of whole {RECORD_BYTES}-byte "
                        f"records ({member.size:,} bytes); this is not the CIFAR-10 binary archive. "
                        "Fetch it again.")
    stream = tar.extractfile(member)
    assert stream is not None  # a regular file always has a stream
    data = stream.read(member.size)
    if len(data) != member.size:
        raise DataError(f"{archive}: {member.name} is cut off; delete the archive and fetch it again.")
    return data


def parse_records(data: bytes, spec: DatasetSpec, where: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR binary records -> uint8 pixels (N, 3, 32, 32) and int64 labels (N,)."""
    if len(data) % RECORD_BYTES:
        raise DataError(f"{where}: {len(data):,} bytes is not a whole number of {RECORD_BYTES}-byte records")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.size and int(labels.max()) >= spec.num_classes:
        raise DataError(f"{where}: label {int(labels.max())} is out of range; {spec.name} labels run "
                        f"from 0 to {spec.num_classes - 1}")
    pixels = np.ascontiguousarray(records[:, 1:].reshape(-1, 3, 32, 32))
    return pixels, labels

