"""The checkpoint format: save and load a checkpoint directory (explorer/checkpoints/layout.py),
loaded without ever unpickling.

Saving writes everything into a temporary sibling directory and renames it into place
(explorer/checkpoints/recovery.py), so an interrupted save leaves either the old checkpoint
or the new one, never a mix. Loading checks every tensor's name, shape and dtype against
the model the config describes, from the safetensors header, before reading any.
"""
from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from explorer.checkpoints.external import is_external_dir
from explorer.checkpoints.layout import (
    CARD_FILE, CONFIG_FILE, FORMAT, METRICS_FILE, OPTIMIZER_FILE, WEIGHTS_FILE, CheckpointError,
)
from explorer.checkpoints.paths import check_members
from explorer.checkpoints.recovery import recover_interrupted, replacing_dir
from explorer.core.atomic import write_json, write_text
from explorer.core.config import ConfigError, ModelConfig, TrainConfig
from explorer.core.finite import non_finite_count
from explorer.core.jsonfile import read_json
from explorer.core.limits import check_declared
from explorer.core.state import TrainState

if TYPE_CHECKING:  # torch is imported where weights are read or written: listing and
    import torch   # describing checkpoints (the app's sidebar) does not need it
    from torch import nn

MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_PARAMETERS = 50_000_000
FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}  # safetensors' names


def save_file(tensors: dict, filename, *args, **kwargs) -> None:
    """safetensors.torch.save_file, imported on first use (it imports torch)."""
    from safetensors.torch import save_file as _save_file
    _save_file(tensors, filename, *args, **kwargs)


@dataclass
class Checkpoint:
    """A loaded checkpoint: its configs, dataset, training state and figures, and the model if asked for."""

    path: Path
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    dataset: str
    state: TrainState
    model: nn.Module | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)   # e.g. the reference figures for the card
    origin: str = ""  # "" for ours; "ONNX folder /path" or "PyTorch factory pkg.mod:fn" (checkpoints/adapter.py)

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
    with replacing_dir(path) as tmp:
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
        write_json(tmp / CONFIG_FILE, config, fsync=False)  # replacing_dir fsyncs the whole directory
        if metrics is not None:
            write_json(tmp / METRICS_FILE, metrics, fsync=False)
        ckpt = Checkpoint(path=path, model_cfg=model_cfg, train_cfg=train_cfg, dataset=dataset, state=state,
                          metrics=metrics or {}, extra=extra or {})
        from explorer.checkpoints.card import model_card
        write_text(tmp / CARD_FILE, model_card(ckpt), fsync=False)
    return path


def write_metrics(path: str | os.PathLike, metrics: dict) -> None:
    """Replace a checkpoint's metrics.json (atomically) and refresh its model card."""
    path = Path(path)
    write_json(path / METRICS_FILE, metrics)
    ckpt = load_checkpoint(path, with_model=False)
    from explorer.checkpoints.card import model_card
    write_text(path / CARD_FILE, model_card(ckpt))


# ---------------------------------------------------------------- loading

def read_config(path: Path) -> dict[str, Any]:
    """A checkpoint's config.json, checked to be ours and of sane size; nothing else is read."""
    cfg_path = path / CONFIG_FILE
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a checkpoint: it is not a directory")
    check_members(path)
    if not cfg_path.is_file():
        raise CheckpointError(f"{path} is not a checkpoint: it has no {CONFIG_FILE}")
    raw = read_json(cfg_path, what="a checkpoint config", max_bytes=MAX_CONFIG_BYTES, error=CheckpointError)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_path} is not a Latent Explorer checkpoint config (expected format {FORMAT!r})")
    return raw


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu", with_model: bool = True,
                    with_optimizer: bool = False) -> Checkpoint:
    """Load a checkpoint directory. The model comes from the registry and config.json, the
    weights from safetensors; nothing is unpickled. Raises CheckpointError on any mismatch.

    A folder with a model.json instead is an external model (an ONNX folder or a named PyTorch
    factory, checkpoints/adapter.py), loaded into the same Checkpoint."""
    path = Path(path)
    if is_external_dir(path):
        from explorer.checkpoints.adapter import load_external
        return load_external(path, with_model=with_model)
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
    extra, history = raw.get("extra", {}) or {}, raw.get("history", []) or []
    if not isinstance(extra, dict) or not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise CheckpointError(f"{cfg_path}: 'extra' must be a JSON object and 'history' a list of objects")
    s = raw.get("state", {}) or {}
    try:
        state = TrainState(epoch=int(s.get("epoch", 0)), step=int(s.get("step", 0)), status=str(s.get("status", "")),
                           message=str(s.get("message", "")), history=list(history))
    except (AttributeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{cfg_path}: bad training state or history ({e})") from e
    ckpt = Checkpoint(path=path, model_cfg=model_cfg, train_cfg=train_cfg, dataset=str(raw.get("dataset", "")),
                      state=state, metrics=read_metrics(path), extra=extra)
    if with_model:
        import torch

        ckpt.model = _load_model(path, model_cfg, torch.device(device))
    if with_optimizer:
        ckpt.extra["optimizer_state"] = _load_optimizer(path, raw)
    return ckpt


def read_metrics(path: Path) -> dict[str, Any]:
    """A checkpoint's metrics.json; figures that cannot be read are figures not there (`evaluate`
    writes them again)."""
    if not (path / METRICS_FILE).is_file():
        return {}
    try:
        metrics = read_json(path / METRICS_FILE, what="a checkpoint's figures", max_bytes=MAX_CONFIG_BYTES,
                            error=CheckpointError)
    except CheckpointError:
        return {}
    return metrics if isinstance(metrics, dict) else {}


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
        _check_finite(weights_path, weights, "the model it describes would draw NaN images; retrain it or "
                                             "load another checkpoint")
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
            declared = sum(math.prod(f.get_slice(k).get_shape()) * _itemsize(f.get_slice(k).get_dtype())
                           for k in f.keys())
            check_declared(declared, opt_path.stat().st_size, str(opt_path), error=CheckpointError)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        _check_finite(opt_path, tensors, "resuming from it would train on NaN; train a new run instead")
        return _unflatten_optimizer(tensors, raw["optimizer"])
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{opt_path} could not be read ({e}); resume is not possible from it") from e


def _check_finite(file: Path, tensors: dict, what_to_do: str) -> None:
    """CheckpointError naming `file` and its tensors that hold NaN or infinity."""
    bad = sorted(k for k, t in tensors.items() if non_finite_count(t))
    if bad:
        raise CheckpointError(f"{file}: tensor{'s' if len(bad) > 1 else ''} {_few(bad)} hold NaN or infinite "
                              f"values; {what_to_do}")


def _itemsize(dtype: str) -> int:
    """Bytes per element of a safetensors dtype name (F32, BF16, I64, BOOL, F8_E4M3, ...)."""
    digits = "".join(ch for ch in dtype.split("_")[0] if ch.isdigit())
    return max(1, int(digits) // 8) if digits else 1


def _few(items: list[str], n: int = 4) -> str:
    if not items:
        return "none"
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")
