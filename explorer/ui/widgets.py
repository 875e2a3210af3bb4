"""Small pieces every page uses: the error guard, image display sizes, the latent map."""
from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable

import numpy as np
import streamlit as st
from PIL import Image

from explorer import plots, projection

from . import loaders
from .state import Context

log = logging.getLogger("explorer.ui")

PLANE = "plane"  # a 2-D latent shown as itself
METHOD_TITLES = {PLANE: "Latent plane", "identity": "latent plane", "umap": "UMAP", "tsne": "t-SNE", "pca": "PCA"}
SMALL_MAP_POINTS = 3000
MAP_CHOICE = "map_choice"  # (vae_key, method, params) of the Map page's current map


# Less empty space around the page (the top keeps room for the header bar), and image
# captions large enough to read from the back of a room.
_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding: 4rem 2.5rem 2rem 2.5rem; }
[data-testid="stImageCaption"] { font-size: 1.05rem; color: #31333F; }
</style>"""


def style() -> None:
    st.html(_CSS)


def guarded(fn: Callable) -> Callable:
    """Run a page body (or fragment); an unexpected error becomes a short st.error, not a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # Streamlit's stop/rerun are BaseExceptions and pass through
            log.exception("page error")
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            st.error(f"Something went wrong here ({type(e).__name__}: {msg[:300]}). "
                     "The other pages and the sidebar still work.")
    return wrapper


# ---------------------------------------------------------------- images

def show_in(where, image: Image.Image, caption: str | None = None) -> None:
    """st.image as PNG: JPEG would smear the sharp pixels of an upscaled small image."""
    where.image(image, caption=caption, output_format="PNG")


def scale_for(ctx: Context, px: int) -> int:
    """Nearest-neighbour upscale factor that shows an image about `px` pixels wide."""
    return max(1, round(px / ctx.image_side))


def big(ctx: Context, image: np.ndarray, px: int = 224) -> Image.Image:
    """One (C, H, W) image upscaled for a projector."""
    return plots.to_pil(image, scale=scale_for(ctx, px))


def pair(ctx: Context, a: np.ndarray, b: np.ndarray, px: int = 112) -> Image.Image:
    """Two images side by side with a thin white gap (e.g. original | reconstruction)."""
    left, right = big(ctx, a, px), big(ctx, b, px)
    gap = max(2, left.width // 20)
    out = Image.new(left.mode, (left.width * 2 + gap, left.height), 255)
    out.paste(left, (0, 0))
    out.paste(right, (left.width + gap, 0))
    return out


def strip(ctx: Context, images: np.ndarray, captions: list[str] | None, px: int, ncols: int | None = None,
          highlight: list[int] | None = None) -> Image.Image:
    """A grid of images, each captioned, cells in `highlight` marked."""
    return plots.image_grid(images, ncols or len(images), captions=captions, scale=scale_for(ctx, px),
                            highlight=highlight)


# ---------------------------------------------------------------- the map

def map_methods(ctx: Context) -> list[str]:
    """Projection methods on offer; a 2-D latent is first shown as its own plane."""
    methods = list(projection.METHODS)
    return [PLANE, *methods] if ctx.latent_dim == 2 else methods


def map_params_json(method: str, params: dict | None) -> str:
    return json.dumps({} if method == PLANE else (params or {}), sort_keys=True)


def get_map(ctx: Context, method: str, params: dict | None, compute: bool) -> projection.Projection | None:
    """The map of the test set: from memory or disk at once, else computed when `compute`
    (the 2-D plane and PCA are always computed: they cost nothing).

    Raises ProjectionError (or what else projection raises) when computing fails."""
    real = "identity" if method == PLANE else method
    params = {} if method == PLANE else (params or {})
    cache_dir = str(ctx.vae.path / "projections")
    params_json = map_params_json(method, params)
    found = loaders.cached_map(ctx.vae_key, real, params_json, len(ctx.mu), cache_dir)
    if found is not None:
        return found
    if compute or real in ("identity", "pca") or loaders.map_ready(ctx.mu, ctx.vae_key, real, params_json, cache_dir):
        return loaders.computed_map(ctx.mu, ctx.vae_key, real, params_json, cache_dir)
    return None


def quick_map(ctx: Context) -> projection.Projection:
    """A map for the side panels of other pages: the Map page's current choice when it is
    already available, else the 2-D plane or PCA, which cost nothing to compute."""
    wanted = [(map_methods(ctx)[0], None)]
    choice = st.session_state.get(MAP_CHOICE)
    if choice and choice[0] == ctx.vae_key:
        wanted.insert(0, (choice[1], choice[2]))
    for method, params in wanted:
        try:
            found = get_map(ctx, method, params, compute=False)
        except Exception:
            found = None
        if found is not None:
            return found
    return get_map(ctx, PLANE if ctx.latent_dim == 2 else "pca", None, compute=True)


def color_values(ctx: Context, color_by: str) -> np.ndarray:
    """Per-point values for a colouring: class indices, correctness, confidence or error."""
    if color_by == "label":
        return ctx.data.labels
    if color_by == "predicted":
        return ctx.pred
    if color_by == "correct":
        return ctx.pred == ctx.data.labels
    if color_by == "confidence":
        return ctx.proba.max(1)
    if color_by == "recon_error":
        return loaders.recon_errors(str(ctx.vae.path), ctx.vae_key, ctx.dataset)
    raise ValueError(f"unknown colouring {color_by!r}")


def map_figure(ctx: Context, proj: projection.Projection, color_by: str, *, height: int, title: str = "",
               selected=None, path=None, marker=None, backdrop=None, subset: np.ndarray | None = None):
    """The latent map as a plotly figure (WebGL scatter; customdata = test-set index, or the
    index into `subset` when only those test points are drawn)."""
    if ctx.pred is None and color_by in ("predicted", "correct", "confidence"):
        color_by = "label"
    values = color_values(ctx, color_by)
    if subset is not None:
        values = values[subset]
    fig = plots.latent_map(proj.coords, color_by, values, list(ctx.class_names),
                           selected=selected, path=path, marker=marker, title=title, backdrop=backdrop,
                           height=height)
    # Streamlit turns click-to-select off while the drag mode is lasso or box; with zoom a click
    # picks a point, a drag zooms, and the toolbar's lasso and box tools select groups.
    fig.update_layout(dragmode="zoom")
    if proj.method != "identity":  # UMAP and t-SNE axes have no units: fill the space instead
        fig.update_yaxes(scaleanchor=None)
    return fig


def small_map(ctx: Context, key: str, *, marker=None, path=None, selected=None, height: int = 330) -> None:
    """A compact map marking a code or a path; a caption names the projection.

    It redraws on every slider move, so it shows at most SMALL_MAP_POINTS of the test points,
    and a map that only marks a code is built once per session: a move only moves the star."""
    proj = quick_map(ctx)
    if marker is not None and path is None and selected is None:
        fig = _marker_map(ctx, proj, key, height)
        fig.data[-1].update(x=[float(marker[0])], y=[float(marker[1])])  # the star is the last trace
    else:
        fig = _small_figure(ctx, proj, height, marker=marker, path=path, selected=selected)
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})
    how = {"identity": "", "pca": " (projected onto its two axes)"}.get(proj.method, " (placed by its nearest test codes)")
    st.caption(f"Where it is on the {METHOD_TITLES.get(proj.method, proj.method)} map{how}.")


def _small_figure(ctx: Context, proj: projection.Projection, height: int, *, marker=None, path=None, selected=None):
    n = len(proj.coords)
    keep = np.arange(0, n, max(1, -(-n // SMALL_MAP_POINTS)))
    if selected is not None:
        keep = np.union1d(keep, np.asarray(selected, dtype=np.int64))
        selected = np.searchsorted(keep, selected)
    view = projection.Projection(coords=proj.coords[keep], method=proj.method, params=proj.params, key=proj.key,
                                 seconds=proj.seconds, from_cache=proj.from_cache)
    fig = map_figure(ctx, view, "predicted", height=height, marker=marker, path=path, selected=selected, subset=keep)
    fig.update_layout(showlegend=False, margin=dict(l=0, r=0, t=0, b=0))
    # faint points, so the code, the path and the endpoints stand out
    fig.update_traces(marker_opacity=0.3, selector=lambda t: t.type == "scattergl" and t.name != "selected")
    return fig


def _marker_map(ctx: Context, proj: projection.Projection, key: str, height: int):
    """This session's small map with a star, built once per checkpoint, judge and map (building
    a 3,000-point figure takes far longer than a slider move may), as one trace of points:
    Streamlit copies and serialises the whole figure on every move."""
    sig = (ctx.vae_key, ctx.judge_key, proj.method, proj.key, height)
    held = st.session_state.get(f"_fig_{key}")
    if held is None or held[0] != sig:
        n = len(proj.coords)
        keep = np.arange(0, n, max(1, -(-n // SMALL_MAP_POINTS)))
        classes = ctx.pred if ctx.pred is not None else ctx.data.labels
        fig = plots.marker_map(proj.coords[keep], classes[keep], ctx.num_classes, (0.0, 0.0), height=height,
                               equal_axes=proj.method == "identity")
        held = (sig, fig)
        st.session_state[f"_fig_{key}"] = held
    return held[1]
