"""A PyTorch model by explicit trust: only a factory the user names is imported, and each way a
named factory can fail ends in a message that names it."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from explorer.analysis import latent
from explorer.checkpoints import ExternalModelError, load_checkpoint
from explorer.checkpoints import factory
from explorer.checkpoints.catalog import scan

import factories


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(factory.FACTORY_ENV, raising=False)


def test_a_named_factory_is_a_checkpoint_that_every_verb_runs_on():
    ckpt = load_checkpoint(factory.factory_folder("factories:good"))
    assert (ckpt.kind, ckpt.dataset, ckpt.model_cfg.latent_dim) == ("hybrid", "digits", 3)
    assert ckpt.origin == "PyTorch factory factories:good"
    x = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    mu, logvar = latent.encode(ckpt.model, x)
    assert mu.shape == logvar.shape == (5, 3)
    assert latent.decode(ckpt.model, mu).shape == (5, 1, 8, 8)
    pred, proba = latent.classify(ckpt.model, x)
    assert pred.shape == (5,) and np.allclose(proba.sum(1), 1, atol=1e-5)


def test_the_sidebar_lists_a_named_factory_with_its_origin(monkeypatch):
    monkeypatch.setenv(factory.FACTORY_ENV, "factories:good")
    [entry] = scan([], factories=None)
    assert (entry.kind, entry.dataset) == ("hybrid", "digits") and entry.origin == "PyTorch factory factories:good"


def test_a_folder_naming_a_factory_the_user_did_not_name_is_refused(tmp_path):
    folder = factory.factory_folder("factories:nan_decoder")  # loaded, so trusted in this process...
    moved = tmp_path / "elsewhere"
    folder.rename(moved)
    text = (moved / "model.json").read_text().replace("factories:nan_decoder", "factories:raises")
    (moved / "model.json").write_text(text)  # ...but a folder naming another is not obeyed
    with pytest.raises(ExternalModelError, match=r"names the factory factories:raises, which you have not named"):
        load_checkpoint(moved)


def test_a_factory_that_cannot_be_imported():
    with pytest.raises(ExternalModelError, match=r"no_such_package.models:load cannot be imported.*PYTHONPATH"):
        factory.load("no_such_package.models:load")
    with pytest.raises(ExternalModelError, match=r"factories:missing cannot be imported \(AttributeError"):
        factory.load("factories:missing")
    with pytest.raises(ExternalModelError, match=r"is not a factory name; write package.module:function"):
        factory.load("os.system('echo hi')")


def test_a_factory_that_raises():
    with pytest.raises(ExternalModelError, match=r"factories:raises raised RuntimeError: the weights file"):
        factory.load("factories:raises")


@pytest.mark.parametrize("name, words", [("factories:wrong_type", "returned a dict, which has no encode or decode"),
                                         ("factories:no_dataset", "has dataset 'imagenet'")])
def test_a_factory_that_returns_the_wrong_thing(name, words):
    with pytest.raises(ExternalModelError, match=words):
        factory.load(name)


def test_a_factory_that_hangs_is_given_up_on_within_its_bound():
    try:
        with pytest.raises(ExternalModelError, match=r"factories:hangs did not return within 0.5 s"):
            factory.load("factories:hangs", timeout_s=0.5)
        with pytest.raises(ExternalModelError, match=r"factories:hangs did not return"):  # the sidebar's next scan
            factory.load("factories:hangs")
        hung = [t for t in threading.enumerate() if t.name == "factory factories:hangs"]
        assert len(hung) == 1  # not started again
    finally:
        factories.RELEASE.set()  # let its thread end


def test_nan_from_a_factory_model_is_a_clear_message():
    ckpt = load_checkpoint(factory.factory_folder("factories:nan_decoder"))
    with pytest.raises(ExternalModelError, match=r"PyTorch factory factories:nan_decoder gave 64 NaN or infinite"):
        latent.decode(ckpt.model, np.zeros((1, 3), np.float32))


def test_a_failing_factory_is_listed_marked_under_every_dataset(monkeypatch):
    monkeypatch.setenv(factory.FACTORY_ENV, "factories:raises")
    entries = scan([], factories=None)
    assert entries and all("raised RuntimeError" in e.problem for e in entries)
    assert {e.dataset for e in entries} >= {"digits", "fashion-mnist"}


def test_a_conditional_factory_model_takes_the_class():
    ckpt = load_checkpoint(factory.factory_folder("factories:conditional"))
    assert ckpt.kind == "cvae"
    mu, _ = latent.encode(ckpt.model, np.zeros((2, 1, 8, 8), np.float32), np.array([0, 4]))
    assert np.allclose(mu[:, 0], [0, 4])
    images = latent.decode(ckpt.model, np.zeros((2, 3), np.float32), np.array([0, 2]))
    assert np.allclose(images[:, 0, 0, 0], [0.5, 1 / (1 + np.exp(-2))], atol=1e-5)  # probabilities, read back
