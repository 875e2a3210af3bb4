"""What a rerun can reuse: decoded and judged images, and the PNG bytes the page shows.

A page's full run redraws everything; most of it depends only on the checkpoints and the
page's settings, not on the session. These functions are cached across reruns and sessions
(`st.cache_data`) with keys holding everything their answer depends on: the checkpoints'
keys (path and file times), the codes or images themselves (hashed by Streamlit), and the
drawing settings. A session never sees another's state through them, only the same answer
to the same question.

Not cached on purpose: the single image a slider decodes on every move (pages decode it
with `Context.decode`), so that a slider move is measured as what it costs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from explorer.figures import export, plots

from explorer.ui import loaders
from explorer.ui.state import Context


@dataclass(frozen=True)
class Judged:
    """Decoded images (M, C, H, W) with the judge's predictions (M,) and probabilities (M, K)
    (both None without a judge)."""

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


def decoded(ctx: Context, z: np.ndarray, label=None) -> Judged:
    """Decode codes (M, D) (a cvae with `label`: one int or M) and judge the images; cached by
    the checkpoints' keys, the codes and the label."""
    z = np.ascontiguousarray(z, dtype=np.float32)
    judge = str(ctx.judge_path) if ctx.judge_path is not None else ""
    label = _label_key(label) if ctx.conditional else None
    images, pred, proba = _decoded(str(ctx.vae.path), ctx.vae_key, judge, ctx.judge_key, z, label)
    return Judged(images, pred, proba)


@st.cache_data(show_spinner=False, max_entries=256)
def _decoded(vae_path: str, vae_key: str, judge_path: str, judge_key: str, z: np.ndarray, label):
    from explorer.analysis import latent

    model = loaders.checkpoint(Path(vae_path)).model
    labels = None if label is None else np.asarray(label, dtype=np.int64)
    images = latent.decode(model, z, labels)
    pred = proba = None
    if judge_path and len(images):
        pred, proba = latent.classify(loaders.checkpoint(Path(judge_path)).model, images)
    return images, pred, proba


def judged(ctx: Context, images: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The judge's predictions and probabilities for these images; cached by the judge's key
    and the images."""
    if ctx.judge_path is None or len(images) == 0:
        return None, None
    return classified(ctx.judge_path, ctx.judge_key, images)


def classified(path: Path, key: str, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """latent.classify by the classifier (or hybrid head) of the checkpoint at `path` (its
    loaders.checkpoint_key `key`); cached by the key and the images."""
    return _classified(str(path), key, np.ascontiguousarray(images, dtype=np.float32))


@st.cache_data(show_spinner=False, max_entries=256)
def _classified(path: str, key: str, images: np.ndarray):
    from explorer.analysis import latent

    return latent.classify(loaders.checkpoint(Path(path)).model, images)


def explanation(ctx: Context, i: int, seed: int):
    """teach.explain for test image i with noise `seed` (a cvae is given its true class),
    once per checkpoint, dataset, image and seed."""
    return _explanation(ctx, (ctx.vae_key, ctx.dataset), int(i), int(seed))


@st.cache_data(show_spinner=False, max_entries=64)
def _explanation(_ctx: Context, key: tuple, i: int, seed: int):
    from explorer.analysis import teach

    label = int(_ctx.data.labels[i]) if _ctx.conditional else None
    return teach.explain(_ctx.model, _ctx.data.images[i], label, seed=seed)


# ---------------------------------------------------------------- figures

def figure(name: str, key: tuple, build: Callable[[], go.Figure]) -> go.Figure:
    """The figure `build()` makes, built once per (name, key) and shared between sessions: a
    plotly figure takes tens of ms to build (its template is copied and validated), and
    st.plotly_chart only reads it. `key` must hold everything the figure shows; callers
    never change the figure they get (copy it with go.Figure(fig) first)."""
    return _figure(name, key, build)


@st.cache_resource(show_spinner=False, max_entries=128)
def _figure(name: str, key: tuple, _build: Callable[[], go.Figure]) -> go.Figure:
    return _build()


# ---------------------------------------------------------------- pictures as PNG bytes

def png_bytes(image: Image.Image) -> bytes:
    """A picture to show as PNG, compressed lightly (it is shown, and cached)."""
    return export.png_bytes(image, fast=True)


@st.cache_data(show_spinner=False, max_entries=512)
def grid_png(images: np.ndarray, ncols: int, captions: tuple[str, ...] | None, scale: int,
             highlight: tuple[int, ...] | None, font_size: int = 14) -> bytes:
    """plots.image_grid as PNG bytes, cached by the images and every drawing setting."""
    return png_bytes(plots.image_grid(images, ncols, captions=captions, scale=scale, highlight=highlight,
                                      font_size=font_size))


@st.cache_data(show_spinner=False, max_entries=512)
def image_png(image: np.ndarray, scale: int) -> bytes:
    """plots.to_pil as PNG bytes, cached by the image and its scale."""
    return png_bytes(plots.to_pil(image, scale=scale))
