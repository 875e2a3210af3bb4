"""Your image: draw on a canvas or upload a picture, and see what the models make of it.

The image is framed the way the dataset's images are (explorer.data.images), encoded by the VAE,
reconstructed, judged by the CNN and by a hybrid VAE's classifier head side by side, placed
on the map, and shown beside its nearest test images. Interpolate and Traverse can then
start from it.
"""
from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from explorer.data import images
from explorer.analysis import latent
from explorer.maps import projection
from explorer.checkpoints import CheckpointError, catalog
from explorer.ui import cache, yours
from explorer.ui.state import ENDPOINTS, Context, context
from explorer.ui.widgets import METHOD_TITLES, big, guarded, quick_map, show_in, small_map, strip

CANVAS_PX = 280
SOURCES = {"draw": "Draw", "upload": "Upload"}
NEAREST = 8
WHAT_TO_DRAW = {"fashion-mnist": "a piece of clothing, a shoe or a bag", "mnist": "a digit", "digits": "a digit"}
DRAW_TIP = {"fashion-mnist": " Fill it in: the dataset's pictures are solid silhouettes, not outlines."}
PLACEMENT = {
    projection.PLANE: "Its code is its position: this map is the latent plane itself.",
    "pca": "PCA places it exactly: its code projected onto the map's two axes.",
    "umap": "UMAP has no transform for a new point here (the fitted UMAP model is not kept, only the map), so the "
            "star sits on the nearest test image's spot and the rings mark its nearest test images in the latent "
            "space: where they lie on the map is where it belongs.",
    "tsne": "t-SNE has no transform for a new point, so the star sits on the nearest test image's spot and the "
            "rings mark its nearest test images in the latent space: where they lie on the map is where it belongs.",
}


# ---------------------------------------------------------------- input

def from_canvas(ctx: Context) -> None:
    pen = st.slider("Pen width", 8, 40, 22, key="draw_pen")
    result = st_canvas(stroke_width=pen, stroke_color="#000000", background_color="#FFFFFF",
                       width=CANVAS_PX, height=CANVAS_PX, drawing_mode="freedraw", key=f"draw_canvas_{_gen()}",
                       update_streamlit=True, display_toolbar=True)
    st.caption(f"Draw {WHAT_TO_DRAW.get(ctx.dataset, 'something')} in black.{DRAW_TIP.get(ctx.dataset, '')} "
               "The arrows undo and redo, the bin clears the canvas.")
    data = getattr(result, "image_data", None)
    if data is None:
        return
    try:
        prepared = images.prepare_canvas(data, ctx.dataset, side=ctx.image_side, channels=ctx.channels)
    except images.BlankImage:
        return  # an empty canvas: keep whatever image was there before
    except images.ImageError as e:
        st.error(f"The drawing could not be used: {e}")
        return
    yours.store(ctx.dataset, prepared.image, "your drawing")


UPLOAD_STATE = "draw_upload_state"  # (error message or "", notes, original as decoded) of the last upload


def from_upload(ctx: Context) -> None:
    """The uploader: every file reaches images.py (no type filter; server.maxUploadSize is above what it accepts),
    whose message is shown once in the page; a refused file leaves the list empty and no old image."""
    key = f"draw_upload_{_gen()}"
    st.file_uploader("A picture (PNG or JPEG, up to 5 MB)", key=key,
                     help="A photo or scan of one item on a plain background works best.",
                     on_change=_uploaded, args=(key, ctx.dataset, ctx.image_side, ctx.channels))
    error, notes, original = st.session_state.get(UPLOAD_STATE, ("", [], None))
    if error:
        st.error(error, icon=":material/block:")
        return
    for note in notes:
        st.caption(f"{note}.")
    if original is not None:
        chw = original[None] if original.ndim == 2 else np.moveaxis(original, -1, 0)
        show_in(st, big(ctx, chw, 200) if max(original.shape[:2]) <= 200 else _thumbnail(original),
                caption="As uploaded" + (" (grey)" if original.ndim == 2 else ""))


def _uploaded(key: str, dataset: str, side: int, channels: int = 1) -> None:
    """A file was added or removed: forget the previous image and message, then take the new file."""
    upload = st.session_state.get(key)
    yours.forget()
    st.session_state.pop(UPLOAD_STATE, None)
    if upload is None:
        return
    try:
        prepared = images.prepare_upload(upload.getvalue(), dataset, name=f"**{upload.name}**", side=side,
                                         channels=channels)
    except images.ImageError as e:
        st.session_state[UPLOAD_STATE] = (f"{e}", [], None)
        st.session_state["draw_gen"] = _gen() + 1  # an empty uploader: the refused file does not stay listed
        return
    yours.store(dataset, prepared.image, f"your upload {upload.name}")
    st.session_state[UPLOAD_STATE] = ("", [f"{upload.name}: {n}" for n in prepared.notes], prepared.original)


def _gen() -> int:
    """Bumped by "Forget it": new widget keys give an empty canvas and uploader."""
    return int(st.session_state.get("draw_gen", 0))


def forget() -> None:
    yours.forget()
    st.session_state.pop(UPLOAD_STATE, None)
    st.session_state["draw_gen"] = _gen() + 1


def _thumbnail(original: np.ndarray):
    """A large upload, grey (H, W) or colour (H, W, 3), shrunk to fit 240 px."""
    from PIL import Image

    img = Image.fromarray((np.clip(original, 0, 1) * 255).astype(np.uint8))
    img.thumbnail((240, 240))
    return img


# ---------------------------------------------------------------- what the models say

def classifiers(ctx: Context) -> list[tuple[str, object]]:
    """(title, model) of the CNN and of a hybrid VAE's head for this dataset, where they exist."""
    entries = cache.checkpoint_entries(tuple(str(r) for r in catalog.checkpoint_roots()))
    found: list[tuple[str, object]] = []
    cnns = [e for e in catalog.classifier_choices(entries, ctx.dataset) if not e.problem]
    hybrids = [e for e in catalog.vae_choices(entries, ctx.dataset) if e.kind == "hybrid"]
    if ctx.vae.kind == "hybrid":
        hybrids = [e for e in hybrids if e.path.resolve() == ctx.vae.path.resolve()] or hybrids
    for title, entry in (("CNN", cnns[0] if cnns else None), ("Hybrid's head", hybrids[0] if hybrids else None)):
        if entry is None:
            continue
        try:
            ckpt = cache.checkpoint(entry.path)
        except CheckpointError:
            continue
        if tuple(ckpt.model_cfg.image_shape) == tuple(ctx.data.images.shape[1:]) and hasattr(ckpt.model, "classify"):
            found.append((f"{title} ({entry.name})", ckpt.model))
    return found


def top3(ctx: Context, proba: np.ndarray) -> str:
    order = np.argsort(-proba)[:3]
    return " · ".join(f"{ctx.class_names[k]} {proba[k]:.0%}" for k in order)


def verdicts(ctx: Context, image: np.ndarray, recon: np.ndarray) -> None:
    """A small table: each judge's top three classes for the image, the CNN's for the reconstruction."""
    rows = []
    found = classifiers(ctx)
    for title, model in found:
        _, proba = latent.classify(model, image[None])
        rows.append(f"| {title} | **{ctx.class_names[int(proba[0].argmax())]}** | {top3(ctx, proba[0])} |")
        if title.startswith("CNN"):
            _, rp = latent.classify(model, recon[None])
            said = ctx.class_names[int(rp[0].argmax())]
            rows.append(f"| CNN on the reconstruction | **{said}** | {top3(ctx, rp[0])} |")
    if not rows:
        st.warning("No classifier for this dataset, so nothing judges your image. Train one with "
                   f"`python -m explorer train --kind classifier --dataset {ctx.dataset}`.")
        return
    st.markdown("| judge | says | top three |\n| --- | --- | --- |\n" + "\n".join(rows))
    if not any(t.startswith("Hybrid") for t, _ in found):
        st.caption("No hybrid VAE for this dataset, so there is no classifier head to compare with.")


def results(ctx: Context, mine: yours.Yours) -> None:
    z = yours.code(ctx, mine)
    label = yours.condition(ctx, mine)
    recon = ctx.decode(z[None], label)[0]
    a, b = st.columns(2)
    show_in(a, big(ctx, mine.image, 200), caption="What the model sees")
    show_in(b, big(ctx, recon, 200), caption="The VAE's reconstruction")
    if label is not None:
        st.caption(f"A cvae encodes and decodes with a class: {ctx.class_names[label]}, the judge's label.")
    verdicts(ctx, mine.image, recon)

    proj = quick_map(ctx)
    where = projection.spot(proj, ctx.mu, z, NEAREST)
    xy, near = where.xy, where.neighbours
    st.markdown(f"**On the {METHOD_TITLES.get(proj.method, proj.method)} map** (star; rings: nearest test images)")
    small_map(ctx, key="draw_map", marker=(float(xy[0]), float(xy[1])), selected=list(near), height=320)
    st.caption(PLACEMENT.get(proj.method, ""))
    st.markdown("**Nearest test images** (by latent code)")
    captions = [f"#{i}\n{ctx.class_names[int(ctx.data.labels[i])]}" for i in near]
    show_in(st, strip(ctx, ctx.data.images[near], captions, px=64, ncols=NEAREST))


def go_interpolate(ctx: Context, near: int) -> None:
    st.session_state[ENDPOINTS] = (ctx.dataset, [yours.YOURS, int(near)])
    st.session_state["draw_goto"] = "ui/pages/interpolate.py"


def go_traverse() -> None:
    st.session_state["trav_base"] = "yours"
    st.session_state["draw_goto"] = "ui/pages/traverse.py"


def next_steps(ctx: Context, mine: yours.Yours) -> None:
    z = yours.code(ctx, mine)
    pred, _ = ctx.classify(mine.image[None])
    mine_class = int(pred[0]) if pred is not None else -1
    order = latent.nearest(ctx.mu, z, len(ctx.mu))
    other = next((int(i) for i in order if int(ctx.data.labels[i]) != mine_class), int(order[0]))
    a, b, c = st.columns(3)
    a.button("Interpolate from it", key="draw_to_interp", on_click=go_interpolate, args=(ctx, other),
             width="stretch", help="Walk from your image to the nearest test image of another class")
    b.button("Traverse around it", key="draw_to_trav", on_click=go_traverse, width="stretch",
             help="Move one latent dimension at a time, starting from your image")
    c.button("Forget it", key="draw_forget", on_click=forget, width="stretch")


@guarded
def render() -> None:
    ctx = context()
    goto = st.session_state.pop("draw_goto", None)
    if goto:
        st.switch_page(goto)
    st.markdown("### Your image")
    left, right = st.columns([2, 3], gap="large")
    with left:
        source = st.segmented_control("Source", list(SOURCES), format_func=SOURCES.get, default="draw",
                                      required=True, key="draw_source", persist_state="session")
        if source == "upload":
            from_upload(ctx)
        else:
            from_canvas(ctx)
    mine = yours.get(ctx)
    with right:
        if mine is None:
            st.info(f"Draw {WHAT_TO_DRAW.get(ctx.dataset, 'something')} on the canvas, or upload a picture: "
                    "it is cropped, scaled and centred the way the dataset's images are, then encoded, "
                    "reconstructed, judged and placed on the map.")
            return
        st.caption(f"Showing {mine.source}.")
        results(ctx, mine)
        next_steps(ctx, mine)


render()
