"""Tests for explorer.data: IDX files, the registry, locating, loading, downloading.

Everything runs on tiny synthetic IDX files in tmp_path; the cache dir points into
tmp_path, and downloads come from a local HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from explorer.cli.fetch_data import fetch_data_command
from explorer.core.paths import cache_dir
from explorer.data import (
    DATASETS,
    DataError,
    DatasetSpec,
    FileSpec,
    available_datasets,
    download,
    fetch,
    get_spec,
    load_dataset,
    locate_files,
    read_idx,
    write_idx,
)
from explorer.data.idx import idx_bytes
from helpers import LocalServer

FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
TINY_SHAPE = (4, 4)
TINY_CLASSES = 3
TINY_SIZES = {"train": 6, "test": 3}
LAYOUT = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}


# --- fixtures and helpers -------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep every test away from the user's cache, data dir and proxies."""
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def tiny_arrays(seed: int = 0, marker: int = 0) -> dict[tuple[str, str], np.ndarray]:
    """Random uint8 images and in-range labels for both splits; image 0 starts with ``marker``."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, size in TINY_SIZES.items():
        images = rng.integers(0, 256, size=(size, *TINY_SHAPE), dtype=np.uint8)
        images[0, 0, 0] = marker
        arrays[(split, "images")] = images
        arrays[(split, "labels")] = rng.integers(0, TINY_CLASSES, size=size, dtype=np.uint8)
    return arrays


def write_tiny_files(directory: Path, marker: int = 0, compressed: bool = True) -> dict[tuple[str, str], Path]:
    """Write a tiny dataset's four IDX files into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, array in tiny_arrays(marker=marker).items():
        name = LAYOUT[key] if compressed else LAYOUT[key].removesuffix(".gz")
        paths[key] = directory / name
        write_idx(paths[key], array)
    return paths


def tiny_spec(
    sha256: dict[str, str] | None = None,
    mirrors: tuple[str, ...] = (),
    system_dirs: tuple[str, ...] = (),
) -> DatasetSpec:
    """A dataset spec matching the tiny files (checksums optional, for downloads)."""
    sha256 = sha256 or {}
    files = tuple(
        FileSpec(filename, split, kind, sha256.get(filename, ""))
        for (split, kind), filename in LAYOUT.items()
    )
    return DatasetSpec(
        name="tiny",
        title="Tiny test data",
        image_shape=(1, *TINY_SHAPE),
        class_names=tuple(f"class {i}" for i in range(TINY_CLASSES)),
        n_train=TINY_SIZES["train"],
        n_test=TINY_SIZES["test"],
        files=files,
        mirrors=mirrors,
        system_dirs=system_dirs,
        source="tests",
        licence="CC0",
    )


def gz_payloads() -> dict[str, bytes]:
    """The tiny dataset's four files as gzip bytes, by file name."""
    payloads = {}
    for key, array in tiny_arrays().items():
        payloads[LAYOUT[key]] = gzip.compress(idx_bytes(array), mtime=0)
    return payloads


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_names(error: pytest.ExceptionInfo[DataError], *paths: Path) -> None:
    """The error message names every path (by file name at least)."""
    message = str(error.value)
    for path in paths:
        assert path.name in message, f"{path.name!r} not in: {message}"


# --- IDX files ----------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["images-idx3-ubyte.gz", "images-idx3-ubyte"])
def test_idx_round_trip_images(tmp_path: Path, filename: str) -> None:
    images = np.random.default_rng(1).integers(0, 256, size=(5, 3, 7), dtype=np.uint8)
    write_idx(tmp_path / filename, images)
    loaded = read_idx(tmp_path / filename)
    assert loaded.dtype == np.uint8 and loaded.shape == (5, 3, 7)
    np.testing.assert_array_equal(loaded, images)
    loaded[0, 0, 0] = 1  # the result is an ordinary writable array


@pytest.mark.parametrize("filename", ["labels-idx1-ubyte.gz", "labels-idx1-ubyte"])
def test_idx_round_trip_labels(tmp_path: Path, filename: str) -> None:
    labels = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / filename, labels)
    np.testing.assert_array_equal(read_idx(tmp_path / filename), labels)


def test_write_idx_compresses_only_gz(tmp_path: Path) -> None:
    labels = np.zeros(3, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", labels)
    write_idx(tmp_path / "a", labels)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "a").read_bytes()[:4] == b"\x00\x00\x08\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "a.gz"]  # no temp files left


@pytest.mark.parametrize(
    "array", [np.zeros((2, 2), np.uint8), np.zeros(3, np.float32), np.zeros((1, 1, 1, 1), np.uint8)]
)
def test_write_idx_rejects_unsupported_arrays(tmp_path: Path, array: np.ndarray) -> None:
    with pytest.raises(ValueError):
        write_idx(tmp_path / "x", array)


def _raw_labels(count: int = 4, declared: int | None = None) -> bytes:
    header = b"\x00\x00\x08\x01" + (count if declared is None else declared).to_bytes(4, "big")
    return header + bytes(range(count))


CORRUPT_FILES = {
    "wrong magic": ("bad-idx1-ubyte", b"\x00\x00\x0d\x01" + (4).to_bytes(4, "big") + bytes(16), "magic"),
    "not idx at all": ("bad-idx1-ubyte", b"hello, world, this is text", "magic"),
    "wrong dims": ("bad-idx2-ubyte", b"\x00\x00\x08\x02" + (2).to_bytes(4, "big") * 2 + bytes(4), "magic"),
    "too short": ("bad-idx1-ubyte", b"\x00\x00", "short"),
    "truncated header": ("bad-idx3-ubyte", b"\x00\x00\x08\x03" + (2).to_bytes(4, "big"), "header"),
    "truncated data": ("bad-idx1-ubyte", _raw_labels(4, declared=6), "truncated"),
    "trailing bytes": ("bad-idx1-ubyte", _raw_labels(4, declared=3), "trailing"),
    "not gzip": ("bad-idx1-ubyte.gz", _raw_labels(4), "gzip"),
    "truncated gzip": ("bad-idx1-ubyte.gz", gzip.compress(_raw_labels(200))[:40], "gzip"),
    "truncated inside gzip": ("bad-idx1-ubyte.gz", gzip.compress(_raw_labels(4, declared=9)), "truncated"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_FILES))
def test_corrupt_idx_raises_data_error_naming_the_file(tmp_path: Path, case: str) -> None:
    filename, content, problem = CORRUPT_FILES[case]
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(DataError) as error:
        read_idx(path)
    assert str(path) in str(error.value)
    assert problem in str(error.value).lower()
    assert "fetch-data" in str(error.value)


def test_size_error_gives_expected_and_actual_bytes(tmp_path: Path) -> None:
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(_raw_labels(4, declared=6))
    with pytest.raises(DataError, match=r"should be 14 bytes, but it is 12 bytes"):
        read_idx(path)


def test_missing_idx_file_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read_idx(tmp_path / "nothing-idx1-ubyte")
    assert_names(error, tmp_path / "nothing-idx1-ubyte")


# --- registry -----------------------------------------------------------------------


def test_registry_holds_the_datasets_best_first() -> None:
    assert list(DATASETS) == ["fashion-mnist", "mnist", "digits", "shapes", "cifar-10"]
    fashion = get_spec("fashion-mnist")
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[-1] == "Ankle boot"
    assert all(DATASETS[name].num_classes == 10 for name in ("fashion-mnist", "mnist", "digits"))
    assert get_spec("digits").image_shape == (1, 8, 8)
    assert (get_spec("mnist").n_train, get_spec("mnist").n_test) == (60_000, 10_000)


@pytest.mark.parametrize("name", ["fashion-mnist", "mnist"])
def test_idx_datasets_have_four_checksummed_files_and_mirrors(name: str) -> None:
    spec = get_spec(name)
    assert {(f.split, f.kind) for f in spec.files} == set(LAYOUT)
    assert all(re.fullmatch(r"[0-9a-f]{64}", f.sha256) for f in spec.files)
    assert all(f.filename.endswith("-ubyte.gz") for f in spec.files)
    assert spec.mirrors and all(m.endswith("/") for m in spec.mirrors)


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(DataError) as error:
        get_spec("cifar")
    assert "cifar" in str(error.value)
    assert all(name in str(error.value) for name in DATASETS)


def test_unknown_split_is_a_data_error() -> None:
    with pytest.raises(DataError, match="split"):
        load_dataset("digits", split="validation")


# --- locating files -------------------------------------------------------------------


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("EXPLORER_CACHE_DIR")
    assert cache_dir() == Path.home() / ".cache" / "latent-explorer"


def test_search_order_data_dir_env_cache_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arg_dir, env_dir, system_dir = tmp_path / "arg", tmp_path / "env", tmp_path / "system"
    spec = tiny_spec(system_dirs=(str(system_dir),))
    cache_copy = cache_dir() / spec.name
    for directory in (arg_dir, env_dir, cache_copy, system_dir):
        write_tiny_files(directory)
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(env_dir))

    assert locate_files(spec, arg_dir) == arg_dir
    assert locate_files(spec) == env_dir
    monkeypatch.delenv("EXPLORER_DATA_DIR")
    assert locate_files(spec) == cache_copy
    for path in cache_copy.iterdir():
        path.unlink()
    assert locate_files(spec) == system_dir
    for path in system_dir.iterdir():
        path.unlink()
    assert locate_files(spec) is None


def test_locate_skips_a_dir_with_only_some_files(tmp_path: Path) -> None:
    spec = tiny_spec(system_dirs=(str(tmp_path / "system"),))
    paths = write_tiny_files(tmp_path / "partial")
    paths[("test", "labels")].unlink()
    write_tiny_files(tmp_path / "system")
    assert locate_files(spec, tmp_path / "partial") == tmp_path / "system"


def test_locate_accepts_subfolder_and_uncompressed_names(tmp_path: Path) -> None:
    spec = tiny_spec()
    write_tiny_files(tmp_path / "data" / spec.name, compressed=False)
    assert locate_files(spec, tmp_path / "data") == tmp_path / "data" / spec.name
    dataset = load_dataset(spec, "test", data_dir=tmp_path / "data")
    assert len(dataset) == TINY_SIZES["test"]


def test_locate_prefers_the_named_subfolder(tmp_path: Path) -> None:
    spec = tiny_spec()
    write_tiny_files(tmp_path, marker=1)
    write_tiny_files(tmp_path / spec.name, marker=2)
    assert locate_files(spec, tmp_path) == tmp_path / spec.name


def test_digits_needs_no_files() -> None:
    assert locate_files("digits") is None
    assert available_datasets()[-2:] == ["digits", "shapes"]


def test_available_datasets_lists_found_ones_best_first(tmp_path: Path) -> None:
    write_tiny_files(tmp_path / "mnist")  # locating checks names, not contents
    found = available_datasets(tmp_path)
    assert "mnist" in found and found[-2:] == ["digits", "shapes"]
    assert found == [name for name in DATASETS if name in found]


# --- loading --------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("compressed", [True, False])
def test_load_tiny_dataset(tmp_path: Path, split: str, compressed: bool) -> None:
    spec = tiny_spec()
    write_tiny_files(tmp_path, compressed=compressed)
    dataset = load_dataset(spec, split, data_dir=tmp_path)
    expected = tiny_arrays()
    assert dataset.images.dtype == np.float32 and dataset.labels.dtype == np.int64
    assert dataset.images.shape == (TINY_SIZES[split], 1, *TINY_SHAPE)
    np.testing.assert_allclose(dataset.images[:, 0], expected[(split, "images")] / 255, rtol=1e-6)
    np.testing.assert_array_equal(dataset.labels, expected[(split, "labels")])
    assert len(dataset) == TINY_SIZES[split] and dataset.split == split and dataset.spec is spec


def test_decoded_cache_is_used_and_refreshed(tmp_path: Path) -> None:
    spec = tiny_spec()
    paths = write_tiny_files(tmp_path / "data")
    first = load_dataset(spec, "train", data_dir=tmp_path / "data")
    decoded = sorted((cache_dir() / "decoded").glob("*.npy"))
    assert len(decoded) == 2  # train images and labels
    assert not list((cache_dir() / "decoded").glob("*.tmp*"))

    # Served from the cache: the source is not read again while unchanged.
    source = paths[("train", "images")]
    stat = source.stat()
    source.write_bytes(b"corrupt but same size".ljust(stat.st_size, b"!"))
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    np.testing.assert_array_equal(load_dataset(spec, "train", data_dir=tmp_path / "data").images, first.images)

    # A changed file (new mtime) is parsed again, and its stale copy is dropped.
    images = tiny_arrays()[("train", "images")]
    write_idx(source, 255 - images)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = load_dataset(spec, "train", data_dir=tmp_path / "data")
    np.testing.assert_allclose(second.images, 1 - first.images, atol=1e-6)
    assert len(list((cache_dir() / "decoded").glob("*.npy"))) == 2


def test_load_works_when_the_cache_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache dir should be")
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(blocker))
    write_tiny_files(tmp_path / "data")
    with pytest.warns(UserWarning, match="could not cache"):
        dataset = load_dataset(tiny_spec(), "test", data_dir=tmp_path / "data")
    assert len(dataset) == TINY_SIZES["test"]


def test_missing_files_error_says_where_it_looked_and_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        load_dataset("mnist", data_dir=tmp_path / "empty")
    message = str(error.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "empty") in message
    assert "fetch-data" in message and "EXPLORER_DATA_DIR" in message and str(cache_dir()) in message


def test_fashion_hint_mentions_the_debian_package(tmp_path: Path) -> None:
    spec = dataclasses.replace(get_spec("fashion-mnist"), system_dirs=())
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset(spec, data_dir=tmp_path)


def _rewrite(path: Path, array: np.ndarray) -> None:
    write_idx(path, array)


def test_image_label_count_mismatch_names_both_files(tmp_path: Path) -> None:
    paths = write_tiny_files(tmp_path)
    _rewrite(paths[("train", "labels")], np.zeros(TINY_SIZES["train"] - 1, np.uint8))
    with pytest.raises(DataError) as error:
        load_dataset(tiny_spec(), "train", data_dir=tmp_path)
    assert_names(error, paths[("train", "images")], paths[("train", "labels")])


def test_split_size_mismatch_names_both_files(tmp_path: Path) -> None:
    paths = write_tiny_files(tmp_path)
    n = TINY_SIZES["test"] + 2
    _rewrite(paths[("test", "images")], np.zeros((n, *TINY_SHAPE), np.uint8))
    _rewrite(paths[("test", "labels")], np.zeros(n, np.uint8))
    with pytest.raises(DataError, match=f"has {TINY_SIZES['test']} of each") as error:
        load_dataset(tiny_spec(), "test", data_dir=tmp_path)
    assert_names(error, paths[("test", "images")], paths[("test", "labels")])


def test_wrong_image_shape_names_the_file(tmp_path: Path) -> None:
    paths = write_tiny_files(tmp_path)
    _rewrite(paths[("test", "images")], np.zeros((TINY_SIZES["test"], 5, 5), np.uint8))
    with pytest.raises(DataError, match="5x5") as error:
        load_dataset(tiny_spec(), "test", data_dir=tmp_path)
    assert_names(error, paths[("test", "images")])


def test_labels_out_of_range_name_the_file(tmp_path: Path) -> None:
    paths = write_tiny_files(tmp_path)
    labels = np.zeros(TINY_SIZES["train"], np.uint8)
    labels[2] = TINY_CLASSES
    _rewrite(paths[("train", "labels")], labels)
    with pytest.raises(DataError, match="out of range") as error:
        load_dataset(tiny_spec(), "train", data_dir=tmp_path)
    assert_names(error, paths[("train", "labels")])


def test_labels_file_in_place_of_images_names_the_file(tmp_path: Path) -> None:
    paths = write_tiny_files(tmp_path)
    _rewrite(paths[("test", "images")], np.zeros(TINY_SIZES["test"], np.uint8))
    with pytest.raises(DataError, match="images file") as error:
        load_dataset(tiny_spec(), "test", data_dir=tmp_path)
    assert_names(error, paths[("test", "images")])


def test_corrupt_file_in_a_dataset_names_it_with_dataset_hints(tmp_path: Path) -> None:
    paths = write_tiny_files(tmp_path)
    paths[("train", "images")].write_bytes(b"not gzip at all")
    with pytest.raises(DataError) as error:
        load_dataset(tiny_spec(), "train", data_dir=tmp_path)
    assert str(paths[("train", "images")]) in str(error.value)
    assert "fetch-data tiny" in str(error.value)


# --- digits ---------------------------------------------------------------------------


def test_digits_loads_with_the_fixed_split() -> None:
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert train.images.shape == (1437, 1, 8, 8) and test.images.shape == (360, 1, 8, 8)
    for dataset in (train, test):
        assert dataset.images.dtype == np.float32 and dataset.labels.dtype == np.int64
        assert dataset.images.min() == 0.0 and dataset.images.max() == 1.0
        assert set(np.unique(dataset.labels)) == set(range(10))
    again = load_dataset("digits", "test")
    np.testing.assert_array_equal(again.images, test.images)
    np.testing.assert_array_equal(again.labels, test.labels)


def test_digits_split_is_a_partition_of_the_bundled_set() -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    levels = np.rint(bunch.images.reshape(1797, -1) * (255 / 16))  # 0..16 as uint8 0..255
    full = np.concatenate([levels, bunch.target[:, None]], axis=1)
    parts = [
        np.concatenate([d.pixels.reshape(len(d), -1), d.labels[:, None]], axis=1)
        for d in (load_dataset("digits", "train"), load_dataset("digits", "test"))
    ]
    combined = np.concatenate(parts)

    def rows(a: np.ndarray) -> np.ndarray:
        return a[np.lexsort(a.T[::-1])]

    np.testing.assert_array_equal(rows(combined), rows(full))


# --- downloading ----------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        running.files.update(gz_payloads())
        yield running


@pytest.fixture
def dead_url() -> str:
    """A URL on a local port where nothing listens (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/data/"


def download_spec(mirrors: tuple[str, ...]) -> DatasetSpec:
    """The tiny spec with the checksums of the served files."""
    return tiny_spec(sha256={name: sha256_hex(data) for name, data in gz_payloads().items()}, mirrors=mirrors)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_fetch_downloads_verifies_and_loads(server: LocalServer, tmp_path: Path) -> None:
    spec = download_spec((server.url,))
    target = fetch(spec, data_dir=tmp_path)
    assert target == tmp_path / spec.name
    assert leftovers(target) == sorted(LAYOUT.values())
    for name, data in gz_payloads().items():
        assert (target / name).read_bytes() == data
    assert locate_files(spec, tmp_path) == target
    assert len(load_dataset(spec, "train", data_dir=tmp_path)) == TINY_SIZES["train"]


def test_fetch_defaults_to_the_cache_dir(server: LocalServer) -> None:
    spec = download_spec((server.url,))
    assert fetch(spec) == cache_dir() / spec.name
    assert locate_files(spec) == cache_dir() / spec.name


def test_fetch_skips_verified_files_and_replaces_bad_ones(server: LocalServer, tmp_path: Path) -> None:
    spec = download_spec((server.url,))
    target = fetch(spec, data_dir=tmp_path)
    server.requests.clear()
    fetch(spec, data_dir=tmp_path)
    assert server.requests == []
    (target / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")
    fetch(spec, data_dir=tmp_path)
    assert server.requests == ["t10k-labels-idx1-ubyte.gz"]
    assert (target / "t10k-labels-idx1-ubyte.gz").read_bytes() == gz_payloads()["t10k-labels-idx1-ubyte.gz"]


def test_fetch_reports_progress_with_growing_byte_counts(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download, "CHUNK_BYTES", 16)
    calls: list[tuple[str, int, int | None]] = []
    fetch(download_spec((server.url,)), data_dir=tmp_path, progress=lambda *call: calls.append(call))
    sizes = {name: len(data) for name, data in gz_payloads().items()}
    assert {name for name, _, _ in calls} == set(sizes)
    for name, size in sizes.items():
        counts = [done for called, done, _ in calls if called == name]
        assert counts[0] == 0 and counts[-1] == size and len(counts) > 2
        assert counts == sorted(counts) and len(set(counts)) == len(counts)
        assert {total for called, _, total in calls if called == name} == {size}


def test_fetch_rejects_a_wrong_checksum_and_leaves_nothing(server: LocalServer, tmp_path: Path) -> None:
    spec = download_spec((server.url,))
    server.files["train-labels-idx1-ubyte.gz"] = gzip.compress(b"something else")
    with pytest.raises(DataError) as error:
        fetch(spec, data_dir=tmp_path)
    message = str(error.value)
    assert "train-labels-idx1-ubyte.gz" in message and "checksum" in message
    assert "fetch-data" in message
    remaining = leftovers(tmp_path / spec.name)
    assert "train-labels-idx1-ubyte.gz" not in remaining
    assert not [name for name in remaining if name.endswith(".part")]


def test_fetch_rejects_a_truncated_body_and_leaves_nothing(server: LocalServer, tmp_path: Path) -> None:
    spec = download_spec((server.url,))
    server.short["t10k-images-idx3-ubyte.gz"] = 100
    with pytest.raises(DataError, match="truncated") as error:
        fetch(spec, data_dir=tmp_path)
    assert "t10k-images-idx3-ubyte.gz" in str(error.value)
    remaining = leftovers(tmp_path / spec.name)
    assert "t10k-images-idx3-ubyte.gz" not in remaining
    assert not [name for name in remaining if name.endswith(".part")]


def test_fetch_falls_back_to_the_next_mirror(server: LocalServer, dead_url: str, tmp_path: Path) -> None:
    spec = download_spec((dead_url, server.url))
    target = fetch(spec, data_dir=tmp_path)
    assert leftovers(target) == sorted(LAYOUT.values())


def test_fetch_mirrors_argument_overrides_the_spec(server: LocalServer, dead_url: str, tmp_path: Path) -> None:
    spec = download_spec((dead_url,))
    target = fetch(spec, data_dir=tmp_path, mirrors=[server.url])
    assert leftovers(target) == sorted(LAYOUT.values())


def test_fetch_reports_every_mirror_when_all_fail(server: LocalServer, dead_url: str, tmp_path: Path) -> None:
    spec = download_spec((dead_url, server.url))
    del server.files["train-images-idx3-ubyte.gz"]
    with pytest.raises(DataError) as error:
        fetch(spec, data_dir=tmp_path)
    message = str(error.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert dead_url in message and "cannot connect" in message
    assert server.url in message and "HTTP 404" in message
    assert "EXPLORER_DATA_DIR" in message and "fetch-data" in message
    assert leftovers(tmp_path / spec.name) == []


def test_fetch_of_a_bundled_dataset_is_a_data_error() -> None:
    with pytest.raises(DataError, match="bundled"):
        fetch("digits")


def test_fetch_data_command(server: LocalServer, dead_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = download_spec((server.url,))
    ok = argparse.Namespace(name=spec, data_dir=tmp_path, mirror=None)
    assert fetch_data_command(ok) == 0
    assert str(tmp_path / spec.name) in capsys.readouterr().out

    server.requests.clear()
    assert fetch_data_command(ok) == 0  # found already: nothing downloaded
    assert "already available" in capsys.readouterr().out and server.requests == []

    failing = argparse.Namespace(name=spec, data_dir=tmp_path / "other", mirror=[dead_url])
    assert fetch_data_command(failing) == 1
    assert "cannot connect" in capsys.readouterr().err
    assert fetch_data_command(argparse.Namespace(name="digits")) == 0


# --- the real Fashion-MNIST, where the Debian package installed it --------------------


@pytest.mark.skipif(not FASHION_SYSTEM_DIR.exists(), reason="dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_test_split() -> None:
    assert locate_files("fashion-mnist") == FASHION_SYSTEM_DIR
    dataset = load_dataset("fashion-mnist", "test")
    assert dataset.images.shape == (10_000, 1, 28, 28)
    assert 0.0 <= dataset.images.min() and dataset.images.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(dataset.labels, minlength=10), [1000] * 10)
    assert "fashion-mnist" in available_datasets()
