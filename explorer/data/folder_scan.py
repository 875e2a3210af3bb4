"""What a folder of images holds: its classes, its files and what is wrong with it, read-only.

The layout is one subfolder per class (``cats/``, ``dogs/``, ...), optionally under ``train/``
and ``test/``. Images may sit deeper inside a class folder. Hidden files (``.DS_Store``) are
passed over; anything else that cannot be used is listed with the reason. A link is followed
only while it stays inside the folder: one that leads out of it is refused, so a folder
cannot make the app read files elsewhere on the machine.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from explorer.data.errors import DataError

SPLIT_DIRS = ("train", "test")


@dataclass(frozen=True)
class FolderProblem:
    """Something in a folder that was left out, and why."""

    where: str  # the path relative to the folder, as the person would type it
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class Candidate:
    """A file that may be an image of a class."""

    rel: str          # path relative to the folder
    label: str        # the class folder's name
    split: str | None  # "train"/"test" when the folder says, else None (split later)
    size: int
    mtime_ns: int


@dataclass
class Scan:
    """The folder as listed: files that may be images, and what was left out."""

    root: Path
    presplit: bool
    candidates: list[Candidate] = field(default_factory=list)
    problems: list[FolderProblem] = field(default_factory=list)


def shown(name: str) -> str:
    """A file name printable everywhere (bytes that are not UTF-8 shown as the replacement mark)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def scan_folder(root: Path) -> Scan:
    """List the class folders and candidate files under ``root`` (an absolute, resolved path)."""
    if not root.is_dir():
        raise DataError(f"{shown(str(root))} is not a folder. Give a folder holding one subfolder per class "
                        "(for example cats/ and dogs/), each with its images.")
    top = _subdirs(root, root, "")
    presplit = "train" in top[0] and "test" in top[0]
    scan = Scan(root=root, presplit=presplit, problems=top[1])
    if presplit:
        scan.problems += [FolderProblem(shown(name) + "/", "a folder beside train/ and test/; skipped")
                          for name in top[0] if name not in SPLIT_DIRS]
        for split in SPLIT_DIRS:
            classes, problems = _subdirs(root / split, root, f"{split}/")
            scan.problems += problems
            for name in classes:
                _walk_class(scan, name, split, f"{split}/{name}")
    else:
        for name in top[0]:
            _walk_class(scan, name, None, name)
    return scan


def _subdirs(folder: Path, root: Path, prefix: str) -> tuple[list[str], list[FolderProblem]]:
    """The class folders directly in ``folder``, sorted, and the problems of its other entries."""
    names, problems = [], []
    for entry in _entries(folder, root):
        rel = f"{prefix}{entry.name}"
        if entry.name.startswith("."):
            continue
        outside = _leaves(entry, root)
        if outside:
            problems.append(FolderProblem(shown(rel), outside))
        elif entry.is_dir():
            names.append(entry.name)
        else:
            problems.append(FolderProblem(shown(rel), "not inside a class folder; skipped (put each image in "
                                                      "the subfolder named after its class)"))
    return sorted(names), problems


def _entries(folder: Path, root: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError as error:
        raise DataError(f"{shown(str(folder))} cannot be listed ({error.strerror or error}). Check that the "
                        f"folder {shown(str(root))} can be read.") from error


def _leaves(entry: os.DirEntry, root: Path) -> str:
    """The reason a link is refused ("" when ``entry`` is not a link or stays inside ``root``)."""
    if not entry.is_symlink():
        return ""
    target = Path(os.path.realpath(entry.path))
    if target == root or root not in target.parents:
        return f"a link that leads out of the folder (to {shown(str(target))}); refused"
    if not target.exists():
        return "a link to nothing (its target is missing); skipped"
    return ""


def _walk_class(scan: Scan, name: str, split: str | None, rel_dir: str) -> None:
    """Add the candidate files of one class folder (and the folders inside it) to ``scan``."""
    before = len(scan.candidates)
    pending = [rel_dir]
    while pending:
        rel = pending.pop()
        for entry in sorted(_entries(scan.root / rel, scan.root), key=lambda e: e.name):
            child = f"{rel}/{entry.name}"
            if entry.name.startswith("."):
                continue
            outside = _leaves(entry, scan.root)
            if outside:
                scan.problems.append(FolderProblem(shown(child), outside))
            elif entry.is_dir() and entry.is_symlink():  # one to an enclosing folder would never end
                scan.problems.append(FolderProblem(shown(child), "a link to a folder; not followed"))
            elif entry.is_dir():
                pending.append(child)
            elif entry.is_file():
                st = entry.stat()  # follows a link that stays inside
                scan.candidates.append(Candidate(child, name, split, st.st_size, st.st_mtime_ns))
            else:
                scan.problems.append(FolderProblem(shown(child), "not a regular file; skipped"))
    if len(scan.candidates) == before:
        scan.problems.append(FolderProblem(shown(rel_dir) + "/", "an empty class folder (no files); left out"))
