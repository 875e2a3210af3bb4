"""The one table of model kinds: what each is called, and the rules that follow from it.

A new kind is a new row here and a class in explorer/models' registry; every page, the
model card, the catalogue and the CLI read what they need from this table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar


@dataclass(frozen=True)
class Kind:
    """One model kind."""

    name: str            # as written in configs, checkpoint names and --kind
    title: str           # the model card's title
    label: str           # the sidebar's caption
    choice: str          # the Train page's choice of model
    is_vae: bool         # has an encoder, a latent space and a decoder
    conditional: bool    # encoder and decoder also take the class label
    classifies: bool     # labels images itself (a classifier, or a VAE with a classifier head)
    rank: int            # which VAE a first-time viewer sees first (lowest); 9 for the rest
    # --lambda when not given (the hybrid's head weight; the cvae's class-consistency weight,
    # off by default); None: the kind has no lambda
    default_lambda: float | None = None


KINDS: dict[str, Kind] = {k.name: k for k in (
    # A plain VAE's map clusters by class, a hybrid's even more so; a cvae's latent space
    # holds style, not class: so vae, hybrid, cvae is the order a first-time viewer sees.
    Kind("vae", "Variational autoencoder", "Plain VAE", "vae: plain VAE",
         is_vae=True, conditional=False, classifies=False, rank=0),
    Kind("cvae", "Conditional variational autoencoder", "Conditional VAE", "cvae: conditioned on the class",
         is_vae=True, conditional=True, classifies=False, rank=2, default_lambda=0.0),
    Kind("hybrid", "Hybrid VAE with a classifier head", "Hybrid VAE + classifier head",
         "hybrid: VAE + classifier head", is_vae=True, conditional=False, classifies=True, rank=1,
         default_lambda=10.0),
    Kind("classifier", "CNN classifier", "CNN classifier", "classifier: the CNN that judges images",
         is_vae=False, conditional=False, classifies=True, rank=9),
)}
MODEL_KINDS: tuple[str, ...] = tuple(KINDS)
VAE_KINDS: tuple[str, ...] = tuple(name for name, k in KINDS.items() if k.is_vae)
CLASSIFYING_KINDS: tuple[str, ...] = tuple(name for name, k in KINDS.items() if k.classifies)

T = TypeVar("T")


def kind_name(x: Any) -> str | None:
    """The kind of `x`: a kind's name itself, or the `kind` of a config, checkpoint or catalogue
    entry, or the config kind of a model (`model.cfg.kind`); None when it has none."""
    if isinstance(x, str):
        return x
    kind = getattr(x, "kind", None)
    if kind is None:
        kind = getattr(getattr(x, "cfg", None), "kind", None)
    return kind if isinstance(kind, str) else None


def is_conditional(x: Any) -> bool:
    """Whether `x` (a kind, config, checkpoint, entry or model) is a conditional model. A model
    of no known kind (e.g. the reference MLP) answers by its own `conditional` attribute."""
    name = kind_name(x)
    if name in KINDS:
        return KINDS[name].conditional
    return bool(getattr(x, "conditional", False)) if not isinstance(x, str) else False


def condition(x: Any, labels: T) -> T | None:
    """`labels` for a conditional model, None for any other: what its encoder and decoder take."""
    return labels if is_conditional(x) else None


def title(name: str) -> str:
    """The kind's title (the name itself for an unknown kind)."""
    return KINDS[name].title if name in KINDS else name


def label(name: str) -> str:
    """The kind's short label (the name itself for an unknown kind)."""
    return KINDS[name].label if name in KINDS else name


def rank(name: str) -> int:
    """Where the kind comes in the order shown to a first-time viewer (9 for an unknown kind)."""
    return KINDS[name].rank if name in KINDS else 9
