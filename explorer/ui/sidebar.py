"""The sidebar: dataset, VAE checkpoint and classifier checkpoint, chosen from what is on disk.

`render()` draws the widgets (in app.py, so they keep their values across pages) and stores a
`state.Choice` in the session. `banner()`, shown on the Map page, says how to get Fashion-MNIST
when the app runs on the small digits set.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from explorer.data import get_spec, is_folder_id

from explorer.checkpoints import catalog
from explorer.core import kinds
from explorer.ui import cache
from explorer.ui.state import CHOICE, HEAD, Choice

FETCH_HINT = ("Showing the small built-in **digits** set (8x8). For Fashion-MNIST run "
              "`python -m explorer fetch-data fashion-mnist` or `sudo apt-get install dataset-fashion-mnist`, "
              "then reload.")


def render() -> Choice:
    roots = tuple(str(r) for r in catalog.checkpoint_roots())
    entries = cache.checkpoint_entries(roots)
    available = cache.available()
    with st.sidebar:
        choice = _choose(entries, available, roots)
    st.session_state[CHOICE] = choice
    return choice


def banner() -> None:
    """On the landing page: how to get a better dataset than the one shown, when there is one."""
    choice: Choice | None = st.session_state.get(CHOICE)
    if choice is None or choice.dataset != "digits":
        return
    if "fashion-mnist" not in cache.available():
        st.info(FETCH_HINT)
        return
    roots = tuple(str(r) for r in catalog.checkpoint_roots())
    if "fashion-mnist" not in catalog.datasets_with_checkpoints(cache.checkpoint_entries(roots)):
        st.info("Fashion-MNIST has no VAE checkpoint yet: "
                "`python -m explorer train --kind vae --dataset fashion-mnist` makes one.")


def _choose(entries, available: list[str], roots: tuple[str, ...]) -> Choice:
    datasets = catalog.datasets_with_checkpoints(entries)
    if not datasets:
        st.error("No checkpoints found in " + ", ".join(f"`{r}`" for r in roots) + ".")
        return Choice(dataset="digits", vae=None, classifier=None)
    default = catalog.default_dataset(entries, available)
    dataset = st.selectbox("Dataset", datasets, index=datasets.index(default) if default in datasets else 0,
                           format_func=dataset_title, key="sb_dataset")

    vaes = catalog.vae_choices(entries, dataset)
    by_path = {e.path: e for e in entries}
    _forget_if_gone("sb_vae", [e.path for e in vaes])
    vae = st.selectbox("VAE checkpoint", [e.path for e in vaes], index=0,
                       format_func=lambda p: by_path[p].label, key="sb_vae",
                       help="vae: plain; cvae: conditioned on the class; hybrid: VAE with a classifier head")

    options: list[Path | str] = [e.path for e in catalog.classifier_choices(entries, dataset)]
    if vae is not None and by_path[vae].kind == "hybrid":
        options.append(HEAD)
    _forget_if_gone("sb_classifier", options or [None])
    classifier = st.selectbox(
        "Classifier (judges every image)", options or [None], index=0, key="sb_classifier",
        format_func=lambda c: "the hybrid's own head" if c == HEAD else ("none" if c is None else by_path[c].label))
    if vae is not None and by_path[vae].problem == "" and by_path[vae].latent_dim:
        e = by_path[vae]
        st.caption(f"{kinds.label(e.kind)} · {e.latent_dim}-D latent space" + (f" · {e.origin}" if e.origin else ""),
                   help=str(e.path))
    return Choice(dataset=dataset, vae=vae, classifier=classifier)


def _forget_if_gone(key: str, options: list) -> None:
    """Drop a choice that is not among the options (another dataset's checkpoint of the same
    name keeps its label, so Streamlit would keep it chosen): the box falls back to its default."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def dataset_title(name: str) -> str:
    """A dataset's title; a folder of one's own images says so, with its side (one folder may be
    trained at 28, 32 and 64 px), read from its id alone: this runs on every rerun and, on the
    Train page, every second, so it never lists the folder."""
    if is_folder_id(name):
        from explorer.data.folders import parse_folder_id

        root, side = parse_folder_id(name)
        return f"{root.name or root} (your folder, {side} px)"
    try:
        spec = get_spec(name)
    except Exception:
        return name
    return spec.title
