"""Train: pick a model and its settings, train it in the background, watch it learn.

The run is a child process (explorer.training.jobs) on the same loop as the CLI; this page only
starts it and reads its status files, so the page, and every other session, stay responsive.
A session sees the runs it started (and a run named in the URL, `?run=ID`, so a reload finds
it again); leaving the page does not stop a run.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import streamlit as st

from explorer.figures import grids, plots
from explorer.core.config import VAE_KINDS, checkpoint_name
from explorer.data import get_spec
from explorer.training import jobs
from explorer.training.device import available_devices
from explorer.checkpoints import catalog
from explorer.data import dataset_dir_name
from explorer.core import kinds
from explorer.training.settings import QUICK, SIZES, SettingsError, TrainSettings, job_spec, process_choices
from explorer.ui import cache
from explorer.ui.folder_choice import choose_dataset
from explorer.ui.sidebar import dataset_title
from explorer.ui.widgets import guarded, show_in

MY_RUNS = "train_runs"     # run ids this session started or opened, newest first
VIEW = "train_view"        # the run shown in the live panel
KINDS = {name: k.choice for name, k in kinds.KINDS.items()}
LATENTS = [2, 4, 8, 16, 32, 64]
BATCHES = [32, 64, 128, 256, 512]
LRS = [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2]
TT = ("train", "test")


def session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "local"


def my_runs() -> list[str]:
    runs = list(st.session_state.get(MY_RUNS, []))
    linked = st.query_params.get("run")
    if linked and linked not in runs:
        try:
            jobs.get(linked)
            runs.insert(0, linked)
            st.session_state[VIEW] = linked
        except jobs.JobError:
            st.warning(f"The link names a training run ({linked}) that is not on this server any more.")
            del st.query_params["run"]
    st.session_state[MY_RUNS] = runs
    return runs


def free_name(root: Path, dataset: str, name: str) -> str:
    """`name`, or `name-2`, `name-3`... if a checkpoint of that name exists."""
    folder = root / dataset_dir_name(dataset)
    if not (folder / name).exists():
        return name
    i = 2
    while (folder / f"{name}-{i}").exists():
        i += 1
    return f"{name}-{i}"


# ---------------------------------------------------------------- the settings form

def settings_form() -> TrainSettings | None:
    """The settings column's widgets; their values when Start was pressed, else None."""
    dataset = choose_dataset(cache.available())
    if dataset is None:
        return None
    kind = st.selectbox("Model", list(KINDS), format_func=KINDS.get, key="tr_kind")
    c1, c2 = st.columns(2)
    latent_dim, beta, cls_weight = vae_settings(kind, c1, c2) if kind in VAE_KINDS else (2, 1.0, 0.0)
    epochs = c1.number_input("Epochs", 1, 200, 10 if dataset == "digits" else 3, key="tr_epochs")
    batch = c2.select_slider("Batch size", BATCHES, value=128 if dataset != "digits" else 64, key="tr_batch")
    lr = c1.select_slider("Learning rate", LRS, value=1e-3, key="tr_lr", format_func=lambda v: f"{v:g}")
    seed = c2.number_input("Seed", 0, 2**31 - 1, 0, key="tr_seed")
    size = c1.selectbox("Network", list(SIZES), key="tr_size", disabled=dataset == "digits",
                        help="small: about a third of full's time an epoch on a CPU; full: the shipped models' size")
    devices = available_devices()
    described = dict(devices)
    device = st.selectbox("Device", [d for d, _ in devices], format_func=described.get, key="tr_device")
    counts, note = process_choices(sum(d.startswith("cuda:") for d, _ in devices))
    if len(counts) == 1:
        st.caption(note)
    processes = st.selectbox("Processes", counts, index=len(counts) - 1, key="tr_procs",
                             help=note) if len(counts) > 1 else 1
    root = catalog.default_root()
    suggested = free_name(root, dataset, checkpoint_name(kind, latent_dim, beta, cls_weight))
    name = st.text_input("Checkpoint name", value=suggested, key=f"tr_name_{dataset}_{kind}_{latent_dim}_{beta}_{cls_weight}",
                         help=f"Saved as {root}/{dataset_dir_name(dataset)}/NAME")
    start = st.button("Start training", type="primary", key="tr_start", icon=":material/play_arrow:",
                      width="stretch")
    if not start:
        return None
    return TrainSettings(dataset=dataset, kind=kind, latent_dim=latent_dim, beta=beta, cls_weight=cls_weight,
                         epochs=epochs, batch_size=batch, lr=lr, seed=seed, device=device, name=name, size=size,
                         processes=processes)


def vae_settings(kind: str, c1, c2) -> tuple[int, float, float]:
    """A VAE's latent dimensions, beta and lambda (the weight of a hybrid's or cvae's classifier loss)."""
    latent_dim = c1.select_slider("Latent dimensions", LATENTS, value=2, key="tr_latent",
                                  help="2 makes the latent plane itself the map")
    beta = c2.select_slider("beta (weight of the KL term)", [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0], value=1.0,
                            key="tr_beta", help="Above 1 pushes codes toward the prior: smoother, blurrier, and "
                                               "at large beta whole dimensions collapse (they carry no information)")
    cls_weight = 0.0
    if kind == "hybrid":
        cls_weight = st.select_slider("lambda (weight of the classifier's cross-entropy)",
                                      [0.0, 1.0, 5.0, 10.0, 20.0, 50.0], value=10.0, key="tr_lambda",
                                      help="0: a plain VAE with an untrained head; larger: the latent space "
                                           "organises itself by class")
    elif kind == "cvae":
        cls_weight = st.select_slider("lambda (make samples recognisable)", [0.0, 1.0, 3.0, 10.0, 30.0],
                                      value=0.0, key="tr_lambda_cvae",
                                      help="0: a plain conditional VAE. Above 0, a small helper CNN learns the "
                                           "classes, and the decoder learns to draw samples it recognises: "
                                           "coats with their opening, sandals with straps. Costs about twice "
                                           "the time per epoch")
    return latent_dim, beta, cls_weight


def quick_button() -> TrainSettings | None:
    """One click for a Fashion-MNIST model worth exploring within a couple of minutes on a CPU."""
    if QUICK.dataset not in cache.available():
        return None
    if not st.button("Quick: 16-D vae, 3 epochs", key="tr_quick", icon=":material/bolt:", width="stretch",
                     help="Fashion-MNIST, a small network, 3 epochs: under a minute on an idle 2-core CPU, a "
                          "couple of minutes on a busy one, and a model whose map already sorts the classes"):
        return None
    name = free_name(catalog.default_root(), QUICK.dataset, QUICK.name)
    return TrainSettings(**{**QUICK.__dict__, "name": name})


def settings() -> jobs.JobSpec | None:
    """The settings column; returns a spec when Start (or Quick) was pressed and the settings are sound."""
    quick = quick_button()
    chosen = settings_form() or quick
    if chosen is None:
        return None
    entries = cache.checkpoint_entries(tuple(str(r) for r in catalog.checkpoint_roots()))
    classifiers = [e.path for e in catalog.classifier_choices(entries, chosen.dataset) if not e.problem]
    try:
        return job_spec(chosen, catalog.default_root(), classifiers, owner=session_id())
    except SettingsError as e:
        st.error(str(e))
        return None


def launch(spec: jobs.JobSpec) -> None:
    try:
        run = jobs.start(spec)
    except jobs.JobError as e:
        st.error(f"Training did not start: {e}")
        return
    # one entry per checkpoint: a resumed run replaces the run it goes on from
    others = [rid for rid in st.session_state.get(MY_RUNS, []) if not _trains_into(rid, run.out)]
    st.session_state[MY_RUNS] = [run.id, *others]
    st.session_state[VIEW] = run.id
    st.query_params["run"] = run.id


def _trains_into(run_id: str, out: Path) -> bool:
    try:
        return jobs.get(run_id).out == out
    except jobs.JobError:
        return False


# ---------------------------------------------------------------- the live panel

def curves(history: list[dict], kind: str) -> None:
    if not history:
        st.caption("The curves appear after the first epoch.")
        return
    if kind == "classifier":
        cols = st.columns(2)
        cols[0].plotly_chart(plots.curves_figure(history, ["train_ce", "test_ce"], "Cross-entropy", height=260, names=TT),
                             key="tr_curve_ce")
        cols[1].plotly_chart(plots.curves_figure(history, ["train_acc", "test_acc"], "Accuracy", height=260, names=TT),
                             key="tr_curve_acc")
        return
    cols = st.columns(3 if kind == "hybrid" else 2)
    cols[0].plotly_chart(plots.curves_figure(history, ["train_recon", "test_recon"],
                                             "Reconstruction (nats/image)", height=260, names=TT), key="tr_curve_recon")
    cols[1].plotly_chart(plots.curves_figure(history, ["train_kl", "test_kl"], "KL to the prior (nats/image)",
                                             height=260, names=TT), key="tr_curve_kl")
    if kind == "hybrid":
        cols[2].plotly_chart(plots.curves_figure(history, ["train_acc", "test_acc"], "Head accuracy", height=260, names=TT),
                             key="tr_curve_acc")


def snapshot_view(run: jobs.Run) -> None:
    snap = jobs.read_snapshot(run)
    if snap is None or "coords" not in snap:
        return
    names = get_spec(run.status.get("dataset") or run.spec.train["dataset"]).class_names
    epoch = int(snap["epoch"])
    left, right = st.columns([3, 2])
    with left:
        latent_dim = int(run.spec.model.get("latent_dim", 2))
        how = "the latent plane" if latent_dim <= 2 else "PCA"  # the half column holds ~40 characters
        fig = plots.latent_map(snap["coords"], "label", snap["labels"], list(names), height=380,
                               title=f"Test codes, epoch {epoch} ({how})")
        fig.update_layout(uirevision=None)
        st.plotly_chart(fig, key="tr_map", config={"displayModeBar": False})
    with right:
        images, recon = snap["images"], snap["recon"]
        n = len(images)  # rows of equal length, so each reconstruction sits under its image
        per_row = next(k for k in range(min(STRIP_PER_ROW, n), 0, -1) if n % k == 0)
        rows = []  # a row of test images, then the row of their reconstructions, and again
        for i in range(0, len(images), per_row):
            rows += [images[i:i + per_row], recon[i:i + per_row]]
        side = images.shape[-1]
        grid = grids.image_grid(np.concatenate(rows), per_row, scale=max(2, STRIP_CELL_PX // side))
        show_in(st, grid, caption=f"Test images, each row over its reconstructions, after epoch {epoch}")


STRIP_PER_ROW = 5   # at most, per row of the strip: the half column shows each at about STRIP_CELL_PX
STRIP_CELL_PX = 84  # px per image, 8x8 digits and 28x28 Fashion-MNIST alike


def open_in_explorer(run: jobs.Run) -> None:
    """Callback: select the new checkpoint in the sidebar (callbacks run before the widgets)."""
    cache.checkpoint_entries.clear()
    st.session_state["sb_dataset"] = run.spec.train["dataset"]
    if run.spec.model.get("kind") == "classifier":
        st.session_state["sb_classifier"] = run.out
    else:
        st.session_state["sb_vae"] = run.out


def actions(run: jobs.Run) -> None:
    cols = st.columns(4)
    if run.active:
        if cols[0].button("Cancel", key=f"tr_cancel_{run.id}", icon=":material/stop:",
                          help="Stops within a second or two; the checkpoint keeps the last completed epoch"):
            jobs.cancel(run)
            st.toast("Cancelling: the run stops after the current step.")
        return
    kept = int(run.status.get("epoch_done") or 0) > 0 and run.out.exists()
    if kept and run.state in ("cancelled", "stopped", "diverged", "failed"):
        if cols[0].button("Resume", key=f"tr_resume_{run.id}", icon=":material/play_arrow:", type="primary",
                          help="Go on from the last completed epoch, with the same optimiser state"):
            spec = jobs.JobSpec(**{**run.spec.__dict__, "resume": True, "owner": session_id()})
            launch(spec)
            st.rerun()
    if kept:
        if cols[1].button("Open in Map", key=f"tr_open_{run.id}", icon=":material/scatter_plot:",
                          on_click=open_in_explorer, args=(run,), type="primary" if run.state == "finished" else
                          "secondary"):
            page = "ui/pages/map.py" if run.spec.model.get("kind") != "classifier" else "ui/pages/generate.py"
            st.switch_page(page)


def panel(run: jobs.Run) -> None:
    kind = run.spec.model.get("kind", "vae")
    st.subheader(f"{run.name}  ·  {KINDS.get(kind, kind).split(':')[0]} on {dataset_title(run.spec.train['dataset'])}")
    frac, text = jobs.progress_text(run.status)
    st.progress(frac, text=text)
    msg = run.status.get("message", "")
    if run.state in ("diverged", "failed", "stopped"):
        st.error(msg)
    elif run.state == "cancelled":
        st.warning(msg)
    elif run.state == "finished":
        metrics = run.status.get("metrics") or {}
        figures = [(k, metrics[k]) for k in ("neg_elbo", "recon", "kl", "iwae_nll", "active_units", "accuracy",
                                             "macro_f1", "conditional_fidelity") if k in metrics]
        st.success(f"Finished: {msg}. Checkpoint: `{run.out}`")
        if figures:
            cols = st.columns(len(figures))
            for col, (k, v) in zip(cols, figures):
                col.metric(k, f"{v:.3f}" if isinstance(v, float) and abs(v) < 10 else f"{v:.1f}"
                           if isinstance(v, float) else f"{v}")
    else:
        device = run.status.get("device", "")
        st.caption(msg if not device or device in msg else f"{msg} · {device}")
    actions(run)


def drawn_key(run: jobs.Run) -> tuple:
    """What the curves and the map show: they are redrawn only when this changes."""
    return run.state, int(run.status.get("epoch_done") or 0), len(jobs.snapshot_epochs(run))


def _live_panel(run_id: str, was_active: bool) -> None:
    """One read of the run's status per redraw: the header, the progress bar and the buttons.
    The curves and the map are drawn outside, once per epoch, so a second's poll costs little
    CPU in the server and the browser, which share the machine with the training."""
    try:
        run = jobs.get(run_id)
    except jobs.JobError:
        st.info("That run is gone (its folder was removed).")
        run = None
    if run is not None:
        guarded(panel)(run)
    if was_active and (run is None or not run.active):
        st.rerun()  # the run ended: redraw the whole page once and stop polling
    if run is not None and st.session_state.get(f"tr_drawn_{run_id}") != drawn_key(run):
        st.rerun()  # a new epoch: redraw its curves and map once


_polling = st.fragment(_live_panel, run_every=1.0)  # redraws itself every second: only it reruns
_still = st.fragment(_live_panel)


def live(run_id: str) -> None:
    """The run's panel; while the run is active it polls its status files every second."""
    try:
        run = jobs.get(run_id)
    except jobs.JobError:
        run = None
    if run is not None:
        st.session_state[f"tr_drawn_{run_id}"] = drawn_key(run)  # before the fragment compares with it
    active = run is not None and run.active
    (_polling if active else _still)(run_id, active)
    if run is not None:
        guarded(views)(run)


def views(run: jobs.Run) -> None:
    """The run's learning curves and its latest snapshot (the map and the reconstructions)."""
    curves(run.history, run.spec.model.get("kind", "vae"))
    snapshot_view(run)


def runs_table(runs: list[str]) -> None:
    """Pick which of this session's runs the panel shows (when there is more than one).

    The labels never change while a run goes on (its state is in the panel), and the widget's
    key names the list of runs, so a new run gets a fresh widget that shows it."""
    rows = []
    for rid in runs:
        try:
            run = jobs.get(rid)
        except jobs.JobError:
            continue
        started = time.strftime("%H:%M:%S", time.localtime(float(run.status.get("started") or 0)))
        rows.append((rid, f"{run.name} ({dataset_title(run.spec.train['dataset'])}, {started})"))
    if len(rows) > 1:
        labels = dict(rows)
        ids = [r for r, _ in rows]
        current = st.session_state.get(VIEW)
        pick = st.radio("Your runs", ids, index=ids.index(current) if current in ids else 0,
                        format_func=labels.get, key=f"train_pick_{len(ids)}_{ids[0]}", horizontal=True)
        st.session_state[VIEW] = pick


@guarded
def render() -> None:
    st.title("Train a model")
    with st.expander("What am I looking at?"):
        st.markdown(
            "Pick a model and its settings and press **Start**. Training runs in the background on the same "
            "loop as `python -m explorer train`: the curves show the two parts of the loss, **reconstruction** "
            "(how well the decoder redraws the image) and **KL** (how far the codes are from the prior), on the "
            "training and the test images. The map shows where the test images' codes sit after each epoch: "
            "watch the classes sort themselves out. Cancel keeps the last completed epoch; Resume goes on from it. "
            "When a run finishes, its test-set figures are measured and **Open in Map** explores it.")
    runs = my_runs()
    left, right = st.columns([1, 2.4], gap="large")
    with left:
        spec = settings()
        if spec is not None:
            launch(spec)
            runs = st.session_state[MY_RUNS]
    with right:
        if not runs:
            st.info("No run yet in this session. Choose the settings on the left and press **Start training**. "
                    "Try digits with a 2-D latent first: it trains in seconds.")
            return
        if st.session_state.get(VIEW) not in runs:
            st.session_state[VIEW] = runs[0]
        runs_table(runs)
        live(st.session_state[VIEW])


render()
