"""The Map page's whole dataset: the training set drawn with the test set (70,000 points for
Fashion-MNIST), faint under it, on one map of both sets' codes.

The training set's passes and its map are computed in the background (ui/cache/trainset.py):
until they are ready the page shows the test map with their progress above it, and redraws
itself when they are done. A point is named by (split, index): test picks are the selection
every page shares; training picks belong to the Map page and are shown beside it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import streamlit as st

from explorer.core.errors import ExplorerError
from explorer.figures import plots
from explorer.maps import projection, splits
from explorer.ui import cache, factors
from explorer.ui.cache import background, trainset
from explorer.ui.state import Context
from explorer.ui.widgets import PLANE_CHOICE, interactive, map_folder

TOGGLE = "map_whole"
TRAIN_PICKS = "map_train_picked"  # (dataset, [training indices]) picked on the map
POLL_S = 1.0  # how often a waiting page looks at its jobs
NEEDS_CLASSIFIER = ("predicted", "correct", "confidence")


@dataclass(frozen=True)
class Whole:
    proj: projection.Projection  # the map of the test codes, then the training codes
    rows: splits.Rows
    values: np.ndarray           # the colouring's value per row
    color_by: str                # as chosen (a true factor's colouring: factors.PREFIX + its name)
    kind: str = ""               # what latent_map is told: color_by, or "category"/"number" for a factor
    names: tuple[str, ...] = ()  # a factor's categories (else the class names)
    title: str = ""              # a factor's legend title


def toggle(where, ctx: Context) -> bool:
    n = len(ctx.data.labels)
    return bool(where.toggle("Training set too", key=TOGGLE, persist_state="session", bind="query-params",
                             help=f"Draw the training images too, faint, under the {n:,} test images. "
                                  "The first time, the training set is encoded and mapped in the background."))


def _jobs(ctx: Context, choice: str, params: dict | None, color_by: str) -> list[background.Job]:
    """The background work the whole map with this colouring needs (finished jobs included)."""
    path, key = str(ctx.vae.path), ctx.vae_key
    enc = trainset.encodings(path, key, ctx.dataset)
    jobs = [enc]
    if color_by in NEEDS_CLASSIFIER and ctx.classifier_path is not None:
        jobs.append(trainset.predictions(str(ctx.classifier_path), ctx.classifier_key, ctx.dataset))
    if color_by == "recon_error":
        jobs.append(trainset.recon_errors(path, key, ctx.dataset))
    method = _method(choice)
    if method not in (projection.PLANE, "pca") and _cached_map(ctx, enc, method, params) is None:
        jobs.append(trainset.whole_map(ctx.mu, enc, key, map_folder(ctx.vae.path), method, params))
    return jobs


def _method(choice: str) -> str:
    return projection.PLANE if choice == PLANE_CHOICE else choice


def _cached_map(ctx: Context, enc: background.Job, method: str, params: dict | None, compute: bool = False):
    if not enc.ready or enc.error is not None:
        return None
    codes, _ = trainset.both_codes(ctx.mu, enc)
    return cache.latent_map(codes, f"{ctx.vae_key}|{trainset.WHOLE}", map_folder(ctx.vae.path), method, params,
                            compute=compute)


def whole(ctx: Context, choice: str, params: dict | None, color_by: str) -> Whole | None:
    """The whole-dataset map, or None while its work runs (its progress shown) or failed (said)."""
    if ctx.pred is None and color_by in NEEDS_CLASSIFIER:
        color_by = "label"
    try:
        jobs = _jobs(ctx, choice, params, color_by)
    except ExplorerError as e:  # e.g. the training set's files missing: the test map still shows
        st.error(f"The training set cannot be shown: {e}")
        return None
    failed = [j for j in jobs if j.ready and j.error is not None]
    if failed:
        st.error(f"The training set cannot be shown: {failed[0].error}. The map shows the test set.")
        if st.button("Try again", key="map_whole_retry"):
            for j in failed:
                background.forget(j.key)
            st.rerun()
        return None
    if not all(j.ready for j in jobs):
        _waiting(tuple(j.key for j in jobs))
        return None
    enc = jobs[0]
    _, rows = trainset.both_codes(ctx.mu, enc)
    proj = _cached_map(ctx, enc, _method(choice), params, compute=True)
    kind, values, names, title = cache.shared("wholemap.values", (ctx.vae_key, ctx.classifier_key, ctx.dataset, color_by),
                                              lambda: _colouring(ctx, color_by))
    return Whole(proj, rows, values, color_by, kind, names, title)


def _colouring(ctx: Context, color_by: str) -> tuple[str, np.ndarray, tuple[str, ...], str]:
    """What latent_map is told, the colouring's values on the test rows then the training rows,
    the category names and the legend's title."""
    if color_by.startswith(factors.PREFIX):  # a true factor, known for both splits (shapes)
        kind, test_values, names, title = factors.map_colouring(ctx, color_by)
        train_values = factors.map_colouring(ctx, color_by, cache.train_set(ctx.dataset))[1]
        return kind, np.concatenate([test_values, train_values]), tuple(names), title
    return (color_by, np.concatenate([_test_values(ctx, color_by), _train_values(ctx, color_by)]),
            tuple(ctx.class_names), "")


@st.fragment(run_every=POLL_S)
def _waiting(keys: tuple[str, ...]) -> None:
    """The jobs' progress, looked at every POLL_S; the whole page runs again once they are done."""
    found = [background.find(k) for k in keys]
    pending = [j for j in found if j is not None and not j.ready]
    if not pending:
        st.rerun()
    j = pending[0]
    text = f"{j.stage}: {j.done_n:,} of {j.total:,}" if j.total else f"{j.stage}..."
    st.progress(j.fraction, text=text + " The test set's map is shown meanwhile; every page keeps working.")


def _test_values(ctx: Context, color_by: str) -> np.ndarray:
    from explorer.ui.widgets import color_values
    return np.asarray(color_values(ctx, color_by))


def _train_values(ctx: Context, color_by: str) -> np.ndarray:
    """The colouring's values on the training set (its jobs are done: no wait)."""
    labels = cache.train_set(ctx.dataset).labels
    if color_by == "label":
        return labels
    path, key = str(ctx.vae.path), ctx.vae_key
    if color_by == "recon_error":
        return trainset.recon_errors(path, key, ctx.dataset).wait()[0]
    pred, proba = trainset.predictions(str(ctx.classifier_path), ctx.classifier_key, ctx.dataset).wait()
    return {"predicted": pred, "correct": pred == labels, "confidence": proba.max(1)}[color_by]


def figure(ctx: Context, w: Whole, height: int, selected_rows: list[int], font_scale: float):
    """The whole map as a plotly figure (built once per map, colouring and selection, and shared)."""
    key = ("map.whole", ctx.vae_key, ctx.classifier_key, w.proj.method, w.proj.key, w.color_by, tuple(selected_rows),
           font_scale, height)
    return cache.figure("map.whole", key, lambda: interactive(plots.latent_map(
        w.proj.coords, w.kind, w.values, list(w.names), selected=selected_rows or None, height=height,
        font_scale=font_scale, split=w.rows.split, values_title=w.title,
        category_colors=factors.own_colours(list(w.names)) if w.kind == "category" else None), w.proj))


def test_view(w: Whole) -> projection.Projection:
    """The test rows of the whole map, for what is drawn over the test points (layers, the star)."""
    return replace(w.proj, coords=w.proj.coords[:int((w.rows.split == 0).sum())])


def train_picks(dataset: str) -> list[int]:
    found = st.session_state.get(TRAIN_PICKS)
    return list(found[1]) if found and found[0] == dataset else []


def pick_train(dataset: str, indices: list[int]) -> None:
    st.session_state[TRAIN_PICKS] = (dataset, [int(i) for i in indices])
