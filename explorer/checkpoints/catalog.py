"""Where checkpoints live, which ones the app can offer, grouped by dataset, and which it opens first.

The one list of checkpoint roots, for the app and the CLI alike, in this order:

- ``$EXPLORER_CHECKPOINTS``: one or more directories (joined with ``os.pathsep``), each laid
  out as ``<root>/<dataset>/<name>/``;
- the repository's ``checkpoints/`` (beside the ``explorer`` package), unless
  ``EXPLORER_CHECKPOINTS_ONLY=1``, which the tests set to see only their own tiny checkpoints.

New checkpoints (the CLI's `train`, the Train page) go to the first root, `default_root()`,
and the CLI looks up ids such as ``digits/vae-8d`` there.

A checkpoint belongs to the dataset named by its parent directory (when that is a known
dataset), so one whose config names another dataset is still listed, and the app says
plainly that it does not fit. A directory whose ``config.json`` cannot be read is listed too,
marked, so that choosing it gives a clear message instead of silently vanishing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from explorer.checkpoints import factory
from explorer.checkpoints.external import is_external_dir, read_spec
from explorer.checkpoints.format import read_config
from explorer.checkpoints.layout import CheckpointError
from explorer.checkpoints.paths import is_checkpoint_dir, is_inside, list_checkpoints, resolve_ref
from explorer.core import kinds
from explorer.core.config import ConfigError, ModelConfig
from explorer.core.kinds import VAE_KINDS
from explorer.data import DATASETS

CHECKPOINTS_ENV = "EXPLORER_CHECKPOINTS"
ONLY_ENV = "EXPLORER_CHECKPOINTS_ONLY"
REPO_CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"


@dataclass(frozen=True)
class CheckpointEntry:
    path: Path
    dataset: str          # the dataset directory it sits in
    kind: str             # "" when config.json cannot be read
    latent_dim: int       # 0 for classifiers and unreadable configs
    problem: str = ""     # why config.json could not be read
    origin: str = ""      # "" for ours; "ONNX folder /path" or "PyTorch factory pkg.mod:fn"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_vae(self) -> bool:
        return self.kind in VAE_KINDS

    @property
    def label(self) -> str:
        """What the sidebar shows: name, kind and latent size, or that it is unreadable."""
        if self.problem:
            return f"{self.name} (unreadable)"
        mark = ", ONNX" if self.origin.startswith("ONNX") else ", PyTorch" if self.origin else ""
        if self.kind == "classifier":
            return self.name + (f" ({mark[2:]})" if mark else "")
        return f"{self.name} ({self.kind}, {self.latent_dim}-D{mark})"


def checkpoint_roots() -> list[Path]:
    """The directories searched for checkpoints, extra roots first."""
    roots = [Path(p).expanduser() for p in os.environ.get(CHECKPOINTS_ENV, "").split(os.pathsep) if p.strip()]
    if os.environ.get(ONLY_ENV, "").strip() not in ("1", "true", "yes"):
        roots.append(REPO_CHECKPOINTS)
    unique: list[Path] = []
    for root in roots:
        if root.resolve() not in [r.resolve() for r in unique]:
            unique.append(root)
    return unique


def default_root() -> Path:
    """The first checkpoint root: where new checkpoints are saved and command-line ids are looked up
    (the repository's ``checkpoints/`` when no root is left)."""
    roots = checkpoint_roots()
    return roots[0] if roots else REPO_CHECKPOINTS


def describe(path: Path) -> CheckpointEntry:
    """Read just config.json (no weights) to say what a checkpoint is; or an external model's model.json."""
    parent = path.parent.name
    if is_external_dir(path):
        return _describe_external(path)
    try:
        raw = read_config(path)
    except CheckpointError as e:
        return CheckpointEntry(path, parent, "", 0, problem=str(e))
    model = raw.get("model") if isinstance(raw.get("model"), dict) else {}
    try:  # an unknown kind or an absurd size is listed as unreadable, not as a model to offer
        ModelConfig.from_dict(model)
    except ConfigError as e:
        return CheckpointEntry(path, parent, "", 0, problem=f"{path / 'config.json'}: {e}")
    dataset = parent if parent in DATASETS else str(raw.get("dataset", parent))
    kind = str(raw.get("kind", ""))
    latent_dim = int(model.get("latent_dim", 0) or 0) if kind != "classifier" else 0
    return CheckpointEntry(path, dataset, kind, latent_dim)


def _describe_external(path: Path) -> CheckpointEntry:
    try:
        spec = read_spec(path)
    except CheckpointError as e:
        return CheckpointEntry(path, path.parent.name, "", 0, problem=str(e))
    dataset = path.parent.name if path.parent.name in DATASETS else spec.dataset
    return CheckpointEntry(path, dataset, spec.kind, spec.latent_dim, origin=spec.origin)


def factory_entries(names: tuple[str, ...] | None = None) -> list[CheckpointEntry]:
    """The PyTorch factories the user named (EXPLORER_FACTORY), each loaded once to say what it is.
    One that fails is listed under every dataset, marked, so choosing it shows why."""
    entries = []
    for name in names if names is not None else factory.named_factories():
        try:
            entries.append(_describe_external(factory.factory_folder(name)))
        except CheckpointError as e:
            path = factory.folder_for(name)
            entries += [CheckpointEntry(path, dataset, "", 0, problem=str(e), origin=f"PyTorch factory {name}")
                        for dataset in DATASETS]
    return entries


def scan(roots: list[Path] | None = None, factories: tuple[str, ...] | None = None) -> list[CheckpointEntry]:
    """Every checkpoint under the roots, unreadable ones included; none that a symlink leads
    outside its root (list_checkpoints leaves those out); then the named factories' models."""
    entries: list[CheckpointEntry] = []
    seen: set[Path] = set()
    for root in roots if roots is not None else checkpoint_roots():
        for path in list_checkpoints(root):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                entries.append(describe(path))
    return entries + factory_entries(factories)


def datasets_with_checkpoints(entries: list[CheckpointEntry]) -> list[str]:
    """Datasets that have at least one VAE checkpoint (or a broken one), registry order first."""
    names = {e.dataset for e in entries if e.is_vae or e.problem}
    known = [n for n in DATASETS if n in names]
    return known + sorted(names - set(known))


def vae_choices(entries: list[CheckpointEntry], dataset: str) -> list[CheckpointEntry]:
    """The dataset's VAE checkpoints, best first; unreadable ones last."""
    chosen = [e for e in entries if e.dataset == dataset and (e.is_vae or e.problem)]
    return sorted(chosen, key=lambda e: (bool(e.problem), kinds.rank(e.kind), e.latent_dim == 2, e.name))


def classifier_choices(entries: list[CheckpointEntry], dataset: str) -> list[CheckpointEntry]:
    """The dataset's classifier checkpoints; one named "classifier" first, unreadable ones last."""
    chosen = [e for e in entries if e.dataset == dataset and (e.kind == "classifier" or e.problem)]
    return sorted(chosen, key=lambda e: (bool(e.problem), e.name != "classifier", e.name))


def default_dataset(entries: list[CheckpointEntry], available: list[str]) -> str | None:
    """The best dataset that is both present on disk and has a VAE checkpoint."""
    with_vae = {e.dataset for e in entries if e.is_vae}
    for name in available:
        if name in with_vae:
            return name
    candidates = datasets_with_checkpoints(entries)
    return candidates[0] if candidates else None


def resolve_entry(ref: str, roots: list[Path] | None = None) -> CheckpointEntry:
    """The checkpoint named by a root-relative id such as ``fashion-mnist/vae-16d`` (as kept in
    a URL), from the first root that has it.

    Raises CheckpointError with a message fit for the page for an id that is absolute, holds
    ``..`` or a hidden part, leads outside its root through a symlink, or names no checkpoint."""
    roots = roots if roots is not None else checkpoint_roots()
    for root in roots:
        path = resolve_ref(ref, root)  # refuses bad ids and symlink escapes, whatever the root
        if is_checkpoint_dir(path):
            return describe(path)
    raise CheckpointError(f"there is no checkpoint {ref!r} in " + ", ".join(str(r) for r in roots))


def entry_ref(entry: CheckpointEntry | Path, roots: list[Path] | None = None) -> str | None:
    """The root-relative id of a checkpoint (the inverse of resolve_entry), or None if it lies
    in no root."""
    path = entry.path if isinstance(entry, CheckpointEntry) else Path(entry)
    for root in roots if roots is not None else checkpoint_roots():
        if is_inside(path, root):
            try:
                return path.relative_to(root).as_posix()
            except ValueError:
                return path.resolve().relative_to(root.resolve()).as_posix()
    return None


def beta_pair(entries: list[CheckpointEntry], betas: list[float | None]) -> tuple[int, int]:
    """The two checkpoints Compare opens on: the same kind and latent size at the lowest and the
    highest beta when there are such (posterior collapse side by side), else the first two."""
    groups: dict[tuple, list[int]] = {}
    for i, (e, beta) in enumerate(zip(entries, betas)):
        if beta is not None:
            groups.setdefault((e.kind, e.latent_dim), []).append(i)
    for members in groups.values():
        low, high = min(members, key=lambda i: betas[i]), max(members, key=lambda i: betas[i])
        if betas[low] != betas[high]:
            return low, high
    return 0, 1
