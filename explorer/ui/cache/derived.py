"""What a rerun can reuse: codes, decoded and classified images, per checkpoint.

A page's full run redraws everything; most of it depends only on the checkpoints and the
page's settings, not on the session. These functions are cached across reruns and sessions
(`st.cache_data`) with keys holding everything their answer depends on: the checkpoints'
keys (path and file times), the codes or images themselves (hashed by Streamlit), and the
settings. A session never sees another's state through them, only the same answer to the
same question. An argument named `_ctx` (or `_model`) is left out of the key; the `key`
argument next to it names what it holds.

Not cached on purpose: the single image a slider decodes on every move (pages decode it
with `Context.decode`), so that a slider move is measured as what it costs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from explorer.core import kinds
from explorer.ui.cache.models import checkpoint

if TYPE_CHECKING:
    from explorer.ui.state import Context


@dataclass(frozen=True)
class Decoded:
    """Decoded images (M, C, H, W) with the classifier's predictions (M,) and probabilities (M, K)
    (both None without a classifier)."""

    images: np.ndarray
    pred: np.ndarray | None
    proba: np.ndarray | None


@dataclass(frozen=True)
class Dims:
    """How the VAE uses its latent dimensions over the test set."""

    kl: np.ndarray      # (D,) mean KL to the prior per dimension, nats
    order: np.ndarray   # (D,) dimensions from the most to the least active
    spans: np.ndarray   # (D, 2) each dimension's mean -/+ 3 std over the test codes (latent.traversal_spans)


def dims(ctx: Context) -> Dims:
    """The loaded VAE's Dims, computed once per checkpoint and dataset."""
    return Dims(*_dims(ctx, (ctx.vae_key, ctx.dataset)))


@st.cache_data(show_spinner=False, max_entries=16)
def _dims(_ctx: Context, key: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from explorer.analysis import latent

    return (latent.kl_per_dim(_ctx.mu, _ctx.logvar), latent.active_order(_ctx.mu, _ctx.logvar),
            latent.traversal_spans(_ctx.mu, span=3.0))


def codes64(ctx: Context) -> np.ndarray:
    """The test codes ctx.mu as float64, made once per checkpoint and shared (read only): what
    projection.place() works in, so a slider move need not convert 10,000 codes each time."""
    return _codes64(ctx, (ctx.vae_key, ctx.dataset))


@st.cache_resource(show_spinner=False, max_entries=8)
def _codes64(_ctx: Context, key: tuple) -> np.ndarray:
    out = np.asarray(_ctx.mu, dtype=np.float64).copy()
    out.setflags(write=False)
    return out


def class_means(ctx: Context) -> np.ndarray:
    """Each class's mean test code (K, D), once per checkpoint and dataset."""
    return _class_means(ctx, (ctx.vae_key, ctx.dataset))


@st.cache_data(show_spinner=False, max_entries=16)
def _class_means(_ctx: Context, key: tuple) -> np.ndarray:
    from explorer.analysis import latent

    return latent.class_means(_ctx.mu, _ctx.data.labels, _ctx.num_classes)


def _label_key(label) -> int | tuple[int, ...] | None:
    if label is None:
        return None
    a = np.asarray(label, dtype=np.int64)
    return int(a) if a.ndim == 0 else tuple(int(v) for v in a)


def decoded(ctx: Context, z: np.ndarray, label=None) -> Decoded:
    """Decode codes (M, D) (a cvae with `label`: one int or M) and classify the images; cached
    by the checkpoints' keys, the codes and the label."""
    z = np.ascontiguousarray(z, dtype=np.float32)
    classifier = str(ctx.classifier_path) if ctx.classifier_path is not None else ""
    label = _label_key(kinds.condition(ctx.vae.kind, label))
    images, pred, proba = _decoded(str(ctx.vae.path), ctx.vae_key, classifier, ctx.classifier_key, z, label)
    return Decoded(images, pred, proba)


@st.cache_data(show_spinner=False, max_entries=256)
def _decoded(vae_path: str, vae_key: str, classifier_path: str, classifier_key: str, z: np.ndarray, label):
    from explorer.analysis import latent

    model = checkpoint(Path(vae_path)).model
    labels = None if label is None else np.asarray(label, dtype=np.int64)
    images = latent.decode(model, z, labels)
    pred = proba = None
    if classifier_path and len(images):
        pred, proba = latent.classify(checkpoint(Path(classifier_path)).model, images)
    return images, pred, proba


def predictions(ctx: Context, images: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The context's classifier's predictions and probabilities for these images (None, None
    without one); cached by the classifier's key and the images."""
    if ctx.classifier_path is None or len(images) == 0:
        return None, None
    return classified(ctx.classifier_path, ctx.classifier_key, images)


def classified(path: Path, key: str, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """latent.classify by the classifier (or hybrid head) of the checkpoint at `path` (its
    checkpoint_key `key`); cached by the key and the images."""
    return _classified(str(path), key, np.ascontiguousarray(images, dtype=np.float32))


@st.cache_data(show_spinner=False, max_entries=256)
def _classified(path: str, key: str, images: np.ndarray):
    from explorer.analysis import latent

    return latent.classify(checkpoint(Path(path)).model, images)


def explanation(ctx: Context, i: int, seed: int):
    """teach.explain for test image i with noise `seed` (a cvae is given its true class),
    once per checkpoint, dataset, image and seed."""
    return _explanation(ctx, (ctx.vae_key, ctx.dataset), int(i), int(seed))


@st.cache_data(show_spinner=False, max_entries=64)
def _explanation(_ctx: Context, key: tuple, i: int, seed: int):
    from explorer.analysis import teach

    label = kinds.condition(_ctx.vae.kind, int(_ctx.data.labels[i]))
    return teach.explain(_ctx.model, _ctx.data.images[i], label, seed=seed)


@st.cache_data(show_spinner=False, max_entries=32)
def image_code(_ctx: Context, key: tuple, image: np.ndarray, label: int | None) -> np.ndarray:
    """The posterior mean (D,) of one image (1, S, S) under the loaded VAE; `key` names the VAE,
    the classifier (which gives a cvae its label) and the image."""
    from explorer.analysis import latent  # torch: only once an image of yours is encoded
    mu, _ = latent.encode(_ctx.model, image[None], None if label is None else np.array([label]))
    return mu[0]


@st.cache_data(show_spinner=False, max_entries=32)
def path_predictions(_ctx: Context, key: tuple, a: int, b: int, method: str, label: int | None,
                     _z: np.ndarray) -> np.ndarray | None:
    """The classifier's label for each code along the path `_z` (F, D) from endpoint `a` to `b`
    by `method`: `key` names the VAE, the classifier and your image (endpoint -1)."""
    pred, _ = _ctx.classify(_ctx.decode(_z, label))
    return pred


@st.cache_data(show_spinner=False, max_entries=8)
def prior_samples(_ctx: Context, key: tuple, cvae: str, cvae_key: str) -> tuple[np.ndarray, np.ndarray | None]:
    """One sample of every class from the cvae at `cvae` (one of the loaded VAE's prior samples
    without one), and the classifier's labels for them."""
    from explorer.analysis import latent

    if cvae:
        images, _ = latent.sample_prior(checkpoint(Path(cvae)).model, _ctx.num_classes,
                                        label=np.arange(_ctx.num_classes), seed=1)
    else:
        images, _ = latent.sample_prior(_ctx.model, _ctx.num_classes, seed=1)
    return images, _ctx.classify(images)[0]


def factor_scores(ctx: Context):
    """How much each latent dimension tells about each true factor, and the MIG (an
    analysis.factors.FactorScores), from the test codes; None when the dataset's factors are unknown."""
    if ctx.data.factors is None or len(ctx.data.factors) != len(ctx.mu):
        return None
    return _factor_scores(ctx, (ctx.vae_key, ctx.dataset))


@st.cache_data(show_spinner=False, max_entries=16)
def _factor_scores(_ctx: Context, key: tuple):
    from explorer.analysis.factors import factor_scores as scores

    return scores(_ctx.mu, _ctx.data.factors, _ctx.data.spec.factor_names)


def shared(name: str, key: tuple, build: Callable[[], Any]) -> Any:
    """What `build()` returns (arrays worked out from a session's context), made once per
    (name, key) and shared between reruns and sessions; `key` holds everything it depends on,
    and callers never change what they get."""
    return _shared(name, key, build)


@st.cache_resource(show_spinner=False, max_entries=32)
def _shared(name: str, key: tuple, _build: Callable[[], Any]) -> Any:
    return _build()
