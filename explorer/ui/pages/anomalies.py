"""Anomalies: the test images the VAE explains worst and best, overall or within one class.

Each image's score is its negative ELBO (nats, one draw of z) or its reconstruction error at
z = mu, computed once per checkpoint (explorer/analysis/teach.py; the ELBO is also kept in the cache dir).
"""
from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from explorer.figures import plots_teach
from explorer.analysis import teach
from explorer.ui import cache, exports, help, urlstate
from explorer.ui.state import Context, context, select
from explorer.ui import present
from explorer.ui.widgets import guarded, per_row, show_in, strip

SCORES = {"neg_elbo": "Negative ELBO", "recon_at_mu": "Reconstruction error"}
PHRASES = {"neg_elbo": "negative ELBO", "recon_at_mu": "reconstruction error"}
ALL = -1


def controls(ctx: Context) -> tuple[str, int, int]:
    a, b, c = st.columns([3, 3, 2], vertical_alignment="bottom")
    score = a.segmented_control("Score", list(SCORES), format_func=SCORES.get, default="neg_elbo", required=True,
                                key="anom_score", bind="query-params",
                                help="Negative ELBO: reconstruction + KL, the VAE's own cost of the image. "
                                     "Reconstruction error: -log p(x | z = mu), no KL.")
    k = b.selectbox("Class", [ALL, *range(ctx.num_classes)], key="anom_class", bind="query-params",
                    format_func=lambda c: "All classes" if c == ALL else ctx.class_names[c])
    n = c.slider("Images", 4, 16, 8, key="anom_n", bind="query-params")
    urlstate.shown("anom_score", SCORES.get(score, score))
    urlstate.shown("anom_class", "All classes" if k == ALL else ctx.class_names[k])
    return score, int(k), int(n)


def show_row(ctx: Context, title: str, idx: np.ndarray, values: np.ndarray, key: str) -> None:
    """The images with their scores and the CNN's verdicts, and their reconstructions below."""
    if len(idx) == 0:
        return
    recons = cache.reconstructions(ctx.model, ctx.vae_key, ctx.dataset, tuple(int(i) for i in idx))
    r_pred, r_proba = cache.predictions(ctx, recons)
    top = [f"#{i} · {values[i]:.0f} nats\n{ctx.class_names[int(ctx.data.labels[i])]}\nCNN {ctx.verdict(ctx.pred, ctx.proba, i)}"
           for i in idx]
    bottom = [f"recon\nCNN {ctx.verdict(r_pred, r_proba, n)}" for n in range(len(idx))]
    wrong = [n for n, i in enumerate(idx) if ctx.pred is not None and ctx.pred[i] != ctx.data.labels[i]]
    head, pick, dl = st.columns([6, 2, 1], vertical_alignment="bottom")
    head.markdown(f"**{title}**")
    pick.button("Select on the map", key=f"{key}_select", on_click=select, args=(ctx.dataset, [int(i) for i in idx]),
                help="Make these the selected images (Map, Traverse, Interpolate use them)")
    whole = functools.partial(strip, ctx, np.concatenate([ctx.data.images[idx], recons]), top + bottom, px=84,
                              ncols=len(idx), highlight=wrong)  # the download: one picture, made on a click
    exports.png_button(dl, whole, f"{ctx.vae.name}_{key}", key=f"{key}_png")
    cols = per_row(ctx, top + bottom, 84)  # rows of images over their reconstructions, captions unshrunk
    for start in range(0, len(idx), cols):
        part = slice(start, min(start + cols, len(idx)))
        n = part.stop - part.start
        show_in(st, strip(ctx, np.concatenate([ctx.data.images[idx[part]], recons[part]]), top[part] + bottom[part],
                          px=84, ncols=n, highlight=[w - start for w in wrong if start <= w < part.stop]))


@guarded
def render() -> None:
    ctx = context()
    st.title("What the model finds unusual")
    help.explain("anomalies")
    score, k, n = controls(ctx)
    if score == "neg_elbo":
        values = cache.anomaly_scores(ctx.model, ctx.vae_key, ctx.dataset)["neg_elbo"]
    else:
        values = cache.recon_errors(str(ctx.vae.path), ctx.vae_key, ctx.dataset)
    among = None if k == ALL else np.flatnonzero(ctx.data.labels == k)
    worst, best = teach.extremes(values, n, among)
    where = "of all test images" if k == ALL else f"among the {ctx.class_names[k]} test images"
    show_row(ctx, f"Explained worst {where} (highest {PHRASES[score]}, nats)", worst, values, "anom_worst")
    show_row(ctx, f"Explained best {where} (lowest)", best, values, "anom_best")
    st.caption("Top row: the test image, its index and score, true class, and the CNN's verdict (outlined where "
               "the CNN disagrees with the true label). Bottom row: the VAE's reconstruction and the CNN's verdict on it.")
    st.markdown(
        "**Anomaly detection with a VAE.** A VAE that has learnt what ordinary images look like needs few nats "
        "for them and many for an image unlike its training data, so a high negative ELBO flags something "
        "unusual: a rare style, a damaged or mislabelled image, or data from elsewhere. A threshold on the score, "
        "set on known-good data, turns it into a detector. A caveat: likelihoods also favour simple images, so a "
        "plain, dark image from another dataset can score *better* than real ones (Nalisnick et al., 2019).")
    fig = cache.figure("anomalies.box", (ctx.vae_key, ctx.dataset, score, present.font_scale()), lambda: plots_teach.scores_by_class(
        values, ctx.data.labels, ctx.class_names, f"{SCORES[score]} (nats)", font_scale=present.font_scale()))
    st.plotly_chart(fig, key="anom_box", config={"displayModeBar": False})
    st.caption("The spread of the score in each class: boxes from the first to the third quartile, whiskers to "
               "1.5 times that range. Classes with plain shapes cost fewer nats than detailed ones.")


render()
