"""Interpolate: walk a straight (or spherical) line between two images' codes.

Every frame is judged by the CNN; the point where its label flips is named, the path is
drawn on the map, and a slider scrubs along it (in a fragment, so only that part reruns).
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.analysis import latent
from explorer.maps import projection
from explorer.ui import cache, exports, help, urlstate, yours
from explorer.ui.state import ENDPOINTS, Context, context, selection
from explorer.ui.widgets import big, guarded, live_map, quick_map, show_in, strip

FINE_STEPS = 101  # the flip point is located on a path this fine
METHODS = {"linear": "Linear", "slerp": "Slerp"}
SIDES = ("a", "b")


# ---------------------------------------------------------------- endpoints

def class_members(ctx: Context, k: int) -> np.ndarray:
    return np.flatnonzero(ctx.data.labels == k)


def default_endpoints(ctx: Context) -> list[int]:
    """The map selection's first two, else the first image of class 0 and of its nearest class."""
    picked = selection(ctx.dataset)
    if len(picked) >= 2:
        return picked[:2]
    means = cache.class_means(ctx)
    a_class = int(ctx.data.labels[picked[0]]) if picked else 0
    d = ((means - means[a_class]) ** 2).sum(1)
    d[a_class] = np.inf
    a = picked[0] if picked else int(class_members(ctx, a_class)[0])
    return [a, int(class_members(ctx, int(d.argmin()))[0])]


def endpoints(ctx: Context) -> list[int]:
    saved = st.session_state.get(ENDPOINTS)
    if (not saved or saved[0] != ctx.dataset or max(saved[1]) >= len(ctx.data.labels)
            or (yours.YOURS in saved[1] and yours.get(ctx) is None) or min(saved[1]) < yours.YOURS):
        st.session_state[ENDPOINTS] = (ctx.dataset, default_endpoints(ctx))
    return list(st.session_state[ENDPOINTS][1])


def set_endpoint(ctx: Context, side: int, index: int, sync_widgets: bool = True) -> None:
    ends = endpoints(ctx)
    ends[side] = int(index)
    st.session_state[ENDPOINTS] = (ctx.dataset, ends)
    if sync_widgets and index != yours.YOURS:
        k = int(ctx.data.labels[index])
        st.session_state[f"interp_{SIDES[side]}_class"] = k
        st.session_state[f"interp_{SIDES[side]}_nth"] = int(np.searchsorted(class_members(ctx, k), index)) + 1


def _from_widgets(ctx: Context, side: int) -> None:
    s = SIDES[side]
    # A callback can fire while its partner widget has no state (a page left and reopened quickly
    # drops the other's state): take what there is, never a KeyError before the page draws.
    k = st.session_state.get(f"interp_{s}_class")
    if k is None:
        return
    members = class_members(ctx, k)
    nth = int(st.session_state.get(f"interp_{s}_nth") or 1)
    set_endpoint(ctx, side, int(members[(nth - 1) % len(members)]), sync_widgets=False)


def _random(ctx: Context, side: int) -> None:
    rng = np.random.default_rng()
    set_endpoint(ctx, side, int(rng.integers(len(ctx.data.labels))))


def _from_map(ctx: Context, side: int) -> None:
    picked = selection(ctx.dataset)
    if picked:  # A takes the first picked image, B the second (or the first when only one)
        set_endpoint(ctx, side, picked[min(side, len(picked) - 1)])


def endpoint_code(ctx: Context, index: int) -> np.ndarray:
    """An endpoint's code: a test image's posterior mean, or your image's."""
    return yours.code(ctx) if index == yours.YOURS else ctx.mu[index]


def _yours(ctx: Context, side: int) -> None:
    set_endpoint(ctx, side, yours.YOURS)


def endpoint_controls(ctx: Context, side: int, index: int) -> None:
    s = SIDES[side]
    mine_side = index == yours.YOURS
    if mine_side:  # no test class or number: the boxes are empty and say "Your image"
        st.session_state[f"interp_{s}_class"] = st.session_state[f"interp_{s}_nth"] = None
    elif (st.session_state.get(f"interp_{s}_class") is None or st.session_state.get(f"interp_{s}_nth") is None):
        set_endpoint(ctx, side, index)
    mine = yours.get(ctx)
    pic, ctl = st.columns([1, 2])
    show_in(pic, big(ctx, mine.image if mine_side else ctx.data.images[index], 96))
    with ctl:
        st.selectbox(f"{s.upper()}: class", list(range(ctx.num_classes)), format_func=lambda c: ctx.class_names[c],
                     index=None, placeholder="Your image", key=f"interp_{s}_class", on_change=_from_widgets,
                     args=(ctx, side))
        st.number_input("image no. in class", min_value=1, step=1, value=None, placeholder="your image",
                        key=f"interp_{s}_nth", on_change=_from_widgets, args=(ctx, side), disabled=mine_side)
    if index == yours.YOURS:
        pred, proba = cache.predictions(ctx, mine.image[None])
        st.caption(f"**{s.upper()}**: {mine.source}; CNN: {ctx.verdict(pred, proba, 0)}")
    else:
        st.caption(f"**{s.upper()}**: test image #{index} ({ctx.class_names[int(ctx.data.labels[index])]}); "
                   f"CNN: {ctx.verdict(ctx.pred, ctx.proba, index)}")
    b1, b2 = st.columns(2)
    b1.button("From map", key=f"interp_{s}_from_map", on_click=_from_map, args=(ctx, side), width="stretch",
              disabled=not selection(ctx.dataset), help="Use the image picked on the Map page")
    b2.button("Random", key=f"interp_{s}_random", on_click=_random, args=(ctx, side), width="stretch")
    if mine is not None:
        st.button("Your image", key=f"interp_{s}_yours", on_click=_yours, args=(ctx, side), width="stretch",
                  icon=":material/draw:", help="Use the image drawn or uploaded on the Your image page")


# ---------------------------------------------------------------- the path

def fine_labels(ctx: Context, ends: list[int], method: str, label: int | None) -> np.ndarray | None:
    """The CNN's label along a fine version of the path, (FINE_STEPS,), to place the flips."""
    z = latent.interpolate(endpoint_code(ctx, ends[0]), endpoint_code(ctx, ends[1]), FINE_STEPS, method)
    mine = yours.get(ctx)
    key = (ctx.vae_key, ctx.classifier_key, mine.digest if mine else "")
    return cache.path_predictions(ctx, key, ends[0], ends[1], method, label, z)


def flips_text(ctx: Context, frames: np.ndarray | None, fine: np.ndarray | None) -> str:
    """E.g. "Shirt to T-shirt between t = 0.40 and 0.50": the flips the strip's frames show (their
    labels `frames`), and any class the finer path (`fine`) passes through between two frames."""
    if frames is None or fine is None:
        return "No classifier to judge the frames."
    t = np.linspace(0, 1, len(frames))
    changes = latent.label_changes(frames)
    if changes:
        text = " · ".join(f"{ctx.class_names[int(frames[i - 1])]} to {ctx.class_names[int(frames[i])]} "
                          f"between t = {t[i - 1]:.2f} and {t[i]:.2f}" for i in changes[:3])
        text += " · ..." if len(changes) > 3 else ""
    else:
        text = f"No flip in the frames: the CNN calls every one {ctx.class_names[int(frames[0])]}"
    unseen = sorted({int(k) for k in fine} - {int(k) for k in frames})
    if unseen:  # a brief class between two frames: say so, as no frame shows it
        text += f" (between frames it briefly says {', '.join(ctx.class_names[k] for k in unseen)})"
    return text + "."


@st.fragment
@guarded
def scrub(ctx: Context, frames: np.ndarray, pred, proba, proj: projection.Projection, path_xy: np.ndarray,
          ends: list[int]) -> None:
    """A slider along the path, the frame at t shown large, and where it is on the map (the
    frames, their verdicts and the path come in from the page's run: a move only shows them)."""
    ts = [round(float(t), 2) for t in np.linspace(0, 1, len(frames))]
    left, right = st.columns([1, 1], gap="large")
    with left:
        t = st.select_slider("Scrub along the path: t", ts, format_func=lambda v: f"{v:.2f}", key="interp_t",
                              bind="query-params")
        urlstate.shown("interp_t", f"{t:.2f}")
        k = ts.index(t)
        show_in(st, big(ctx, frames[k], 168), caption=f"t = {t:.2f} · CNN: {ctx.verdict(pred, proba, k)}")
    with right:
        live_map(ctx, proj, (float(path_xy[k, 0]), float(path_xy[k, 1])), path=path_xy,
                 selected=[e for e in ends if e >= 0], height=260, aspect=1.5)


@guarded
def render() -> None:
    ctx = context()
    help.explain("interpolate")
    ends = endpoints(ctx)
    col_a, col_b, col_how = st.columns([4, 4, 3], gap="large")
    with col_a:
        endpoint_controls(ctx, 0, ends[0])
    with col_b:
        endpoint_controls(ctx, 1, ends[1])
    ends = endpoints(ctx)
    with col_how:
        method = st.segmented_control("Path", list(METHODS), format_func=METHODS.get, default="linear",
                                      required=True, key="interp_method", persist_state="session",
                                      bind="query-params")
        urlstate.shown("interp_method", METHODS.get(method, method))
        steps = st.slider("Frames", 5, 15, 11, key="interp_steps", persist_state="session",
                          bind="query-params")
        label = None
        if ctx.conditional:
            label = st.selectbox("Decode as class (cvae)", list(range(ctx.num_classes)),
                                 index=int(ctx.data.labels[max(ends[0], 0)]), format_func=lambda c: ctx.class_names[c],
                                 key="interp_cvae_class")

    z = latent.interpolate(endpoint_code(ctx, ends[0]), endpoint_code(ctx, ends[1]), steps, method)
    out = cache.decoded(ctx, z, label)
    frames, pred, proba = out.images, out.pred, out.proba
    st.markdown(f"#### {flips_text(ctx, pred, fine_labels(ctx, ends, method, label))}")
    proj = quick_map(ctx)  # the scrub first: its slider and map within a 720-pixel screen
    scrub(ctx, frames, pred, proba, proj, projection.place(proj, cache.codes64(ctx), z), ends)
    the_strip(ctx, frames, pred, proba, f"{ctx.vae.name}_{ends[0]}-to-{ends[1]}_{method}", label)


def the_strip(ctx: Context, frames: np.ndarray, pred, proba, stem: str, label: int | None) -> None:
    """Every frame with the CNN's label, outlined where it changes, and its PNG and GIF."""
    changes = latent.label_changes(pred) if pred is not None else []
    captions = [f"t {t:.2f}\n" + ctx.verdict(pred, proba, i).replace(" (", "\n(") for i, t in
                enumerate(np.linspace(0, 1, len(frames)))]
    picture = strip(ctx, frames, captions, px=84, highlight=changes)
    show_in(st, picture)
    note = (" A cvae keeps the class apart from z: every frame is decoded as the chosen class."
            if label is not None else "")
    st.caption("Frames from A (t = 0) to B (t = 1), each captioned with the CNN's label; "
               "outlined where it changes." + note)
    png = gif = st.container(horizontal=True)
    exports.png_button(png, picture, stem, key="interp_png", label="Strip PNG")
    exports.gif_button(gif, frames, [c.replace("\n", " ") for c in captions], stem, key="interp_gif",
                       label="Animated GIF")


render()
