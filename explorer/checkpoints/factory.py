"""A PyTorch model by explicit trust: the user names a factory, ``package.module:function``, and
only what the user names is ever imported. Nothing found in a model folder is imported.

Where the name comes from: ``EXPLORER_FACTORY`` (several joined with commas) for the app and the
CLI, or ``--checkpoint factory:package.module:function`` on the command line. The function is
called with no arguments, on a thread with a deadline (LOAD_TIMEOUT_S), and must return an
object with this protocol (torch tensors in, torch tensors out):

    encode(x[, y]) -> (mu, logvar)       x: (N, C, H, W) in value_range; y: int64 (N,) for a cvae
    decode(z[, y]) -> (N, C, H, W)       logits, or probabilities if decoder_output says so
    classify(x) -> (N, K) logits         optional: makes it a hybrid
    dataset: str                         the registry dataset it was trained on (digits, ...)
    latent_dim: int
    conditional: bool = False            encode and decode take y
    decoder_output: str = "logits"       or "probabilities"
    value_range: (float, float) = (0, 1)

Each factory gets a folder in the cache dir holding only the model.json written from those
attributes, so it is listed and cached like any other checkpoint.
"""
from __future__ import annotations

import importlib
import os
import re
import threading
from pathlib import Path

import numpy as np

from explorer.checkpoints.external import (
    EXTERNAL_FILE, ExternalModelError, ExternalSpec, read_spec, spec_to_json,
)
from explorer.core.atomic import write_json
from explorer.core.paths import cache_dir

FACTORY_ENV = "EXPLORER_FACTORY"
CLI_PREFIX = "factory:"
LOAD_TIMEOUT_S = 120.0  # a factory that trains or downloads on load should not; this bounds a hung one
SPEC_RE = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*")

_loaded: dict[str, object] = {}  # factory name -> its model: a named factory runs once per process
_failed: dict[str, Exception] = {}  # factory name -> why it could not be loaded
_lock = threading.Lock()


class FactoryError(ExternalModelError):
    """A named factory that cannot be imported, raises, hangs, or returns the wrong thing."""


def named_factories() -> tuple[str, ...]:
    """The factories the user named in EXPLORER_FACTORY."""
    return tuple(s.strip() for s in os.environ.get(FACTORY_ENV, "").split(",") if s.strip())


def check_name(name: str) -> str:
    if not SPEC_RE.fullmatch(name):
        raise FactoryError(f"{name!r} is not a factory name; write package.module:function, e.g. "
                           f"mymodels.vae:load (set in {FACTORY_ENV} or --checkpoint factory:...)")
    return name


def load(name: str, timeout_s: float = LOAD_TIMEOUT_S) -> object:
    """The model the factory `name` returns, checked against the protocol; called once per process
    (a restart picks up a changed factory)."""
    check_name(name)
    with _lock:
        if name in _failed:  # once per process, failures too: Python keeps the module it imported,
            raise _failed[name]  # and a hung factory is not started again on every sidebar scan
        if name not in _loaded:
            try:
                _loaded[name] = _check_protocol(name, _call(name, timeout_s))
            except FactoryError as e:
                _failed[name] = e
                raise
        return _loaded[name]


def _call(name: str, timeout_s: float) -> object:
    module_name, func_name = name.split(":")
    result: dict[str, object] = {}

    def run() -> None:
        try:
            module = importlib.import_module(module_name)
            result["value"] = getattr(module, func_name)()
        except BaseException as e:  # the user's code may raise anything; it is reported, not re-raised here
            result["error"] = e

    thread = threading.Thread(target=run, name=f"factory {name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise FactoryError(f"the factory {name} did not return within {timeout_s:g} s, so it was given up on "
                           "(its thread is left to finish in the background); make it load without training "
                           "or downloading")
    error = result.get("error")
    if isinstance(error, (ImportError, AttributeError)) and "value" not in result:
        raise FactoryError(f"the factory {name} cannot be imported ({type(error).__name__}: {error}); check the "
                           "name and that its package is on PYTHONPATH") from error
    if error is not None:
        raise FactoryError(f"the factory {name} raised {type(error).__name__}: {error}") from error
    return result["value"]


def _check_protocol(name: str, model: object) -> object:
    from explorer.data import DATASETS

    missing = [m for m in ("encode", "decode") if not callable(getattr(model, m, None))]
    if missing:
        raise FactoryError(f"the factory {name} returned a {type(model).__name__}, which has no "
                           f"{' or '.join(missing)} method; it must return an object with encode(x) -> (mu, logvar) "
                           "and decode(z) -> images (see docs/your-own-model.md)")
    dataset, latent = getattr(model, "dataset", None), getattr(model, "latent_dim", None)
    if dataset not in DATASETS:
        raise FactoryError(f"the factory {name}'s model has dataset {dataset!r}; set its `dataset` attribute to one "
                           f"of {', '.join(DATASETS)}")
    if not isinstance(latent, int) or isinstance(latent, bool) or latent < 1:
        raise FactoryError(f"the factory {name}'s model has latent_dim {latent!r}; set it to the code's size")
    return model


def spec_for(name: str, model: object) -> ExternalSpec:
    """model.json's description of a factory's model, from its attributes and its dataset."""
    from explorer.data import get_spec

    data = get_spec(getattr(model, "dataset"))
    conditional = bool(getattr(model, "conditional", False))
    kind = "cvae" if conditional else "hybrid" if callable(getattr(model, "classify", None)) else "vae"
    low, high = getattr(model, "value_range", (0.0, 1.0))
    return ExternalSpec(path=folder_for(name), source="factory", kind=kind, dataset=data.name,
                        class_names=tuple(data.class_names), image_shape=tuple(data.image_shape),
                        value_range=(float(low), float(high)), latent_dim=int(getattr(model, "latent_dim")),
                        decoder_output=str(getattr(model, "decoder_output", "logits")), factory=name)


def folder_for(name: str) -> Path:
    return cache_dir() / "factories" / re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def factory_folder(name: str) -> Path:
    """The folder that stands for the factory `name` (loading it, once, to describe it)."""
    spec = spec_for(name, load(name))
    content = spec_to_json(spec)
    file = spec.path / EXTERNAL_FILE
    try:
        same = file.is_file() and spec_to_json(read_spec(spec.path)) == content
    except ExternalModelError:
        same = False
    if not same:  # rewritten only when it changes: its time is part of the checkpoint's cache key
        spec.path.mkdir(parents=True, exist_ok=True)
        write_json(file, content)
        read_spec(spec.path)  # what was written must read back (an absurd latent_dim is refused here)
    return spec.path


class TorchBackend:
    """A factory's model run on numpy arrays, under torch.no_grad."""

    def __init__(self, name: str, model: object):
        self.model, self.name = model, name

    def where(self, role: str) -> str:
        return f"the PyTorch factory {self.name}"

    def _call(self, verb: str, *args):
        import torch

        tensors = [torch.from_numpy(a) for a in args if a is not None]
        try:
            with torch.no_grad():
                out = getattr(self.model, verb)(*tensors)
        except Exception as e:  # the user's code: reported with the factory's name
            raise FactoryError(f"{self.where(verb)}: {verb} raised {type(e).__name__}: {e}") from e
        return _numpy(out)

    def encode(self, images: np.ndarray, labels: np.ndarray | None):
        out = self._call("encode", images, labels)
        if not isinstance(out, tuple) or len(out) != 2:
            raise FactoryError(f"{self.where('encode')}: encode must return (mu, logvar), got {type(out).__name__}")
        return out

    def decode(self, codes: np.ndarray, labels: np.ndarray | None):
        return self._call("decode", codes, labels)

    def classify(self, images: np.ndarray):
        return self._call("classify", images)


def _numpy(out):
    if isinstance(out, (tuple, list)):
        return tuple(_numpy(o) for o in out)
    detach = getattr(out, "detach", None)
    return detach().float().cpu().numpy() if detach is not None else out


def backend_for(spec: ExternalSpec, factories: tuple[str, ...] | None = None) -> TorchBackend:
    """The backend of a factory folder, only for a factory the user named (here, in EXPLORER_FACTORY
    or on the command line): the folder's model.json never makes the app import anything."""
    named = factories if factories is not None else named_factories()
    with _lock:
        loaded = spec.factory in _loaded
    if not loaded and spec.factory not in named:
        raise FactoryError(f"{spec.file} names the factory {spec.factory}, which you have not named; the app imports "
                           f"only code you name: set {FACTORY_ENV}={spec.factory} to trust it")
    return TorchBackend(spec.factory, load(spec.factory))
