"""Which directories are checkpoints, and path safety: an id or path given by a user or a URL
never leads outside the checkpoints folder, and a checkpoint's files are its own."""
from __future__ import annotations

import os
from pathlib import Path

from explorer.checkpoints.external import EXTERNAL_FILE, is_external_dir
from explorer.checkpoints.layout import CONFIG_FILE, METRICS_FILE, OPTIMIZER_FILE, WEIGHTS_FILE, CheckpointError


def is_checkpoint_dir(path: str | os.PathLike) -> bool:
    """Whether `path` is a directory with a config and weights, or an external model's model.json
    (not whether they load)."""
    p = Path(path)
    return p.is_dir() and ((p / CONFIG_FILE).is_file() and (p / WEIGHTS_FILE).is_file() or is_external_dir(p))


def is_inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Whether `path`, with every symlink and `..` resolved, lies in (or is) `root`, likewise resolved."""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return False
    return True


def resolve_ref(ref: str, root: str | os.PathLike) -> Path:
    """The checkpoint a root-relative id such as ``fashion-mnist/vae-16d`` names inside `root`.

    Refuses ids that are absolute, contain ``..``, ``.`` or hidden parts (saves in progress),
    and ids that lead outside `root` through a symlink. Raises CheckpointError; does not load."""
    text = str(ref).strip()
    parts = text.replace("\\", "/").split("/")
    if not text or "\x00" in text:
        raise CheckpointError(f"{ref!r} is not a checkpoint id; use one like fashion-mnist/vae-16d")
    if text.startswith(("/", "\\", "~")) or Path(text).is_absolute() or (len(text) > 1 and text[1] == ":"):
        raise CheckpointError(f"checkpoint {ref!r} is an absolute path; name a checkpoint inside the "
                              "checkpoints folder, like fashion-mnist/vae-16d")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        raise CheckpointError(f"checkpoint {ref!r} has an empty, '.', '..' or hidden part; name a checkpoint "
                              "inside the checkpoints folder, like fashion-mnist/vae-16d")
    path = Path(root) / Path(*parts)
    if not is_inside(path, root):
        raise CheckpointError(f"checkpoint {ref!r} leads outside the checkpoints folder {root} "
                              "through a symlink; it is not loaded")
    return path


def locate(arg: str | os.PathLike, root: str | os.PathLike) -> Path:
    """A checkpoint as given on the command line: a path, or an id inside `root` (`digits/vae-8d`).

    A path of one's own anywhere is taken as given; but a path written inside `root`
    (``checkpoints/...``) must stay inside it once `..` and symlinks are resolved."""
    path, root = Path(arg), Path(root)
    if not path.exists() and not path.is_absolute() and (root / path).exists():
        return resolve_ref(str(arg), root)
    rel_root = Path(os.path.abspath(root)).parts
    if Path(os.getcwd(), path).parts[:len(rel_root)] == rel_root and not is_inside(path, root):
        raise CheckpointError(f"{arg} is written inside the checkpoints folder {root} but leads "
                              "outside it (through '..' or a symlink); it is not loaded")
    return path


def check_members(path: Path) -> None:
    """A checkpoint's files must be its own: refuse symlinks that lead out of its directory."""
    for name in (CONFIG_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, METRICS_FILE):
        member = path / name
        if member.is_symlink() and not is_inside(member, path):
            raise CheckpointError(f"{member} is a symlink to {os.path.realpath(member)}, outside the "
                                  "checkpoint directory; refusing to read it")


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Checkpoint directories under `root` (<root>/<dataset>/<name>/ or deeper), external model
    folders (a model.json, checkpoints/adapter.py) among them, sorted.

    Hidden directories (saves in progress) are skipped, and so is anything that a symlink
    leads outside `root`: what is listed is what lies in the folder. One walk of the tree, which,
    like the rglob it replaces, does not descend into symlinked directories."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        names, here = set(files) | set(dirs), Path(top)
        if CONFIG_FILE in names and _is_ours_inside(here, root):
            found.append(here)
        elif EXTERNAL_FILE in names and is_external_dir(here) and is_inside(here / EXTERNAL_FILE, root):
            found.append(here)
    return sorted(found)


def _is_ours_inside(path: Path, root: Path) -> bool:
    """A config.json and weights, both (and the folder) inside `root` once symlinks are resolved."""
    return ((path / CONFIG_FILE).exists() and (path / WEIGHTS_FILE).is_file() and is_inside(path, root)
            and is_inside(path / CONFIG_FILE, root) and is_inside(path / WEIGHTS_FILE, root))
