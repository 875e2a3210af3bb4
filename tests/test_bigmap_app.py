"""The Map page with the training set: the toggle draws both sets, and a click on a training
point shows that training image (AppTest, tiny checkpoints)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from explorer.data import load_dataset
from helpers import chart_event, chart_spec, open_app, texts

WAIT_S = 120


def _whole(at):
    """Turn on the training set and run the page until its background work is done."""
    at.toggle(key="map_whole").set_value(True).run()
    deadline = time.monotonic() + WAIT_S
    while "training images" not in texts(at):
        assert not at.exception, at.exception
        assert time.monotonic() < deadline, texts(at)
        time.sleep(0.5)
        at.run()
    return at


def _points(spec: str) -> dict[str, int]:
    """Points per split in the chart's JSON (training traces are in the "train" legend group)."""
    counts = {"test": 0, "train": 0}
    for trace in json.loads(spec)["data"]:
        cd = trace.get("customdata")
        if trace.get("name") in ("selected", "path", "current code") or cd is None:
            continue
        n = len(cd) if isinstance(cd, list) else int(np.prod([int(d) for d in str(cd.get("shape", "0")).split(",")]))
        if n == 0 and isinstance(cd, dict):
            import base64
            n = len(base64.b64decode(cd["bdata"])) // np.dtype(cd["dtype"]).itemsize
        counts["train" if trace.get("legendgroup") == "train" else "test"] += n
    return counts


def test_the_plane_of_a_2d_latent_shows_both_sets_and_a_training_pick_shows_its_image(app_env):
    n_test, n_train = len(load_dataset("digits", "test").labels), len(load_dataset("digits", "train").labels)
    at = _whole(open_app(method=None))
    assert f"Latent plane of {n_test:,} test images and {n_train:,} training images" in texts(at)
    assert _points(chart_spec(at)) == {"test": n_test, "train": n_train}
    assert "training set (faint)" in chart_spec(at)
    # a click on a training point: the point's own trace and customdata, as the chart reports them
    trace = max((t for t in json.loads(chart_spec(at))["data"] if t.get("legendgroup") == "train" and "customdata" in t),
                key=lambda t: len(_decoded(t["customdata"])))
    j, x, y = (_decoded(trace[k])[-1] for k in ("customdata", "x", "y"))
    train = load_dataset("digits", "train")
    mu = _plane_codes(app_env, train)
    assert np.allclose(mu[int(j)], (x, y), atol=1e-4)  # the plane: the point is training image j's code
    at.session_state["map_chart"] = chart_event([{"customdata": [int(j)], "legendgroup": "train", "x": x, "y": y}])
    at.run()
    assert not at.exception
    assert [cap for img in at.image for cap in img.captions] == [f"train #{int(j)}"]
    assert f"True: **{train.spec.class_names[int(train.labels[int(j)])]}**" in texts(at)
    assert at.session_state["selected"] == []  # a training pick is not a test index for the other pages


def _decoded(value):
    if isinstance(value, list):
        return np.asarray(value)
    import base64
    return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))


def _plane_codes(app_env, train) -> np.ndarray:

    from explorer.analysis.latent import encode
    from explorer.checkpoints import load_checkpoint
    model = load_checkpoint(Path(app_env["EXPLORER_CHECKPOINTS"]) / "digits" / "vae-2d").model
    return encode(model, train.images)[0]


def test_every_colouring_draws_both_sets(app_env):
    """A projected map of both sets (PCA of the 10-D model's codes): every colouring draws every
    test and every training point. (The app opens on the 2-D model, which sets the method to its
    plane whatever open_app asked; the 10-D model, lacking a plane, falls back to UMAP.)"""
    n_test, n_train = len(load_dataset("digits", "test").labels), len(load_dataset("digits", "train").labels)
    at = open_app(vae="hybrid-10d", root=Path(app_env["EXPLORER_CHECKPOINTS"]))
    at = _whole(at.segmented_control(key="map_method").set_value("pca").run())
    assert f"PCA of {n_test:,} test images and {n_train:,} training images" in texts(at)
    for color in ("predicted", "correct", "confidence", "recon_error", "label"):
        at.selectbox(key="map_color").set_value(color).run()
        deadline = time.monotonic() + WAIT_S
        while "training images" not in texts(at):
            assert not at.exception and time.monotonic() < deadline, texts(at)
            time.sleep(0.5)
            at.run()
        assert not at.exception and not at.error, color
        assert f"PCA of {n_test:,} test images and {n_train:,} training images" in texts(at), color
        assert _points(chart_spec(at)) == {"test": n_test, "train": n_train}, color


def test_a_whole_map_worked_out_in_the_background_is_kept_as_the_map_of_both_sets_and_found_again(app_env):
    """A t-SNE map of both sets is computed by a background job and written under the key of the
    test codes followed by the training codes (the key maps made before keep); a restarted
    server shows that map, writing no other."""
    import streamlit as st

    from explorer.maps import projection

    folder = Path(app_env["EXPLORER_CHECKPOINTS"]) / "digits" / "vae-2d" / "projections"
    at = _whole(_tsne(open_app(method=None)))
    assert not at.exception and not at.error
    test, train = load_dataset("digits", "test"), load_dataset("digits", "train")
    codes = np.concatenate([_plane_codes(app_env, test), _plane_codes(app_env, train)])
    params = {"perplexity": float(projection.DEFAULT_PARAMS["tsne"]["perplexity"])}
    kept = projection.map_file(codes, "tsne", params, 0, folder)
    assert kept.is_file() and len(np.load(kept)["coords"]) == len(test.labels) + len(train.labels)
    files = sorted(folder.iterdir())

    st.cache_data.clear()  # as after a restart: nothing of the map is left in this process
    st.cache_resource.clear()
    at = _whole(_tsne(open_app(method=None)))  # (the training codes may be encoded again: another test's job held them)
    assert f"t-SNE of {len(test.labels)} test images and {len(train.labels):,} training images" in texts(at)
    assert sorted(folder.iterdir()) == files  # the map kept is the map shown: none computed beside it


def _tsne(at):
    """The map as t-SNE (a 2-D checkpoint opens as its plane, whatever the session held)."""
    at.segmented_control(key="map_method").set_value("tsne").run()
    assert "t-SNE of" in texts(at)
    return at
