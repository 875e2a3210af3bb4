"""The training loop: it learns, it is reproducible, it resumes, and it stops cleanly
(cancelled or diverged) with the weights of the last completed epoch."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from explorer.checkpoints import load_checkpoint, save_checkpoint
from explorer.core.config import replace
from explorer.models import LossTerms, build_model
from explorer.training import DeviceError, Progress, evaluate_losses, select_device, train
from explorer.training import device as device_module
from explorer.training.loop import _augment

from helpers import synthetic_dataset, tiny_model_cfg, tiny_train_cfg

pytestmark = pytest.mark.usefixtures("explorer_env")

STEPS_PER_EPOCH = 4  # 64 images in batches of 16


def as_tensors(data):
    return torch.as_tensor(data.images), torch.as_tensor(data.labels)


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def snapshot(model) -> dict:
    return copy.deepcopy(model.state_dict())


# ---------------------------------------------------------------- it learns

@pytest.mark.parametrize("kind, term", [("vae", "neg_elbo"), ("classifier", "ce")])
def test_a_few_epochs_lower_the_test_loss(kind, term, tiny_data, tiny_test_data):
    cfg = tiny_model_cfg(kind)
    x, y = as_tensors(tiny_test_data)
    torch.manual_seed(0)
    before = evaluate_losses(build_model(cfg), x, y)[term]
    result = train(cfg, tiny_train_cfg(epochs=12), tiny_data, tiny_test_data)
    after = evaluate_losses(result.model, x, y)[term]
    assert result.state.status == "finished"
    assert result.state.epoch == 12 and result.state.step == 12 * STEPS_PER_EPOCH
    assert after < 0.9 * before, f"{term}: {before:.3f} -> {after:.3f}"
    history = result.state.history
    assert [h["epoch"] for h in history] == list(range(1, 13))
    assert history[-1][f"train_{term}"] < history[0][f"train_{term}"]
    assert history[-1][f"test_{term}"] == pytest.approx(after, rel=0.2)
    assert not result.model.training, "train() hands back a model in eval mode"


def test_classifier_learns_to_tell_the_classes_apart(tiny_data):
    result = train(tiny_model_cfg("classifier"), tiny_train_cfg(epochs=10), tiny_data, tiny_data)
    assert result.state.history[-1]["test_acc"] > 0.8


def test_max_steps_caps_the_run(tiny_data):
    result = train(tiny_model_cfg("vae"), tiny_train_cfg(epochs=5, max_steps=6), tiny_data)
    assert result.state.step == 6
    assert result.state.status == "finished"


# ---------------------------------------------------------------- reproducible

def test_same_seed_gives_identical_weights(tiny_data):
    cfg, tc = tiny_model_cfg("cvae"), tiny_train_cfg(augment="shift", kl_warmup_epochs=1.0)
    a = train(cfg, tc, tiny_data).model.state_dict()
    b = train(cfg, tc, tiny_data).model.state_dict()
    assert_same_weights(a, b)
    c = train(cfg, replace(tc, seed=1), tiny_data).model.state_dict()
    assert any(not torch.equal(a[k], c[k]) for k in a), "a different seed should give different weights"


# ---------------------------------------------------------------- resume

def test_resume_from_a_checkpoint_continues_where_it_stopped(tmp_path, tiny_data, tiny_test_data):
    cfg, tc = tiny_model_cfg("vae"), tiny_train_cfg(epochs=1)
    first = train(cfg, tc, tiny_data, tiny_test_data)
    path = save_checkpoint(tmp_path / "ckpt", first.model, cfg, tc, "digits", first.state, optimizer=first.optimizer)

    ckpt = load_checkpoint(path, with_optimizer=True)
    assert ckpt.extra["optimizer_state"] is not None
    tc2 = replace(ckpt.train_cfg, epochs=3)
    resumed = train(ckpt.model_cfg, tc2, tiny_data, tiny_test_data, model=ckpt.model,
                    optimizer_state=ckpt.extra["optimizer_state"], state=ckpt.state)
    st = resumed.state
    assert st.status == "finished"
    assert st.epoch == 3
    assert st.step == 3 * STEPS_PER_EPOCH
    assert [h["epoch"] for h in st.history] == [1, 2, 3]
    assert st.history[0] == first.state.history[0], "the first epoch's record is carried over"

    # With a constant lr the resumed run is the run that was never stopped.
    straight = train(cfg, replace(tc, epochs=3), tiny_data, tiny_test_data)
    assert_same_weights(resumed.model.state_dict(), straight.model.state_dict())


def test_resume_of_a_finished_run_does_nothing(tiny_data):
    cfg, tc = tiny_model_cfg("vae"), tiny_train_cfg(epochs=1)
    first = train(cfg, tc, tiny_data)
    weights = snapshot(first.model)
    again = train(cfg, tc, tiny_data, model=first.model, optimizer_state=first.optimizer.state_dict(),
                  state=first.state)
    assert again.state.step == STEPS_PER_EPOCH and again.state.epoch == 1
    assert_same_weights(again.model.state_dict(), weights)


# ---------------------------------------------------------------- cancel and divergence

def test_cancel_keeps_the_last_completed_epoch(tiny_data):
    saved = []
    asked = {"n": 0}

    def should_stop():  # asked once before each step: stop in the middle of epoch 2
        asked["n"] += 1
        return asked["n"] > STEPS_PER_EPOCH + 2

    result = train(tiny_model_cfg("vae"), tiny_train_cfg(epochs=3), tiny_data,
                   on_epoch_end=lambda r: saved.append(snapshot(r.model)), should_stop=should_stop)
    st = result.state
    assert st.status == "cancelled"
    assert "cancelled" in st.message and "(1)" in st.message
    assert st.epoch == 1 and st.step == STEPS_PER_EPOCH and len(st.history) == 1
    assert len(saved) == 1
    assert_same_weights(result.model.state_dict(), saved[0])


def test_cancel_before_the_first_epoch_keeps_the_initial_weights(tiny_data):
    cfg = tiny_model_cfg("classifier")
    torch.manual_seed(0)
    initial = snapshot(build_model(cfg))  # train() seeds the same way before it builds
    result = train(cfg, tiny_train_cfg(), tiny_data, should_stop=lambda: True)
    assert result.state.status == "cancelled"
    assert result.state.epoch == 0 and result.state.step == 0
    assert_same_weights(result.model.state_dict(), initial)


def nan_after(model, good_calls: int):
    """Make model.loss return NaN from training call `good_calls + 1` on (eval calls are left alone)."""
    original = model.loss
    calls = {"n": 0}

    def loss(x, y=None, kl_scale=1.0):
        out = original(x, y, kl_scale=kl_scale)
        if not model.training:
            return out
        calls["n"] += 1
        if calls["n"] > good_calls:
            nan = out.total * float("nan")  # still connected to the graph: NaN gradients too
            return LossTerms(total=nan, terms={k: v * float("nan") for k, v in out.terms.items()})
        return out

    model.loss = loss
    return model


@pytest.mark.parametrize("with_test_data", [False, True])
def test_nan_loss_stops_with_the_last_good_weights(tiny_data, tiny_test_data, with_test_data):
    cfg = tiny_model_cfg("vae")
    model = nan_after(build_model(cfg), good_calls=STEPS_PER_EPOCH + 1)  # NaN in epoch 2
    saved = []
    result = train(cfg, tiny_train_cfg(epochs=4), tiny_data, tiny_test_data if with_test_data else None,
                   model=model, on_epoch_end=lambda r: saved.append(snapshot(r.model)))
    st = result.state
    assert st.status == "diverged"
    assert "NaN" in st.message and "epoch 2" in st.message and "learning rate" in st.message
    assert st.epoch == 1 and st.step == STEPS_PER_EPOCH and len(st.history) == 1
    assert len(saved) == 1
    weights = result.model.state_dict()
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    assert_same_weights(weights, saved[0])


def test_a_nan_in_the_first_step_diverges_in_the_first_epoch_and_keeps_the_initial_weights(tiny_data):
    # the data are uint8 pixels, which cannot hold a NaN: the first loss is made one instead
    cfg = tiny_model_cfg("vae")
    torch.manual_seed(0)
    model = nan_after(build_model(cfg), good_calls=0)
    initial = snapshot(model)
    result = train(cfg, tiny_train_cfg(epochs=2, batch_size=64), tiny_data, model=model)
    assert result.state.status == "diverged"
    assert "epoch 1" in result.state.message
    assert result.state.epoch == 0 and result.state.step == 0 and result.state.history == []
    assert_same_weights(result.model.state_dict(), initial)


# ---------------------------------------------------------------- progress

def test_progress_reports_growing_steps_and_each_finished_epoch(tiny_data, tiny_test_data):
    events: list[Progress] = []
    train(tiny_model_cfg("hybrid", cls_weight=1.0), tiny_train_cfg(epochs=3), tiny_data, tiny_test_data,
          on_progress=events.append, report_every_s=0.0)
    steps = [p.step for p in events]
    assert steps == sorted(steps) and steps[0] >= 1 and steps[-1] == 3 * STEPS_PER_EPOCH
    assert len(set(steps)) == 3 * STEPS_PER_EPOCH, "with report_every_s=0 every step is reported"
    done = [p for p in events if p.epoch_done]
    assert [p.epoch for p in done] == [1, 2, 3]
    for p in done:
        assert p.epochs == 3 and p.steps_per_epoch == STEPS_PER_EPOCH
        assert {"neg_elbo", "recon", "kl", "ce", "acc"} <= set(p.test_losses)
        assert all(math.isfinite(v) for v in p.test_losses.values())
        assert "train_neg_elbo" in p.losses
    assert done[-1].eta_s == pytest.approx(0.0)
    assert all(p.test_losses is None for p in events if not p.epoch_done)
    assert all(p.images_per_s > 0 for p in events)


# ---------------------------------------------------------------- device

@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "_mps_available", lambda: False)


def test_mixed_precision_is_bf16_on_cuda_and_on_cpus_that_do_it_natively():
    from explorer.training.device import amp_dtype, cpu_has_fast_bf16
    assert amp_dtype(torch.device("cuda")) == torch.bfloat16
    assert amp_dtype(torch.device("cuda"), amp=False) is None
    assert amp_dtype(torch.device("cpu"), amp=False) is None
    assert amp_dtype(torch.device("cpu")) == (torch.bfloat16 if cpu_has_fast_bf16() else None)


def test_mixed_precision_training_learns_and_saves_plain_weights(tiny_data, tiny_test_data, tmp_path):
    """bf16 autocast (where the CPU has it) and the classifier's channels-last layout change
    speed, not results: the model learns and saves as an ordinary checkpoint."""
    from explorer.checkpoints import load_checkpoint, save_checkpoint
    result = train(tiny_model_cfg("classifier"), tiny_train_cfg(epochs=10, amp=True), tiny_data, tiny_test_data)
    assert result.state.history[-1]["test_acc"] > 0.8
    expected = device_module.amp_dtype(torch.device("cpu"), device_module.amp_allowed())  # bf16 where the CPU has it
    assert ("bfloat16" in result.state.message) == (expected == torch.bfloat16)
    cfg = tiny_model_cfg("classifier")
    path = save_checkpoint(tmp_path / "c", result.model, cfg, tiny_train_cfg(epochs=10, amp=True), "digits",
                           result.state)
    loaded = load_checkpoint(path).model
    x = torch.as_tensor(tiny_test_data.images)
    with torch.no_grad():
        assert torch.equal(loaded.classify(x).argmax(1), result.model.eval().classify(x).argmax(1))


def test_explorer_amp_0_trains_in_float32_whatever_the_config_says(tiny_data, monkeypatch):
    from explorer.training.device import amp_allowed
    assert amp_allowed({}) and amp_allowed({"EXPLORER_AMP": "1"})
    assert not any(amp_allowed({"EXPLORER_AMP": off}) for off in ("0", "false", "No", " off "))
    monkeypatch.setenv("EXPLORER_AMP", "0")
    result = train(tiny_model_cfg(), tiny_train_cfg(epochs=1, amp=True), tiny_data)
    assert "float32" in result.state.message and "bfloat16" not in result.state.message


def test_auto_device_is_the_cpu_without_an_accelerator(no_accelerator):
    assert select_device("auto") == torch.device("cpu")
    assert select_device("") == torch.device("cpu")
    assert select_device(" CPU ") == torch.device("cpu")


def test_auto_device_prefers_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("asked", ["cuda", "cuda:1", "mps"])
def test_a_missing_accelerator_is_refused_clearly(no_accelerator, asked):
    with pytest.raises(DeviceError, match="use --device cpu or auto") as err:
        select_device(asked)
    assert f"{asked!r}" in str(err.value), "the message names the device that was asked for"


def test_an_unknown_device_is_refused(no_accelerator):
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        select_device("tpu")


def test_training_on_a_missing_device_fails_before_it_starts(no_accelerator, tiny_data):
    with pytest.raises(DeviceError):
        train(tiny_model_cfg("vae"), tiny_train_cfg(device="cuda"), tiny_data)


# ---------------------------------------------------------------- augmentation

def centred_images(n: int = 16) -> torch.Tensor:
    """Random images that are zero within 2 px of the border, so a 2 px shift loses nothing."""
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(n, 1, 12, 12)
    x[:, :, 2:-2, 2:-2] = torch.rand(n, 1, 8, 8, generator=g)
    return x


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))


@pytest.mark.parametrize("hflip", [False, True])
def test_augmentation_only_moves_pixels(hflip):
    torch.manual_seed(0)
    x = centred_images()
    out = _augment(x, hflip=hflip)
    assert out.shape == x.shape and out.dtype == x.dtype
    moved = 0
    for a, b in zip(x, out):
        candidates = [a, a.flip(-1)] if hflip else [a]
        matches = [(dy, dx) for c in candidates for dy in range(-2, 3) for dx in range(-2, 3)
                   if torch.equal(b, shifted(c, dy, dx))]
        assert matches, "an augmented image must be a shifted (or mirrored) copy of its source"
        moved += not torch.equal(a, b)
    assert moved > len(x) // 2, "most images should actually move"


def test_augmentation_keeps_images_in_range(tiny_data):
    x = torch.as_tensor(tiny_data.images)
    out = _augment(x, hflip=True)
    assert out.shape == x.shape
    assert 0.0 <= out.min() and out.max() <= 1.0


@pytest.mark.parametrize("augment", ["shift", "shift+flip"])
def test_training_with_augmentation_runs(augment):
    data = synthetic_dataset(32)
    result = train(tiny_model_cfg("classifier"), tiny_train_cfg(epochs=1, augment=augment), data)
    assert result.state.status == "finished" and result.state.step == 2


# ---------------------------------------------------------------- lambda: one field, two weights

@pytest.mark.parametrize("kind, head, consistency", [("hybrid", 3.0, 0.0), ("cvae", 0.0, 3.0),
                                                     ("vae", 0.0, 0.0), ("classifier", 0.0, 0.0)])
def test_cls_weight_is_read_as_the_lambda_of_its_kind(kind, head, consistency):
    cfg = tiny_model_cfg(kind, cls_weight=3.0)
    assert (cfg.head_weight, cfg.consistency_weight) == (head, consistency)
    saved = cfg.to_dict()
    assert saved["cls_weight"] == 3.0                       # the checkpoint's field keeps its name
    assert "head_weight" not in saved and "consistency_weight" not in saved


def test_a_cvae_trains_its_aux_net_only_with_a_consistency_weight(tiny_data):
    terms = {}
    for weight in (0.0, 1.0):
        result = train(tiny_model_cfg("cvae", cls_weight=weight), tiny_train_cfg(epochs=1), tiny_data)
        terms[weight] = result.state.history[-1]
    assert "train_gen_ce" not in terms[0.0] and "train_gen_ce" in terms[1.0]


# ---------------------------------------------------------------- on real data (slow)

@pytest.mark.slow
def test_on_digits_the_classifier_is_accurate_and_the_vae_beats_a_coin_flip_per_pixel():
    from explorer.core.config import ModelConfig
    from explorer.data import load_dataset
    from explorer.analysis.metrics import evaluate_model

    train_data, test_data = load_dataset("digits", "train"), load_dataset("digits", "test")
    tc = tiny_train_cfg(epochs=10, batch_size=32, lr=3e-3, lr_schedule="cosine")
    size = dict(image_shape=(1, 8, 8), channels=(8, 16), hidden=32)
    clf = train(ModelConfig(kind="classifier", **size), tc, train_data, test_data)
    assert clf.state.history[-1]["test_acc"] > 0.95
    vae = train(ModelConfig(kind="vae", latent_dim=4, **size), tc, train_data, test_data)
    m = evaluate_model(vae.model, test_data.images, test_data.labels, iwae_k=20)
    assert m["neg_elbo"] < 0.75 * 64 * math.log(2)  # an untrained decoder pays log 2 a pixel
    assert m["iwae_nll"] <= m["neg_elbo"] + 0.1
    assert m["active_units"] >= 1


# ---------------------------------------------------------------- gradient layout

@pytest.mark.parametrize("kind", ["vae", "classifier"])
def test_every_gradient_is_laid_out_as_its_weight(kind):
    """DDP checks each gradient's strides against its parameter's and warns once per rank when they
    differ. digits' pixels carry numpy's channel stride of 1, which torch reads as channels_last;
    a batch must still reach the model as NCHW (or the classifier's own channels_last)."""
    from dataclasses import replace as with_fields

    from explorer.data import load_dataset

    digits = load_dataset("digits", "train")
    data = with_fields(digits, pixels=digits.pixels[:64], labels=digits.labels[:64])
    result = train(tiny_model_cfg(kind), tiny_train_cfg(epochs=1), data, None)
    grads = {name: (p.grad.stride(), p.stride()) for name, p in result.model.named_parameters() if p.grad is not None}
    assert grads and all(g == w for g, w in grads.values()), {n: s for n, s in grads.items() if s[0] != s[1]}
