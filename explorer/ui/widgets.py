"""Small pieces every page uses: the error guard, image display sizes, the latent map."""
from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from explorer.checkpoints.layout import PROJECTIONS_DIR
from explorer.figures import minimap, plots
from explorer.maps import projection

from explorer.ui import cache, factors, faults, present
from explorer.ui.state import Context

log = logging.getLogger("explorer.ui")



# Sized so the Map, its legend, its controls and the sidebar's boxes fit at 1280x720 (a classroom
# projector): the header bar is see-through and overlaps the top padding instead of adding a
# ~60 px band; the sidebar's page links are tighter; image captions stay large enough to read
# from the back of a room.
_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding: 1.25rem 2rem 1rem 2rem; }
[data-testid="stHeader"] { background: transparent; height: 2.25rem; pointer-events: none; }
[data-testid="stHeader"] [data-testid="stToolbar"] { pointer-events: auto; }
[data-testid="stSidebarHeader"] { height: 2.25rem; margin-bottom: 0; padding-top: 0.5rem; padding-bottom: 0; }
[data-testid="stSidebarNavItems"] { padding-top: 0; }
[data-testid="stSidebarNavItems"] li { margin: 0; }
[data-testid="stSidebarNavItems"] ul { margin-top: 0; margin-bottom: 0; }
[data-testid="stSidebarNavLink"] { min-height: 1.5rem; height: 1.5rem; margin: 0; padding-top: 0;
  padding-bottom: 0; line-height: 1.5rem; }
[data-testid="stNavSectionHeader"] { margin-top: 0.25rem; margin-bottom: 0; min-height: 1.4rem; }
[data-testid="stSidebarNavSeparator"] { margin: 0.2rem 0; padding-top: 0.4rem; }
[data-testid="stSidebarUserContent"] { padding-top: 0.25rem; }
[data-testid="stSidebarUserContent"] [data-testid="stVerticalBlock"] { gap: 0.5rem; }
[data-testid="stImageCaption"] { font-size: 1.05rem; color: #31333F; }
</style>"""


def style() -> None:
    st.html(_CSS)


def guarded(fn: Callable, place: str | None = None) -> Callable:
    """Run a page body (or fragment); any error becomes a short st.error in the page (the wording
    of ui/faults.py, shared with the CLI), never a traceback. An error with a person-facing
    message is logged as one line; any other keeps its traceback in the log. `place` names it
    in the message (default: the page's title and the function's name)."""
    place = place or faults.where(fn.__module__, fn.__name__)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        # Exception, not BaseException: Streamlit's stop and rerun pass through. MemoryError and
        # RecursionError are Exceptions and are caught: the page gives its memory back on return.
        except Exception as e:
            if faults.is_person_facing(e):
                log.warning("%s: %s", place, faults.page_message(e, place))
            else:
                log.exception("something went wrong in %s", place)
            st.error(faults.page_message(e, place))
    return wrapper


# ---------------------------------------------------------------- images

def show_in(where, image: Image.Image | bytes, caption: str | None = None) -> None:
    """st.image as PNG: JPEG would smear the sharp pixels of an upscaled small image. `image` is a
    PIL image or PNG bytes (what big(), pair() and strip() return, cached)."""
    where.image(image, caption=caption, output_format="PNG")


def scale_for(ctx: Context, px: int) -> int:
    """Nearest-neighbour upscale factor that shows an image about `px` pixels wide, never much
    narrower: a 64 px image asked for at 84 is shown at 128, not left at 64 (too small on a projector)."""
    scale = max(1, round(px / ctx.image_side))
    return scale + 1 if scale * ctx.image_side < 0.8 * px else scale


def big(ctx: Context, image: np.ndarray, px: int = 224) -> bytes:
    """One (C, H, W) image upscaled for a projector, as PNG bytes (cached)."""
    return cache.image_png(np.ascontiguousarray(image), scale_for(ctx, px))


def pair(ctx: Context, a: np.ndarray, b: np.ndarray, px: int = 112) -> bytes:
    """Two images side by side with a thin white gap (e.g. original | reconstruction), as PNG bytes (cached)."""
    return cache.pair_png(np.ascontiguousarray(a), np.ascontiguousarray(b), scale_for(ctx, px))


def strip(ctx: Context, images: np.ndarray, captions: list[str] | None, px: int, ncols: int | None = None,
          highlight: list[int] | None = None, cell_width: int = 0) -> bytes:
    """A grid of images, each captioned (in present.caption_px(): larger with Large type), cells in
    `highlight` marked, cells at least `cell_width` wide, as PNG bytes (cached)."""
    return cache.grid_png(np.ascontiguousarray(images), ncols or len(images),
                         tuple(captions) if captions is not None else None, scale_for(ctx, px),
                         tuple(int(i) for i in highlight) if highlight else None,
                         font_size=present.caption_px(), cell_width=cell_width)


PAGE_PX = 880  # the main column's width at 1280x720 with the sidebar open: a wider picture is shrunk


def caption_width(captions: list[str]) -> int:
    """Pixels the widest caption line takes at present.caption_px() (cells at least this wide line up)."""
    from PIL import ImageFont

    font = ImageFont.load_default(size=present.caption_px())
    return int(max((font.getlength(line) for c in captions for line in str(c).split("\n")), default=0)) + 6


def per_row(ctx: Context, captions: list[str], px: int, width: int = PAGE_PX) -> int:
    """How many captioned cells fit in `width` pixels unshrunk, so that captions keep their size."""
    cell = max(caption_width(captions), scale_for(ctx, px) * ctx.image_side) + 4
    return max(2, width // cell)


# ---------------------------------------------------------------- the map

PLANE_CHOICE = "plane"  # the Map page's choice (and URL value) for projection.PLANE
METHOD_TITLES = {PLANE_CHOICE: "Latent plane", projection.PLANE: "latent plane", "umap": "UMAP", "tsne": "t-SNE",
                 "pca": "PCA"}
MAP_CHOICE = "map_choice"  # (vae_key, choice, params) of the Map page's current map


def map_methods(ctx: Context) -> list[str]:
    """Map choices on offer; a 2-D latent is first shown as its own plane."""
    methods = list(projection.METHODS)
    return [PLANE_CHOICE, *methods] if ctx.latent_dim == 2 else methods


def get_map(ctx: Context, choice: str, params: dict | None, compute: bool) -> projection.Projection | None:
    """The map of the test set by a map choice (PLANE_CHOICE or a projection method):
    cache.latent_map() for the loaded VAE's test codes."""
    method = projection.PLANE if choice == PLANE_CHOICE else choice
    return cache.latent_map(ctx.mu, ctx.vae_key, map_folder(ctx.vae.path), method, params, compute=compute)


def map_folder(checkpoint: Path) -> Path:
    """Where a checkpoint keeps its maps."""
    return checkpoint / PROJECTIONS_DIR


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
    return get_map(ctx, PLANE_CHOICE if ctx.latent_dim == 2 else "pca", None, compute=True)


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
        return cache.recon_errors(str(ctx.vae.path), ctx.vae_key, ctx.dataset)
    raise ValueError(f"unknown colouring {color_by!r}")


def map_figure(ctx: Context, proj: projection.Projection, color_by: str, *, height: int, title: str = "",
               font_scale: float = 1.0,
               selected=None, path=None, marker=None, backdrop=None, subset: np.ndarray | None = None):
    """The latent map as a plotly figure (WebGL scatter; customdata = test-set index, or the
    index into `subset` when only those test points are drawn)."""
    if ctx.pred is None and color_by in ("predicted", "correct", "confidence"):
        color_by = "label"
    names, values_title, colours = list(ctx.class_names), "", None
    if color_by.startswith(factors.PREFIX):  # a true factor's values (shapes)
        color_by, values, names, values_title = factors.map_colouring(ctx, color_by)
        colours = factors.own_colours(names)
    else:
        values = color_values(ctx, color_by)
    if subset is not None:
        values = values[subset]
    fig = plots.latent_map(proj.coords, color_by, values, names,
                           selected=selected, path=path, marker=marker, title=title, backdrop=backdrop,
                           height=height, font_scale=font_scale, values_title=values_title,
                           category_colors=colours)
    return interactive(fig, proj)


def interactive(fig, proj: projection.Projection):
    """The Map page's settings of a map figure: a click picks, a drag zooms."""
    # Streamlit turns click-to-select off while the drag mode is lasso or box; with zoom a click
    # picks a point, a drag zooms, and the toolbar's lasso and box tools select groups.
    fig.update_layout(dragmode="zoom")
    if proj.method != projection.PLANE:  # UMAP and t-SNE axes have no units: fill the space instead
        fig.update_yaxes(scaleanchor=None)
    return fig


def small_map(ctx: Context, key: str, *, marker=None, path=None, selected=None, height: int = 330) -> None:
    """A compact interactive map marking a code (and ringing `selected` test points); a caption
    names the projection. Views that redraw on every slider move use live_map() instead."""
    proj = quick_map(ctx)
    fig = _small_figure(ctx, proj, height, marker=marker, path=path, selected=selected)
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})
    _where_caption(proj)


def _where_caption(proj: projection.Projection) -> None:
    how = {projection.PLANE: "", "pca": " (projected onto its two axes)"}.get(proj.method, " (placed by its nearest test codes)")
    st.caption(f"Where it is on the {METHOD_TITLES.get(proj.method, proj.method)} map{how}.")


def _small_figure(ctx: Context, proj: projection.Projection, height: int, *, marker=None, path=None, selected=None):
    n = len(proj.coords)
    keep = np.arange(0, n, max(1, -(-n // cache.SMALL_MAP_POINTS)))
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


def live_map(ctx: Context, proj: projection.Projection, marker: tuple[float, float], *, height: int = 300,
             aspect: float = 1.0, path: np.ndarray | None = None, selected: list[int] | None = None) -> None:
    """The small map for views that redraw on every slider move: a picture of cache.SMALL_MAP_POINTS
    test points coloured by the classifier's label (with the `path` and the `selected` test points
    ringed), drawn once per checkpoint, classifier, map and path; a move only puts the star at
    `marker` and sends a small JPEG."""
    mini = cache.mini_map(ctx, proj, (ctx.vae_key, ctx.classifier_key, ctx.dataset), proj.method, proj.key, int(height * aspect),
                     height, None if path is None else np.ascontiguousarray(path, dtype=np.float64),
                     tuple(int(i) for i in selected or ()))
    picture = minimap.with_star(mini, float(marker[0]), float(marker[1]))
    buf = io.BytesIO()
    picture.save(buf, format="JPEG", quality=90)  # soft dots and lines: a JPEG a quarter the size of the PNG
    st.image(buf.getvalue(), output_format="JPEG", width="stretch")
    _where_caption(proj)
