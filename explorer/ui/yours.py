"""The person's own image (drawn or uploaded on the "Your image" page), shared with the other
pages: Interpolate can start from it, Traverse can move around it.

It is kept in the session as the preprocessed image, for one dataset; its code is computed
by whichever VAE is loaded, so it follows the sidebar's checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from explorer.core import diskcache
from explorer.ui import cache
from explorer.ui.state import Context

KEY = "your_image"
YOURS = -1  # stands for "your image" where the pages otherwise hold a test-set index


@dataclass(frozen=True)
class Yours:
    dataset: str
    image: np.ndarray   # float32 (C, S, S) in [0, 1], framed like the dataset's images
    source: str         # "your drawing", or "your upload <name>"
    digest: str         # identity of the pixels, for caches

    def fits(self, ctx: Context) -> bool:
        return self.dataset == ctx.dataset and self.image.shape == ctx.data.images.shape[1:]


def store(dataset: str, image: np.ndarray, source: str) -> Yours:
    image = np.ascontiguousarray(image, dtype=np.float32)
    mine = Yours(dataset, image, source, diskcache.key(image))
    st.session_state[KEY] = mine
    return mine


def forget() -> None:
    st.session_state.pop(KEY, None)


def get(ctx: Context) -> Yours | None:
    """The stored image when it belongs to the loaded dataset, else None."""
    mine = st.session_state.get(KEY)
    return mine if isinstance(mine, Yours) and mine.fits(ctx) else None


def condition(ctx: Context, mine: Yours) -> int | None:
    """A cvae encodes and decodes with a class: the classifier's label for the image (class 0 without one)."""
    if not ctx.conditional:
        return None
    pred, _ = cache.predictions(ctx, mine.image[None])
    return int(pred[0]) if pred is not None else 0


def code(ctx: Context, mine: Yours | None = None) -> np.ndarray | None:
    """The posterior mean of the image under the loaded VAE, (D,), or None without an image."""
    mine = mine or get(ctx)
    if mine is None:
        return None
    return cache.image_code(ctx, (ctx.vae_key, ctx.classifier_key, mine.digest), mine.image, condition(ctx, mine))
