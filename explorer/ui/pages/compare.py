"""Compare: two VAE checkpoints side by side: their figures, their maps, and how much each
latent dimension is used (beta 0.5 against beta 4 shows posterior collapse; hybrid lambda 0
against lambda 10 shows a latent space sorted by class)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.analysis import latent
from explorer.figures import plots
from explorer.maps import projection
from explorer.checkpoints import CheckpointError, catalog
from explorer.data import DataError
from explorer.ui import cache
from explorer.ui.sidebar import dataset_title
from explorer.ui.widgets import MAP_CHOICE, METHOD_TITLES, guarded, map_folder

ROWS = [  # (label, where, key)
    ("kind", "config", "kind"), ("latent dimensions", "model", "latent_dim"), ("beta", "model", "beta"),
    ("lambda (hybrid)", "model", "cls_weight"), ("epochs trained", "state", "epoch"),
    ("negative ELBO (nats)", "metrics", "neg_elbo"), ("reconstruction (nats)", "metrics", "recon"),
    ("KL (nats)", "metrics", "kl"), ("IWAE NLL (nats)", "metrics", "iwae_nll"),
    ("active units", "metrics", "active_units"), ("head accuracy", "metrics", "accuracy"),
    ("conditional fidelity", "metrics", "conditional_fidelity"),
]
ACTIVE_KL = 0.05


def figure_rows(ckpt) -> dict[str, object]:
    sources = {"config": {"kind": ckpt.kind}, "model": ckpt.model_cfg.to_dict(),
               "state": {"epoch": ckpt.state.epoch}, "metrics": ckpt.metrics or {}}
    out = {}
    for label, where, key in ROWS:
        v = sources[where].get(key)
        if key == "cls_weight" and ckpt.kind != "hybrid":
            v = None
        if isinstance(v, float):
            v = round(v, 3)
        out[label] = "-" if v is None else str(v)
    return out


def side_map(ckpt, key: str, mu: np.ndarray, labels: np.ndarray, names, dataset: str) -> None:
    """The map the Map page would show for this checkpoint (its current choice there, else its
    first method) when it is at hand; else PCA, which costs nothing."""
    proj, how = side_projection(ckpt, mu)
    ident = (cache.checkpoint_key(ckpt.path), dataset, proj.method, proj.key)
    fig = cache.figure("compare.map", ident, lambda: side_figure(ckpt, proj, how, labels, names))
    st.plotly_chart(fig, key=f"cmp_map_{key}", config={"displayModeBar": False})


def side_projection(ckpt, mu: np.ndarray) -> tuple[projection.Projection, str]:
    ckpt_key, folder = cache.checkpoint_key(ckpt.path), map_folder(ckpt.path)
    if ckpt.model_cfg.latent_dim == 2:
        return cache.latent_map(mu, ckpt_key, folder, projection.PLANE, None, compute=True), "latent plane"
    method, params = projection.METHODS[0], None
    choice = st.session_state.get(MAP_CHOICE)
    if choice and choice[0] == ckpt_key and choice[1] in projection.METHODS:
        method, params = choice[1], choice[2]
    try:
        found = cache.latent_map(mu, ckpt_key, folder, method, params, compute=False)
    except Exception:  # an unreadable map file: fall back to PCA
        found = None
    if found is not None:
        return found, METHOD_TITLES[method]
    return cache.latent_map(mu, ckpt_key, folder, "pca", None, compute=True), "PCA"


def side_figure(ckpt, proj: projection.Projection, how: str, labels: np.ndarray, names):
    fig = plots.latent_map(proj.coords, "label", labels, list(names), height=420, title=f"{ckpt.name}: {how}")
    if proj.method != projection.PLANE:
        fig.update_yaxes(scaleanchor=None)
    return fig


def kl_figure(kls: dict[str, np.ndarray]) -> go.Figure:
    fig = go.Figure()
    for i, (name, kl) in enumerate(kls.items()):
        order = np.sort(kl)[::-1]
        fig.add_trace(go.Bar(x=[f"{j + 1}" for j in range(len(order))], y=order, name=name,
                             marker_color=plots.class_color(i)))
    fig.add_hline(y=ACTIVE_KL, line_dash="dot", annotation_text="collapsed below this", line_color="#888")
    fig.update_layout(template="plotly_white", barmode="group", height=320, font=dict(size=16),
                      xaxis_title="latent dimension, most used first", yaxis_title="KL (nats)",
                      margin=dict(l=50, r=20, t=30, b=50), legend=dict(orientation="h", y=1.12))
    return fig


def pick():
    """The dataset and the two checkpoints to compare, and the page's two columns; None (with a
    message) when there are not two VAE checkpoints of one dataset."""
    entries = cache.checkpoint_entries(tuple(str(r) for r in catalog.checkpoint_roots()))
    datasets = catalog.datasets_with_checkpoints(entries)
    if not datasets:
        st.error("No checkpoints to compare. Train one on the Train page.")
        return None
    chosen = st.session_state.get("sb_dataset")
    dataset = st.selectbox("Dataset", datasets, index=datasets.index(chosen) if chosen in datasets else 0,
                           key="cmp_dataset", format_func=dataset_title)
    vaes = [e for e in catalog.vae_choices(entries, dataset) if not e.problem]
    if len(vaes) < 2:
        st.info("This dataset has fewer than two VAE checkpoints. Train another on the Train page (for example "
                "the same model with beta 4) and come back.")
        return None
    by_path = {e.path: e for e in vaes}
    paths = [e.path for e in vaes]
    first = catalog.beta_pair(vaes, [_beta(e.path) for e in vaes])
    cols = st.columns(2, gap="large")
    picks = []
    for i, col in enumerate(cols):
        picks.append(col.selectbox(f"Checkpoint {'AB'[i]}", paths, index=first[i],
                                   format_func=lambda p: by_path[p].label, key=f"cmp_{'ab'[i]}"))
    return dataset, picks, cols


def _beta(path) -> float | None:
    try:
        return cache.checkpoint_info(path).model_cfg.beta
    except CheckpointError:
        return None


@guarded
def render() -> None:
    st.title("Compare two models")
    with st.expander("What am I looking at?"):
        st.markdown(
            "Two checkpoints of the same dataset side by side. **beta** above 1 pushes the codes toward the "
            "prior: the KL falls, reconstructions blur, and at large beta whole dimensions stop carrying "
            "information (*posterior collapse*: their KL drops to about 0, the bars below). A **hybrid** with a "
            "large lambda sorts its latent space by class, which the maps show at a glance.")
    picked = pick()
    if picked is None:
        return
    dataset, picks, cols = picked
    try:
        data = cache.test_set(dataset)
    except DataError as e:
        st.error(f"The {dataset} test set cannot be loaded.\n\n{e}")
        return
    loaded = []
    for path in picks:
        try:
            loaded.append(cache.checkpoint(path))
        except CheckpointError as e:
            st.error(f"**{path.name}** cannot be loaded: {e}. Pick another.")
            return
    table = pd.DataFrame({f"{'AB'[i]}: {c.name}": figure_rows(c) for i, c in enumerate(loaded)})
    st.dataframe(table, width="stretch", key="cmp_table")
    kls = {}
    keys = tuple(cache.checkpoint_key(c.path) for c in loaded)
    for i, (col, ckpt) in enumerate(zip(cols, loaded)):
        mu, logvar = cache.encodings(str(ckpt.path), keys[i], dataset)
        kls[f"{'AB'[i]}: {ckpt.name}"] = latent.kl_per_dim(mu, logvar)
        with col:
            side_map(ckpt, "ab"[i], mu, data.labels, data.spec.class_names, dataset)
    st.subheader("How much each latent dimension is used")
    st.plotly_chart(cache.figure("compare.kl", (keys, dataset), lambda: kl_figure(kls)), key="cmp_kl",
                    config={"displayModeBar": False})
    hist = [(c.name, c.state.history) for c in loaded if c.state.history]
    if hist:
        st.plotly_chart(cache.figure("compare.curves", keys, lambda: test_elbo_figure(hist)), key="cmp_curves",
                        config={"displayModeBar": False})


def test_elbo_figure(hist: list[tuple[str, list[dict]]]) -> go.Figure:
    """Test negative ELBO by epoch of each checkpoint."""
    fig = go.Figure()
    for i, (name, h) in enumerate(hist):
        pts = [(r["epoch"], r["test_neg_elbo"]) for r in h if "test_neg_elbo" in r]
        if pts:
            x, y = zip(*pts)
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name,
                                     line=dict(color=plots.class_color(i), width=3)))
    fig.update_layout(template="plotly_white", height=300, font=dict(size=16), xaxis_title="epoch",
                      yaxis_title="test negative ELBO (nats)", margin=dict(l=50, r=20, t=30, b=50))
    return fig


render()
