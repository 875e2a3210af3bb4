"""The model card (README.md) written into every checkpoint."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from explorer.checkpoints.fits import shape_words
from explorer.core import kinds

if TYPE_CHECKING:
    from explorer.checkpoints.format import Checkpoint

METRIC_NOTES = {
    "neg_elbo": "negative ELBO, nats per image (lower is better)",
    "recon": "reconstruction term -E_q[log p(x|z)], nats per image",
    "kl": "KL(q(z|x) || p(z)), nats per image",
    "iwae_nll": "importance-weighted estimate of -log p(x), nats per image",
    "active_units": "latent dimensions the encoder uses (Cov_x E[z_d] > 0.01)",
    "pixel_entropy_floor": "the least -log p(x) a Bernoulli decoder can reach on these grey levels",
    "accuracy": "share of test images classified correctly",
    "macro_f1": "F1 averaged over classes",
    "conditional_fidelity": "share of class-conditional samples the classifier assigns to the requested class",
    "sample_diversity": "spread of a class's samples over the spread of its real images",
    "reference_mlp_neg_elbo": "negative ELBO of the reference MLP VAE (784-400-20, Adam 1e-3, batch 128, 10 epochs), same data, same code",
    "reference_mlp_recon": "the reference's reconstruction term",
    "reference_mlp_kl": "the reference's KL term",
    "reference_mlp_train_seconds": "the reference's 10-epoch training time here",
    "neg_elbo_vs_reference": "(this model's neg_elbo - the reference's) / the reference's; negative is better",
    "mig": "mutual information gap (Chen et al. 2018), 0 to 1: per true factor, how much more the best latent "
           "dimension knows about it than the second best, averaged; 1 is one dimension per factor",
}


def _is_number(v) -> bool:
    """A finite figure (a hand-edited file may hold strings, lists or ints too large for a float)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def format_figure(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
    return str(v)


def _figures(ckpt: "Checkpoint") -> list[str]:
    if not ckpt.metrics:
        return []
    lines = ["", "## Test-set figures", "", "Measured by `python -m explorer evaluate` on the test split.", "",
             "| figure | value | meaning |", "| --- | --- | --- |"]
    for k, v in ckpt.metrics.items():
        if _is_number(v):
            lines.append(f"| {k} | {format_figure(v)} | {METRIC_NOTES.get(k, '')} |")
    per_class = ckpt.metrics.get("conditional_fidelity_per_class")
    if isinstance(per_class, list) and per_class and all(_is_number(p) for p in per_class):
        lines += ["", "Conditional fidelity per class: " + ", ".join(f"{i}: {p:.3f}" for i, p in enumerate(per_class))]
    return lines + _factor_table(ckpt.metrics.get("factor_mi"), ckpt.dataset)


def external_card(ckpt: "Checkpoint") -> str:
    """The card of a model from outside (checkpoints/adapter.py): where it came from and what was measured;
    the app knows nothing of how it was trained."""
    cfg = ckpt.model_cfg
    lines = [f"# {ckpt.path.name}: {kinds.title(cfg.kind)} on {ckpt.dataset}", "",
             f"A model from outside the app: {ckpt.origin}.", ""]
    if cfg.is_vae:
        lines.append(f"A {cfg.latent_dim}-D latent space; its decoder is read as a Bernoulli likelihood on intensities "
                     "in [0, 1], so reconstruction, KL and ELBO are measured as for the app's own models.")
    lines += ["", "| setting | value |", "| --- | --- |"]
    for k in ("kind", "image_shape", "num_classes") + (("latent_dim",) if cfg.is_vae else ()):
        lines.append(f"| {k} | {getattr(cfg, k)} |")
    return "\n".join(lines + _figures(ckpt) + [""])
def _factor_table(rows, dataset: str) -> list[str]:
    """`factor_mi` (one {factor: share} row per latent dimension) as a markdown table, its columns in
    the dataset's order of factors (metrics.json sorts keys); [] without it."""
    from explorer.data import DATASETS

    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and r for r in rows):
        return []
    names = sorted(rows[0], key=str)
    known = DATASETS[dataset].factor_names if dataset in DATASETS else ()
    if set(known) == set(names):
        names = list(known)
    if not all(set(r) == set(names) and all(_is_number(v) for v in r.values()) for r in rows):
        return []
    lines = ["", "Share of each true factor's information each latent dimension carries (test set; `factor_mi`):", "",
             "| dimension | " + " | ".join(map(str, names)) + " |", "| --- |" + " --- |" * len(names)]
    return lines + [f"| z{d} | " + " | ".join(f"{r[n]:.2f}" for n in names) + " |" for d, r in enumerate(rows)]


def model_card(ckpt: "Checkpoint") -> str:
    if ckpt.origin:
        return external_card(ckpt)
    cfg, tc, st = ckpt.model_cfg, ckpt.train_cfg, ckpt.state
    title = kinds.title(cfg.kind)
    lines = [f"# {ckpt.path.name}: {title} on {ckpt.dataset}", ""]
    if cfg.kind == "classifier":
        lines.append(f"A CNN over {shape_words(cfg.image_shape)} images with {cfg.num_classes} classes; "
                     "it colours the latent map and judges every decoded image in the app.")
    else:
        lines.append(f"A {cfg.latent_dim}-D latent {title.lower()} of {shape_words(cfg.image_shape)} images with a "
                     "Bernoulli likelihood on intensities in [0, 1]" + (" (each channel's)" if cfg.image_shape[0] > 1 else "")
                     + f", beta = {cfg.beta}" + (f", lambda = {cfg.cls_weight}" if cfg.kind == "hybrid" else "") + ".")
        if kinds.is_conditional(cfg) and cfg.cls_weight:
            lines.append(f"Trained with a class-consistency loss (lambda = {cfg.cls_weight:g}): a small auxiliary CNN, "
                         "taught only by real images, judges samples decoded from the prior, and the decoder learns "
                         "to make them recognisable as the class they were asked for. The aux CNN is not the "
                         "classifier that measures conditional fidelity below.")
    lines += ["", "## How it was made", ""]
    command = ckpt.extra.get("command")
    if command:
        lines += ["```", str(command), "```", ""]
    lines.append(f"Trained {st.epoch} epoch(s), {st.step} optimiser steps; status: {st.status or 'unknown'}. "
                 f"{st.message}".rstrip())
    secs = sum(h["seconds"] for h in st.history if _is_number(h.get("seconds")))  # a hand-edited history may hold anything
    if secs:
        lines.append(f"Training time: {secs / 60:.1f} min on {ckpt.extra.get('device', 'the recorded device')}.")
    lines += ["", "| setting | value |", "| --- | --- |"]
    for k, v in {**cfg.to_dict(), **{f"train.{k}": v for k, v in tc.to_dict().items()}}.items():
        lines.append(f"| {k} | {v} |")
    lines += _figures(ckpt)
    ref = ckpt.extra.get("reference")
    if isinstance(ref, dict) and ref:
        lines += ["", "## Reference", "", str(ref.get("description", "")), ""]
        for k, v in ref.items():
            if k != "description":
                lines.append(f"- {k}: {format_figure(v)}")
    notes = ckpt.extra.get("notes")
    if notes:
        lines += ["", "## Notes", "", str(notes)]
    lines += ["", "Files: `config.json` (configs, history, versions), `model.safetensors` (weights), "
              "`metrics.json` (figures above). Load with `explorer.checkpoints.load_checkpoint`.", ""]
    return "\n".join(lines)
