"""The latent maps and what is drawn on them, cached across sessions.

`latent_map()` is the one way the UI gets a map of a checkpoint's test codes: from memory,
from the map files on disk, or computed (projection.project, which writes the file).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from explorer.figures import minimap, plots
from explorer.maps import projection, regions
from explorer.ui.cache.models import test_set_pass

if TYPE_CHECKING:
    from explorer.ui.state import Context

CHEAP = (projection.PLANE, "pca")  # methods always computed when asked: they cost nothing
SMALL_MAP_POINTS = 3000  # test points drawn on the small maps beside other pages' views


def latent_map(codes: np.ndarray, key: str, folder: Path, method: str, params: dict | None = None, *,
               compute: bool) -> projection.Projection | None:
    """The `method` map (with `params`) of the test `codes` of the checkpoint whose checkpoint_key
    is `key`, kept in `folder`: from memory or disk at once, else computed when `compute` or
    when the method is CHEAP; else None.

    Raises ProjectionError (or what else projection raises) when computing fails."""
    params_json = json.dumps({} if method == projection.PLANE else (params or {}), sort_keys=True)
    found = _on_disk(str(folder), method, params_json, len(codes))
    if found is not None:
        return found
    if compute or method in CHEAP or _ready(codes, key, method, params_json, str(folder)):
        proj = _computed(codes, key, method, params_json, str(folder))
        _COMPUTED.add((key, method, params_json))
        return proj
    return None


def map_files(folder: str, method: str) -> tuple[tuple[str, int], ...]:
    """The method's cached map files with their modification times (a few stat calls): a key
    that changes when a map is written."""
    out = []
    for p in Path(folder).glob(projection.cache_pattern(method)):
        try:
            out.append((p.name, p.stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(sorted(out))


def _on_disk(folder: str, method: str, params_json: str, n: int) -> projection.Projection | None:
    """The newest map on disk when it has these parameters and n points, or None; never
    computes. (Read once per set of map files: a miss now is a hit once a map is written.)"""
    try:
        found = _newest_cached(folder, method, map_files(folder, method))
    except Exception:  # an unreadable cache file is just a cache miss
        return None
    if found is None or len(found.coords) != n:
        return None
    try:
        wanted = projection.check_params(method, json.loads(params_json), n)
    except projection.ProjectionError:
        return None
    return found if found.params == wanted else None


@st.cache_resource(show_spinner=False, max_entries=64)
def _newest_cached(cache_dir: str, method: str, files: tuple[tuple[str, int], ...]) -> projection.Projection | None:
    """load_cached(), read once per set of files (a new or rewritten map file is a new key).
    Shared and never mutated."""
    return projection.load_cached(Path(cache_dir), method)


_COMPUTED: set[tuple[str, str, str]] = set()  # (key, method, params_json) of the maps _computed() holds


def _ready(codes: np.ndarray, key: str, method: str, params_json: str, folder: str) -> bool:
    """Whether _computed() would answer at once: computed in this process, or its file on disk."""
    if (key, method, params_json) in _COMPUTED:
        return True
    try:
        return projection.map_file(codes, method, json.loads(params_json), 0, folder).is_file()
    except projection.ProjectionError:
        return False


@st.cache_data(show_spinner=False, max_entries=32)
def _computed(_latents: np.ndarray, key: str, method: str, params_json: str,
              cache_dir: str) -> projection.Projection:
    # inside the server a t-SNE map leaves a core to the other sessions
    return projection.project(_latents, method, json.loads(params_json), seed=0, cache_dir=Path(cache_dir),
                              leave_a_core=True)


# ---------------------------------------------------------------- what is drawn on a map

@st.cache_data(show_spinner="Decoding the latent plane...", max_entries=8)
def manifold(_model, key: str, extent: tuple[float, float, float, float], n: int, label: int | None):
    """A 2-D latent plane's decoded images as a map backdrop: (image, x0, x1, y0, y1)."""
    image, (x0, x1, y0, y1) = plots.manifold_grid(_model, extent, n=n, label=label)
    return image, x0, x1, y0, y1


@st.cache_data(show_spinner="Decoding the map's background and judging it...", max_entries=16)
def decision_regions(_ctx: Context, _proj: projection.Projection, key: tuple, n: int) -> regions.Regions:
    """The classifier's regions on the map, once per VAE, classifier and map (`key` holds their identities)."""
    return regions.regions(_ctx.model, _ctx.classifier, _proj, _ctx.mu, n=n)


@st.cache_resource(show_spinner=False, max_entries=2)
def refit(_ctx: Context, _proj: projection.Projection, key: tuple):
    """The UMAP model behind a cached map, fitted again (shared: it is only read)."""
    return regions.refit_umap(_ctx.mu, _proj)


@st.cache_data(show_spinner=False, max_entries=4)
def umap_regions(_ctx: Context, _proj: projection.Projection, key: tuple, n: int) -> regions.Regions:
    """decision_regions() through UMAP's own inverse (the refitted model)."""
    return regions.regions(_ctx.model, _ctx.classifier, _proj, _ctx.mu, n=n, reducer=refit(_ctx, _proj, key))


@st.cache_data(show_spinner="Reconstructing and judging the test set...", max_entries=8)
def recon_predictions(_ctx: Context, key: tuple) -> np.ndarray:
    """The classifier's label for each test image's reconstruction, (N,); `key` is (VAE key,
    classifier key). Kept on disk too (the array cache), so a new server does not pay the pass
    over the whole test set again."""
    def compute():
        return (regions.recon_predictions(_ctx.model, _ctx.classifier, _ctx.data.images, _ctx.data.labels),)

    (pred,) = test_set_pass("recon_classify", "", "|".join(key), _ctx.dataset, compute)
    return pred


@st.cache_resource(show_spinner=False, max_entries=64)
def mini_map(_ctx: Context, _proj: projection.Projection, key: tuple, method: str, proj_key: str, width: int,
             height: int, path: np.ndarray | None, selected: tuple[int, ...]) -> minimap.MiniMap:
    """The small map's picture: SMALL_MAP_POINTS test points coloured by the classifier's label.
    Shared between sessions and never changed (with_star draws on a copy); `_proj` is the map
    named by (method, proj_key), the key of its codes and parameters."""
    proj = _proj
    n = len(proj.coords)
    keep = np.arange(0, n, max(1, -(-n // SMALL_MAP_POINTS)))
    classes = _ctx.pred if _ctx.pred is not None else _ctx.data.labels
    rings = proj.coords[np.asarray(selected, dtype=np.int64)] if selected else None
    return minimap.draw(proj.coords[keep], classes[keep], width=width, height=height,
                        equal_axes=proj.method == projection.PLANE, path=path, selected=rings)
