"""Checkpoints: a directory that describes itself, loaded without ever unpickling.

    <dir>/config.json          kind, model and training config, dataset, state, history, versions
    <dir>/model.safetensors    the weights
    <dir>/optimizer.safetensors  optimiser state for resuming (optional)
    <dir>/metrics.json         test-set figures written by `evaluate` (optional)
    <dir>/README.md            the model card
    <dir>/projections/         cached 2-D maps (optional)

Saving writes everything into a temporary sibling directory and renames it into place,
so an interrupted save leaves either the old checkpoint or the new one, never a mix.
"""
from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from explorer.core.atomic import json_safe, write_json, write_text
from explorer.core.config import ConfigError, ModelConfig, TrainConfig
from explorer.core.state import TrainState

if TYPE_CHECKING:  # torch is imported where weights are read or written: listing and
    import torch   # describing checkpoints (the app's sidebar) does not need it
    from torch import nn


def save_file(tensors: dict, filename, *args, **kwargs) -> None:
    """safetensors.torch.save_file, imported on first use (it imports torch)."""
    from safetensors.torch import save_file as _save_file
    _save_file(tensors, filename, *args, **kwargs)


def load_file(filename, *args, **kwargs) -> dict:
    """safetensors.torch.load_file, imported on first use (it imports torch)."""
    from safetensors.torch import load_file as _load_file
    return _load_file(filename, *args, **kwargs)

FORMAT = "latent-explorer/1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_PARAMETERS = 50_000_000
FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}  # safetensors' names


class CheckpointError(Exception):
    """A directory that is not a loadable checkpoint; the message names the file and the problem."""


@dataclass
class Checkpoint:
    path: Path
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    dataset: str
    state: TrainState
    model: nn.Module | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)   # e.g. the reference figures for the card

    @property
    def kind(self) -> str:
        return self.model_cfg.kind

    @property
    def name(self) -> str:
        return self.path.name


# ---------------------------------------------------------------- saving

def _versions() -> dict[str, str]:
    import numpy
    import safetensors
    import torch

    from explorer import __version__
    return {"latent_explorer": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version()}


def _flatten_optimizer(opt_state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimiser state dict into tensors (for safetensors) and plain JSON."""
    import torch

    tensors: dict[str, torch.Tensor] = {}
    meta_state: dict[str, dict] = {}
    for pid, pstate in opt_state["state"].items():
        meta_state[str(pid)] = {}
        for k, v in pstate.items():
            if torch.is_tensor(v):
                tensors[f"state.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                meta_state[str(pid)][k] = v
    return tensors, {"param_groups": opt_state["param_groups"], "scalars": meta_state}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {int(pid): dict(v) for pid, v in meta.get("scalars", {}).items()}
    for key, t in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = t
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    dataset: str,
    state: TrainState,
    optimizer: torch.optim.Optimizer | None = None,
    metrics: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write a checkpoint directory atomically; an existing one at `path` is replaced whole,
    cached maps included (new weights, new maps)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a checkpoint is for everyone who runs the app
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, tmp / WEIGHTS_FILE)
        config: dict[str, Any] = {
            "format": FORMAT,
            "kind": model_cfg.kind,
            "dataset": dataset,
            "model": model_cfg.to_dict(),
            "train": train_cfg.to_dict(),
            "state": {"epoch": state.epoch, "step": state.step, "status": state.status, "message": state.message},
            "history": state.history,
            "versions": _versions(),
            "saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "extra": extra or {},
        }
        if optimizer is not None:
            opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
            save_file(opt_tensors, tmp / OPTIMIZER_FILE)
            config["optimizer"] = opt_meta
        _write_json(tmp / CONFIG_FILE, config)
        if metrics is not None:
            _write_json(tmp / METRICS_FILE, metrics)
        ckpt = Checkpoint(path=path, model_cfg=model_cfg, train_cfg=train_cfg, dataset=dataset, state=state,
                          metrics=metrics or {}, extra=extra or {})
        from explorer.checkpoints.card import model_card
        (tmp / CARD_FILE).write_text(model_card(ckpt), encoding="utf-8")
        _fsync_dir(tmp)
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def write_metrics(path: str | os.PathLike, metrics: dict) -> None:
    """Replace a checkpoint's metrics.json (atomically) and refresh its model card."""
    path = Path(path)
    write_json(path / METRICS_FILE, metrics)
    ckpt = load_checkpoint(path, with_model=False)
    from explorer.checkpoints.card import model_card
    write_text(path / CARD_FILE, model_card(ckpt))


def _write_json(p: Path, obj: Any) -> None:
    p.write_text(json.dumps(json_safe(obj), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _fsync_dir(d: Path) -> None:
    for p in d.iterdir():
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())


def _swap_into_place(tmp: Path, path: Path) -> None:
    """Rename `tmp` to `path`; an old `path` is moved aside first and removed after."""
    if not path.exists():
        os.rename(tmp, path)
        return
    old = path.parent / f".{path.name}.old-{os.getpid()}-{time.time_ns()}"
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def recover_interrupted(path: Path) -> None:
    """If a save was killed between its two renames, put the old checkpoint back; then remove
    what killed saves left behind (temporary and old copies of processes no longer running)."""
    path = Path(path)
    if not path.exists():
        olds = sorted(path.parent.glob(f".{path.name}.old-*"), key=lambda p: p.stat().st_mtime)
        if olds:
            os.rename(olds[-1], path)
    if path.exists():
        for leftover in [*path.parent.glob(f".{path.name}.tmp-*"), *path.parent.glob(f".{path.name}.old-*")]:
            if not pid_alive(_pid_of(leftover)):
                shutil.rmtree(leftover, ignore_errors=True)


def _pid_of(leftover: Path) -> int | None:
    """The pid in `.<name>.tmp-<pid>-...` or `.<name>.old-<pid>-...`; None for other names."""
    tail = leftover.name.rsplit(".tmp-", 1)[-1] if ".tmp-" in leftover.name else leftover.name.rsplit(".old-", 1)[-1]
    head = tail.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def pid_alive(pid: int | None) -> bool:
    """Whether a process of this pid runs (a zombie, dead but not yet reaped, does not);
    unknown (None) counts as alive, so is left alone."""
    if pid is None or pid == os.getpid():
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- loading

def is_checkpoint_dir(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and (p / CONFIG_FILE).is_file() and (p / WEIGHTS_FILE).is_file()


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


def _check_members(path: Path) -> None:
    """A checkpoint's files must be its own: refuse symlinks that lead out of its directory."""
    for name in (CONFIG_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, METRICS_FILE):
        member = path / name
        if member.is_symlink() and not is_inside(member, path):
            raise CheckpointError(f"{member} is a symlink to {os.path.realpath(member)}, outside the "
                                  "checkpoint directory; refusing to read it")


def read_config(path: Path) -> dict[str, Any]:
    cfg_path = path / CONFIG_FILE
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a checkpoint: it is not a directory")
    _check_members(path)
    if not cfg_path.is_file():
        raise CheckpointError(f"{path} is not a checkpoint: it has no {CONFIG_FILE}")
    size = cfg_path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{cfg_path} is {size} bytes, too large for a checkpoint config")
    try:
        raw = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{cfg_path} is not valid JSON ({e})") from e
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_path} is not a Latent Explorer checkpoint config (expected format {FORMAT!r})")
    return raw


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu", with_model: bool = True,
                    with_optimizer: bool = False) -> Checkpoint:
    """Load a checkpoint directory. The model comes from the registry and config.json, the
    weights from safetensors; nothing is unpickled. Raises CheckpointError on any mismatch."""
    path = Path(path)
    recover_interrupted(path)
    raw = read_config(path)
    cfg_path = path / CONFIG_FILE
    try:
        model_cfg = ModelConfig.from_dict(raw.get("model"))
        train_cfg = TrainConfig.from_dict(raw.get("train", {}))
    except ConfigError as e:
        raise CheckpointError(f"{cfg_path}: {e}") from e
    if raw.get("kind") != model_cfg.kind:
        raise CheckpointError(f"{cfg_path}: kind {raw.get('kind')!r} disagrees with the model config's {model_cfg.kind!r}")
    s = raw.get("state", {}) or {}
    try:
        state = TrainState(epoch=int(s.get("epoch", 0)), step=int(s.get("step", 0)), status=str(s.get("status", "")),
                           message=str(s.get("message", "")), history=list(raw.get("history", []) or []))
    except (AttributeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{cfg_path}: bad training state or history ({e})") from e
    metrics = {}
    if (path / METRICS_FILE).is_file():
        try:
            metrics = json.loads((path / METRICS_FILE).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            metrics = {}
    ckpt = Checkpoint(path=path, model_cfg=model_cfg, train_cfg=train_cfg, dataset=str(raw.get("dataset", "")),
                      state=state, metrics=metrics if isinstance(metrics, dict) else {},
                      extra=raw.get("extra", {}) or {})
    if with_model:
        import torch

        ckpt.model = _load_model(path, model_cfg, torch.device(device))
    if with_optimizer:
        ckpt.extra["optimizer_state"] = _load_optimizer(path, raw)
    return ckpt


def _load_model(path: Path, model_cfg: ModelConfig, device: torch.device) -> nn.Module:
    import torch

    from explorer.models import build_model

    weights_path = path / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"{path} is not a checkpoint: it has no {WEIGHTS_FILE}")
    # Build on the meta device first: costs no memory, so absurd configs are caught cheaply.
    with torch.device("meta"):
        skeleton = build_model(model_cfg)
    n_params = sum(p.numel() for p in skeleton.parameters())
    if n_params > MAX_PARAMETERS:
        raise CheckpointError(f"{path / CONFIG_FILE} describes a model of {n_params:,} parameters, "
                              f"more than the {MAX_PARAMETERS:,} this app will load")
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    # Check names, shapes and dtypes from the header before reading any tensor: a hostile file
    # declaring a huge tensor is refused without allocating it.
    try:
        with safe_open(weights_path, framework="pt", device="cpu") as f:
            header = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}
            missing = sorted(set(expected) - set(header))
            unexpected = sorted(set(header) - set(expected))
            if missing or unexpected:
                raise CheckpointError(f"{weights_path} does not fit {CONFIG_FILE}: "
                                      f"missing {_few(missing)}; unexpected {_few(unexpected)}")
            for k, shape in expected.items():
                if header[k][0] != shape:
                    raise CheckpointError(f"{weights_path} does not fit {CONFIG_FILE}: tensor {k} has shape "
                                          f"{header[k][0]}, the config needs {shape}")
                if not (header[k][1] in FLOAT_DTYPES or k.endswith("num_batches_tracked")):
                    raise CheckpointError(f"{weights_path}: tensor {k} has dtype {header[k][1]}, "
                                          "expected floating point")
            weights = {k: f.get_tensor(k) for k in expected}
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"{weights_path} could not be read as safetensors ({e}); "
                              "it may be truncated, empty or another format (pickles are never loaded)") from e
    model = build_model(model_cfg)
    model.load_state_dict(weights, strict=True)
    return model.to(device).eval()


def _load_optimizer(path: Path, raw: dict) -> dict | None:
    opt_path = path / OPTIMIZER_FILE
    if not opt_path.is_file() or "optimizer" not in raw:
        return None
    try:
        with safe_open(opt_path, framework="pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        return _unflatten_optimizer(tensors, raw["optimizer"])
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"{opt_path} could not be read ({e}); resume is not possible from it") from e


def _few(items: list[str], n: int = 4) -> str:
    if not items:
        return "none"
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Checkpoint directories under `root` (<root>/<dataset>/<name>/ or deeper), sorted.

    Hidden directories (saves in progress) are skipped, and so is anything that a symlink
    leads outside `root`: what is listed is what lies in the folder."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p.parent for p in root.rglob(CONFIG_FILE) if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(p for p in found if (p / WEIGHTS_FILE).is_file() and is_inside(p, root)
                  and is_inside(p / CONFIG_FILE, root) and is_inside(p / WEIGHTS_FILE, root))
