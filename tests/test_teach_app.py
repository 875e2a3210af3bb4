"""App tests for the teaching pages (Learn, Anomalies, Model card, Tour), the help expanders,
the download buttons and the view kept in the URL. Tiny checkpoints from tests/helpers.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from helpers import APP, texts

TIMEOUT = 60


def run_app(page: str | None = None, query: dict | None = None, method: str | None = "pca") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if method:
        at.session_state["map_method"] = method
    if query:
        at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(f"ui/pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def md_table(at: AppTest, header: str) -> str:
    return next(m.value for m in at.markdown if m.value.startswith(header))


def z_rows(table: str) -> dict[str, tuple[float, float, float, float]]:
    """The Learn page's table: dim -> (mu, sigma, eps, z)."""
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        rows[cells[0]] = tuple(float(c) for c in cells[1:])
    return rows


# ---------------------------------------------------------------- Learn

def test_learn_shows_this_images_numbers_and_they_add_up(app_env):
    at = run_app("learn")
    assert "How a VAE sees an image" in at.title[0].value
    rows = z_rows(md_table(at, "| dim | mu |"))
    assert rows
    for mu, sigma, eps, z in rows.values():
        assert sigma > 0 and z == pytest.approx(mu + sigma * eps, abs=2e-3)   # the reparameterisation trick
    metrics = {m.label: m.value for m in at.metric}
    recon = float(metrics["Reconstruction: −log p(x|z)"].split()[0])
    kl = float(metrics["KL( q(z|x) ‖ p(z) )"].split()[0])
    assert float(metrics["−ELBO = sum"].split()[0]) == pytest.approx(recon + kl, abs=0.11)
    assert recon > 0 and kl >= 0
    assert "x: test image #0" in texts(at)
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "z = mu + sigma * eps" in specs and "test-set mean" in specs    # the posterior and KL pictures


def test_learn_new_eps_moves_z_but_not_mu_and_another_image_changes_mu(app_env):
    at = run_app("learn")
    before = z_rows(md_table(at, "| dim | mu |"))
    at.button(key="learn_new_eps").click().run()
    assert not at.exception
    assert at.number_input(key="learn_seed").value == 1
    after = z_rows(md_table(at, "| dim | mu |"))
    assert [r[0] for r in after.values()] == [r[0] for r in before.values()]      # mu: the same
    assert [r[3] for r in after.values()] != [r[3] for r in before.values()]      # z: a new draw
    at.number_input(key="learn_index").set_value(17).run()
    assert "x: test image #17" in texts(at)
    assert [r[0] for r in z_rows(md_table(at, "| dim | mu |")).values()] != [r[0] for r in after.values()]


def test_learn_shows_the_hybrids_head_only_for_a_hybrid(app_env, tiny_checkpoints):
    at = run_app("learn")
    assert "Pick a **hybrid** checkpoint" in texts(at)
    at.sidebar.selectbox(key="sb_vae").set_value(tiny_checkpoints / "digits" / "hybrid-10d").run()
    assert not at.exception
    assert "The head's verdict from mu alone (lambda = " in texts(at)
    assert "Pick a **hybrid** checkpoint" not in texts(at)


# ---------------------------------------------------------------- Anomalies

def strip_captions(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**Explained")]


def test_anomalies_shows_worst_and_best_with_reconstructions(app_env):
    at = run_app("anomalies")
    heads = strip_captions(at)
    assert heads[0].startswith("**Explained worst of all test images") and heads[1].startswith("**Explained best")
    assert len(at.image) >= 2 and "Anomaly detection with a VAE" in texts(at)
    assert {b.label for b in at.get("download_button")} == {"PNG"}


def test_anomalies_per_class_and_selecting_them_for_the_map(app_env):
    at = run_app("anomalies")
    at.selectbox(key="anom_class").set_value(3).run()
    at.slider(key="anom_n").set_value(5).run()
    assert not at.exception
    assert "among the 3 test images" in strip_captions(at)[0]
    at.button(key="anom_worst_select").click().run()
    picked = at.session_state["selected"]
    assert len(picked) == 5
    at.switch_page("ui/pages/map.py").run()
    assert "**5 selected**" in texts(at)


def test_anomalies_reconstruction_score_ranks_by_reconstruction_error(app_env):
    at = run_app("anomalies")
    at.segmented_control(key="anom_score").set_value("recon_at_mu").run()
    assert not at.exception
    assert "highest reconstruction error" in strip_captions(at)[0]


# ---------------------------------------------------------------- Model card

@pytest.fixture
def evaluated(tiny_checkpoints, tmp_path, monkeypatch, app_env) -> Path:
    """A copy of the tiny checkpoints with metrics.json written by the real evaluate."""
    import shutil

    from explorer.training.evaluate import run_evaluate
    root = tmp_path / "evaluated"
    shutil.copytree(tiny_checkpoints, root)
    run_evaluate(str(root / "digits" / "hybrid-10d"), classifier=None, iwae_k=3, data_dir=None, reference=False)
    run_evaluate(str(root / "digits" / "classifier"), classifier=None, iwae_k=3, data_dir=None, reference=False)
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(root))
    return root


def test_model_card_without_metrics_says_how_to_make_them(app_env):
    at = run_app("model_card")
    assert "has no test-set figures yet" in texts(at) and "python -m explorer evaluate --checkpoint" in texts(at)
    assert "Training curves" in [h.value for h in at.subheader]


def test_model_card_shows_figures_curves_confusion_and_config(evaluated):
    at = run_app("model_card")
    at.sidebar.selectbox(key="sb_vae").set_value(evaluated / "digits" / "hybrid-10d").run()
    assert not at.exception
    labels = {m.label for m in at.metric}
    assert {"−ELBO", "KL", "IWAE NLL", "Active units", "Accuracy", "Macro-F1"} <= labels
    tabs = [t.label for t in at.tabs]
    assert tabs == ["VAE: hybrid-10d", "Classifier: classifier"]
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any('"heatmap"' in s for s in specs)                      # a confusion matrix
    assert any("train_neg_elbo" in s for s in specs)                 # the training curves
    assert "| latent_dim | 10 |" in texts(at)                         # the configuration
    assert "# hybrid-10d" in texts(at) or "hybrid-10d:" in texts(at)  # the checkpoint's README card


# ---------------------------------------------------------------- Tour

def test_tour_steps_forward_and_back_through_every_step(app_env):
    at = run_app("tour")
    assert at.title[0].value == "1. Every dot is an image"
    assert at.button(key="tour_back_bottom").disabled
    titles = [at.title[0].value]
    for _ in range(5):
        at.button(key="tour_next_bottom").click().run()
        assert not at.exception and not at.error, at.error
        titles.append(at.title[0].value)
    assert titles == ["1. Every dot is an image", "2. From image to code and back", "3. Walk along one dimension",
                      "4. Morph one thing into another", "5. Ask for a class", "6. What the model finds strange"]
    assert at.button(key="tour_next_bottom").disabled
    assert at.query_params["step"] == "6"
    at.button(key="tour_back_bottom").click().run()
    assert at.title[0].value.startswith("5.")


def test_tour_asks_the_datasets_cvae_for_every_class(app_env):
    at = run_app("tour", query={"step": "5"})
    assert at.title[0].value == "5. Ask for a class"
    assert "A **conditional** VAE (cvae-4d)" in texts(at)


# ---------------------------------------------------------------- help, downloads, large type

@pytest.mark.parametrize("page", ["map", "traverse", "interpolate", "generate", "anomalies", "model_card"])
def test_every_page_explains_itself_behind_a_closed_expander(app_env, page):
    at = run_app(page)
    boxes = [e for e in at.expander if e.label == "What am I looking at?"]
    assert len(boxes) == 1
    assert not boxes[0].proto.expanded
    assert len(boxes[0].markdown[0].value) > 150


@pytest.mark.parametrize("page, labels", [("map", {"PNG", "HTML", "CSV"}), ("interpolate", {"Strip PNG", "Animated GIF"}),
                                          ("traverse", {"Grid PNG", "z? GIF"}), ("generate", {"PNG"})])
def test_pages_offer_their_downloads(app_env, page, labels):
    at = run_app(page)
    shown = {re.sub(r"^z\d+ ", "z? ", b.label) for b in at.get("download_button")}   # the traversal GIF names its dim
    assert labels <= shown


def test_large_type_toggle_styles_every_page(app_env):
    at = run_app("map")
    css = lambda: [h.proto.body for h in at.get("html") if "font-size: 1.45rem" in h.proto.body]  # noqa: E731
    assert not css()
    at.sidebar.toggle(key="big_type").set_value(True).run()
    assert css()
    at.switch_page("ui/pages/traverse.py").run()
    assert css()


# ---------------------------------------------------------------- the URL

def test_a_link_reopens_checkpoint_selection_and_map_settings(app_env):
    at = run_app(query={"ckpt": "digits/cvae-4d", "clf": "digits/classifier", "sel": "5,7",
                        "map_color": "Correct / misclassified"}, method=None)
    assert at.sidebar.selectbox(key="sb_vae").value.name == "cvae-4d"
    assert at.selectbox(key="map_color").value == "correct"
    assert "**2 selected**" in texts(at)
    assert not at.toast


def test_a_link_reopens_an_interpolation(app_env):
    at = run_app(query={"a": "11", "b": "42", "interp_steps": "7", "interp_method": "Slerp"})  # default checkpoint
    at.switch_page("ui/pages/interpolate.py").run()
    assert not at.exception
    assert "**A**: test image #11 (" in texts(at) and "**B**: test image #42 (" in texts(at)
    assert at.slider(key="interp_steps").value == 7
    assert at.segmented_control(key="interp_method").value == "slerp"
    assert at.query_params["a"] == "11" and at.query_params["b"] == "42"


def test_the_url_follows_the_view(app_env, tiny_checkpoints):
    at = run_app()
    assert at.query_params["ckpt"] == "digits/vae-2d"
    at.sidebar.selectbox(key="sb_vae").set_value(tiny_checkpoints / "digits" / "hybrid-10d").run()
    assert at.query_params["ckpt"] == "digits/hybrid-10d"
    at.session_state["selected"], at.session_state["selected_for"] = [3, 9], "digits"
    at.run()
    assert at.query_params["sel"] == "3,9"


@pytest.mark.parametrize("query, named", [
    ({"ckpt": "../../../etc/passwd"}, "no VAE checkpoint"),
    ({"ckpt": "digits/broken"}, "no VAE checkpoint"),
    ({"ckpt": "digits/classifier"}, "no VAE checkpoint"),
    ({"ckpt": "digits/vae-2d", "sel": "5,x"}, "selected images"),
    ({"ckpt": "digits/vae-2d", "sel": "99999"}, "selected images"),
    ({"ckpt": "digits/vae-2d", "clf": "/tmp/elsewhere"}, "no classifier"),
    ({"step": "-3"}, "tour step"),
    ({"whatever": "1"}, "unknown `whatever`"),
    ({"map_color": "purple"}, "map_color=purple"),
])
def test_a_bad_link_is_ignored_with_a_notice(app_env, query, named):
    at = run_app(query=query, method=None)
    assert not at.exception and not at.error
    assert at.sidebar.selectbox(key="sb_vae").value.name == "vae-2d"          # the default view
    assert len(at.toast) == 1 and named in at.toast[0].value
    at.run()
    assert not at.toast                                                    # said once, not on every rerun
