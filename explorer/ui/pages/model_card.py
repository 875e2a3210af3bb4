"""Model card: the loaded checkpoints' test-set figures (metrics.json), training curves (the
history in config.json), configuration and their README, one tab per checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from explorer.figures import plots, plots_teach
from explorer.checkpoints.card import METRIC_NOTES, format_figure
from explorer.checkpoints import CARD_FILE, Checkpoint, CheckpointError
from explorer.ui import cache, factors, help
from explorer.ui.state import Context, context
from explorer.ui.present import font_scale
from explorer.ui.widgets import guarded

HEADLINE = {  # metric: (label, format)
    "neg_elbo": ("−ELBO", "{:.1f} nats"), "recon": ("Reconstruction", "{:.1f} nats"), "kl": ("KL", "{:.1f} nats"),
    "iwae_nll": ("IWAE NLL", "{:.1f} nats"), "active_units": ("Active units", "{:d}"),
    "accuracy": ("Accuracy", "{:.1%}"), "macro_f1": ("Macro-F1", "{:.3f}"),
    "conditional_fidelity": ("Conditional fidelity", "{:.1%}"),
}
PER_ROW = 3  # training-curve charts side by side
CURVES = [("Negative ELBO (nats)", ["train_neg_elbo", "test_neg_elbo"]),
          ("Reconstruction (nats)", ["train_recon", "test_recon"]), ("KL (nats)", ["train_kl", "test_kl"]),
          ("Accuracy", ["train_acc", "test_acc"]), ("Cross-entropy", ["train_ce", "test_ce"])]


def headline(m: dict) -> None:
    shown = [(k, v) for k, v in HEADLINE.items() if isinstance(m.get(k), (int, float))]
    if not shown:
        return
    cols = st.columns(min(len(shown), 5))
    for n, (k, (label, fmt)) in enumerate(shown):
        value = m[k]
        cols[n % len(cols)].metric(label, fmt.format(int(value) if fmt == "{:d}" else float(value)),
                                   help=METRIC_NOTES.get(k))


def figures_table(m: dict, key: str) -> None:
    rows = [{"figure": k, "value": format_figure(v), "meaning": METRIC_NOTES.get(k, "")} for k, v in m.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)]
    st.dataframe(rows, hide_index=True, width="stretch", key=f"{key}_figures", height=35 * (len(rows) + 1) + 3,
                 column_config={"meaning": st.column_config.TextColumn(width="large")})


def metrics_section(ckpt: Checkpoint, class_names: tuple[str, ...], key: str) -> None:
    m = ckpt.metrics
    if not m:
        st.warning(f"**{ckpt.name}** has no test-set figures yet (no readable metrics.json). Make them with "
                   f"`python -m explorer evaluate --checkpoint {ckpt.path}`.")
        return
    headline(m)
    figures_table(m, key)
    left, right = st.columns([1, 1], gap="large")
    with left:
        if m.get("confusion"):
            fig = cache.figure("card.confusion", (json.dumps(m["confusion"]), class_names, font_scale()),
                              lambda: plots_teach.confusion_figure(m["confusion"], class_names, font_scale=font_scale()))
            st.plotly_chart(fig, key=f"{key}_confusion", config={"displayModeBar": False})
            st.caption("Confusion matrix on the test set: rows are the true class, columns what the model said.")
    per_class = m.get("conditional_fidelity_per_class")
    with right if m.get("confusion") else left:
        if per_class and len(per_class) == len(class_names):
            fig = cache.figure("card.fidelity", (json.dumps(per_class), class_names, font_scale()),
                              lambda: plots_teach.per_class_bars(per_class, class_names, "fidelity",
                                                                 font_scale=font_scale()))
            st.plotly_chart(fig, key=f"{key}_fidelity", config={"displayModeBar": False})
            st.caption("Conditional fidelity per class: the share of samples asked for a class that the "
                       f"classifier ({m.get('judged_by', 'the CNN')}) assigns to it.")


def curves_section(ckpt: Checkpoint, key: str) -> None:
    history = ckpt.state.history
    if not history:
        st.info("No training history recorded in config.json.")
        return
    present = [(t, [k for k in keys if any(k in h for h in history)]) for t, keys in CURVES]
    present = [(t, keys) for t, keys in present if keys]
    shown = json.dumps(history, sort_keys=True, default=str)  # what the curves show: their cache key
    for n, (title, keys) in enumerate(present):
        if n % PER_ROW == 0:
            cols = st.columns(PER_ROW)
        with cols[n % PER_ROW]:
            # the legend in a row under the curves: beside them it took half of a narrow chart
            fig = cache.figure("card.curves", (shown, tuple(keys), title, font_scale()),
                              lambda keys=keys, title=title: plots.curves_figure(
                                  history, keys, title=title, height=340, font_scale=font_scale(), legend_below=True))
            st.plotly_chart(fig, key=f"{key}_curve{n}", config={"displayModeBar": False})
    minutes = sum(float(h.get("seconds", 0.0)) for h in history) / 60
    st.caption(f"{len(history)} epochs, {ckpt.state.step:,} steps, {minutes:.1f} min of training"
               f" ({ckpt.extra.get('device', 'device not recorded')}). Train figures are averages over each epoch; "
               "test figures are measured at its end.")


def config_section(ckpt: Checkpoint) -> None:
    settings = {**ckpt.model_cfg.to_dict(), **{f"train.{k}": v for k, v in ckpt.train_cfg.to_dict().items()}}
    st.markdown("| setting | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in settings.items()))
    command = ckpt.extra.get("command")
    if command:
        st.code(command, language="bash")


CARD_CHARS = 20_000  # of the model card shown; a longer card is cut


def readme(ckpt: Checkpoint) -> None:
    path = Path(ckpt.path) / CARD_FILE
    try:
        if not path.is_file():  # a named pipe or a folder in its place would block or fail the read
            raise OSError("not a regular file")
        with open(path, "rb") as f:  # the card's first CARD_CHARS characters: a bounded read
            text = f.read(4 * CARD_CHARS).decode("utf-8", errors="replace")[:CARD_CHARS]
    except OSError:
        st.info(f"No readable {CARD_FILE} in {ckpt.name}.")
        return
    st.markdown(text)


def card(ckpt: Checkpoint, class_names: tuple[str, ...], key: str) -> None:
    metrics_section(ckpt, class_names, key)
    st.subheader("Training curves")
    curves_section(ckpt, key)
    with st.expander("Configuration", key=f"{key}_config_box"):
        config_section(ckpt)
    with st.expander(f"The checkpoint's own card ({CARD_FILE})", key=f"{key}_readme_box"):
        readme(ckpt)


def checkpoints(ctx: Context) -> list[tuple[str, Checkpoint]]:
    """The loaded VAE, and the classifier that judges images when it is a separate checkpoint."""
    found = [(f"VAE: {ctx.vae.name}", ctx.vae)]
    choice = st.session_state.get("choice")
    classifier = getattr(choice, "classifier", None)
    if isinstance(classifier, Path) and ctx.has_classifier:
        try:
            found.append((f"Classifier: {classifier.name}", cache.checkpoint(classifier)))
        except CheckpointError as e:
            st.warning(f"The classifier's card cannot be read: {e}")
    return found


@guarded
def render() -> None:
    ctx = context()
    st.title("Model card")
    help.explain("card")
    found = checkpoints(ctx)
    for (title, ckpt), tab in zip(found, st.tabs([t for t, _ in found], key="card_tabs")):
        with tab:
            st.caption(f"`{ckpt.path.parent.name}/{ckpt.name}` · {ckpt.kind} · trained on {ckpt.dataset}")
            if ckpt is ctx.vae:  # which true factor each dimension tracks, when the dataset's are known
                factors.panel(ctx, key="card_factors")
            card(ckpt, ctx.class_names, key=f"card_{'clf' if title.startswith('Classifier') else 'vae'}")

render()
