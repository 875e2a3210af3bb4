"""Downloading a dataset's files from its mirrors, with a checksum check.

Each file is streamed to ``<file>.part`` next to its final place, its SHA-256 (or,
where the publisher gives only that, its MD5) is checked, and only then is it renamed into place. Whatever fails, the ``.part``
file is removed and the next mirror is tried.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from explorer.data.errors import DataError
from explorer.core.paths import cache_dir
from explorer.data.paths import ways_to_get
from explorer.data.registry import DatasetSpec, FileSpec, get_spec

# progress(filename, done_bytes, total_bytes or None)
Progress = Callable[[str, int, "int | None"], None]

TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 16


class _DownloadFailed(Exception):
    """One mirror failed for one file; the message says how."""


def fetch(
    name: str | DatasetSpec,
    data_dir: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Download the missing files of a dataset and return the directory holding them.

    Files go to ``<data_dir>/<name>`` (default: ``cache_dir() / <name>``). A file
    already there with the right SHA-256 is skipped. ``mirrors`` overrides the
    spec's base URLs, tried in order. Raises DataError naming the file, what went
    wrong on each mirror, and the other ways to get the data.
    """
    spec = get_spec(name)
    if not spec.files:
        raise DataError(f"{spec.name}: nothing to download; it is bundled and always available")
    base = Path(data_dir).expanduser() if data_dir is not None else cache_dir()
    target = base / spec.name
    target.mkdir(parents=True, exist_ok=True)
    bases = tuple(mirrors) if mirrors is not None else spec.mirrors
    for file in spec.files:
        destination = target / file.filename
        if destination.is_file() and digest_of(destination, file) == expected_digest(file)[1]:
            continue
        _fetch_file(spec, file, destination, bases, progress)
    return target


def expected_digest(file: FileSpec) -> tuple[str, str]:
    """The algorithm ("sha256" or "md5") and hex digest ``file`` is checked against."""
    return ("sha256", file.sha256) if file.sha256 else ("md5", file.md5)


def digest_of(path: Path, file: FileSpec) -> str:
    """The digest of ``path`` by the algorithm ``file`` is checked with."""
    return _hash_file(path, hashlib.new(expected_digest(file)[0]))


def _hash_file(path: Path, digest) -> str:
    """``digest`` updated with the bytes of ``path``, read in chunks; its hex digest."""
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_file(
    spec: DatasetSpec,
    file: FileSpec,
    destination: Path,
    bases: Sequence[str],
    progress: Progress | None,
) -> None:
    """Try each mirror in turn for one file; raise DataError if all fail."""
    failures = []
    for base in bases:
        url = _join(base, file.filename)
        try:
            _download(url, file, destination, progress)
            return
        except _DownloadFailed as error:
            failures.append(f"  {url}: {error}")
    tried = "\n".join(failures) or "  (no mirrors configured)"
    raise DataError(
        f"{spec.name}: could not download {file.filename} into {destination.parent}.\n"
        f"Tried:\n{tried}\n{ways_to_get(spec)}"
    )


def _join(base: str, filename: str) -> str:
    """``base`` URL and ``filename`` joined with exactly one slash."""
    return f"{base.rstrip('/')}/{filename}"


def _download(url: str, file: FileSpec, destination: Path, progress: Progress | None) -> None:
    """Stream ``url`` to ``<destination>.part``, verify it, rename it into place.

    Raises _DownloadFailed on any failure, after removing the ``.part`` file.
    """
    part = destination.with_name(destination.name + ".part")
    try:
        algorithm, expected = expected_digest(file)
        digest = _stream(url, part, file.filename, progress, hashlib.new(algorithm))
        if digest != expected:
            raise _DownloadFailed(
                f"checksum mismatch: expected {algorithm.upper()} {expected}, got {digest}"
            )
        os.replace(part, destination)
    except _DownloadFailed:
        raise
    except urllib.error.HTTPError as error:
        raise _DownloadFailed(f"HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise _DownloadFailed(f"cannot connect ({error.reason})") from error
    except http.client.IncompleteRead as error:
        raise _DownloadFailed(
            f"connection closed early: truncated body ({len(error.partial)} bytes in the "
            f"last read, {error.expected} more expected)"
        ) from error
    except (http.client.HTTPException, OSError) as error:
        raise _DownloadFailed(f"{type(error).__name__}: {error}") from error
    finally:
        part.unlink(missing_ok=True)


def _stream(url: str, part: Path, filename: str, progress: Progress | None, digest) -> str:
    """Write the body of ``url`` to ``part``; return its hex ``digest`` (a hashlib object).

    Checks the byte count against Content-Length when the server sends one.
    """
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, part.open("wb") as out:
        total = _content_length(response)
        done = 0
        if progress:
            progress(filename, done, total)
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(filename, done, total)
    if total is not None and done != total:
        raise _DownloadFailed(f"truncated body: got {done} of {total} bytes")
    return digest.hexdigest()


def _content_length(response: http.client.HTTPResponse) -> int | None:
    """The Content-Length header as an int, or None if absent or malformed."""
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
