"""`evaluate`: a checkpoint's test-set figures written into it, for the CLI and the Train page.

Nothing lost, figures included: metrics.json records what its figures were measured with (the
IWAE bound's `iwae_k`, the test images `n_test`, the classifier `judged_by`). A run measured with
less effort (a smaller k, fewer test images) or judged by another classifier does not replace
them unless asked (`overwrite=True`, the CLI's --overwrite): its figures are returned with the
reason nothing was written. A training run writes new weights without metrics.json, so its
evaluation always writes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from explorer.core.config import ConfigError

MAX_IWAE_K = 1000  # the decoder sees k x batch images at once: 1000 x 100 x 784 floats is 300 MB a tensor

# Figures a run without a classifier or without --reference does not measure: kept from before.
KEPT_FROM_BEFORE = ("conditional_fidelity", "conditional_fidelity_per_class", "sample_diversity", "judged_by",
                    "reference_mlp_neg_elbo", "reference_mlp_recon", "reference_mlp_kl",
                    "reference_mlp_train_seconds")


@dataclass(frozen=True)
class Evaluation:
    """The figures measured, and whether they were written into the checkpoint (and if not, why)."""

    metrics: dict
    written: bool
    reason: str = ""  # why nothing was written; "" when written


def run_evaluate(checkpoint, classifier=None, iwae_k: int = 100, data_dir=None, reference: bool = False,
                 overwrite: bool = False, progress=None) -> dict:
    """Measure a checkpoint on its test set and write its metrics.json and model card (see
    evaluate_checkpoint); returns the figures."""
    return evaluate_checkpoint(checkpoint, classifier, iwae_k, data_dir, reference, overwrite, progress).metrics


def evaluate_checkpoint(checkpoint, classifier=None, iwae_k: int = 100, data_dir=None, reference: bool = False,
                        overwrite: bool = False, progress=None) -> Evaluation:
    """Measure a checkpoint on its test set (and, with `reference`, the reference MLP VAE). The
    figures are written into metrics.json and the model card unless the ones there were measured
    with more effort (weaker_than) and `overwrite` is False; figures measured earlier with a
    classifier or the reference are kept. `progress(fraction done)`: see analysis.metrics.evaluate_model."""
    from explorer.checkpoints import check_fits, load_checkpoint, write_metrics
    from explorer.data import load_dataset

    if not 0 <= iwae_k <= MAX_IWAE_K:  # k samples of every image of a batch are decoded at once
        raise ConfigError(f"iwae_k must be 0..{MAX_IWAE_K} importance samples per image (0 skips the IWAE "
                          f"figure; 100 is the usual), got {iwae_k}")
    ckpt = load_checkpoint(checkpoint)
    test = load_dataset(ckpt.dataset, "test", data_dir=data_dir)
    check_fits(ckpt, test)
    metrics = _measure(ckpt, test, _classifier_model(ckpt, classifier), iwae_k, progress)
    if classifier:
        metrics["judged_by"] = str(Path(classifier))
    if reference:
        metrics.update(_reference_figures(ckpt, test, data_dir))
    old = ckpt.metrics or {}
    weaker = weaker_than(metrics, old)
    if weaker and not overwrite:
        _compare_to_reference(metrics)
        return Evaluation(metrics, written=False,
                          reason=f"{Path(checkpoint) / 'metrics.json'} keeps its figures: " + "; ".join(weaker)
                          + ". Pass --overwrite to replace them.")
    for k in KEPT_FROM_BEFORE:
        if k in old and k not in metrics:
            metrics[k] = old[k]
    _compare_to_reference(metrics)
    write_metrics(checkpoint, metrics)
    return Evaluation(metrics, written=True)


def weaker_than(new: dict, old: dict) -> list[str]:
    """Why figures `new` were measured with less effort than `old` (or by another judge): one
    reason per setting, empty when `new` may replace `old`."""
    why = []
    if "iwae_nll" in old and _int(new.get("iwae_k")) < _int(old.get("iwae_k")):
        why.append(f"its IWAE bound used k={_int(old.get('iwae_k'))} samples, this run "
                   + (f"k={_int(new.get('iwae_k'))}" if "iwae_nll" in new else "none"))
    if _int(new.get("n_test")) < _int(old.get("n_test")):
        why.append(f"they were measured on {_int(old.get('n_test'))} test images, this run on {_int(new.get('n_test'))}")
    if "judged_by" in old and "judged_by" in new and _ref(old["judged_by"]) != _ref(new["judged_by"]):
        why.append(f"its conditional fidelity was judged by {old['judged_by']}, this run by {new['judged_by']}")
    return why


def _ref(path) -> tuple[str, ...]:
    """A classifier by its <dataset>/<name>, however its path was written (relative or absolute)."""
    return Path(str(path)).parts[-2:]


def _int(value) -> int:
    """A count from metrics.json; anything that is not one counts as 0 (no effort recorded)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _classifier_model(ckpt, classifier):
    """The model of the `--classifier` checkpoint, checked to judge `ckpt`'s images; None without one."""
    from explorer.checkpoints import CheckpointError, load_checkpoint
    from explorer.core.kinds import CLASSIFYING_KINDS

    if not classifier:
        return None
    clf = load_checkpoint(classifier)
    if clf.kind not in CLASSIFYING_KINDS:
        raise CheckpointError(f"--classifier {classifier} is a {clf.kind}, not a classifier")
    if clf.dataset != ckpt.dataset:
        raise CheckpointError(f"--classifier {classifier} was trained on {clf.dataset}, the checkpoint on {ckpt.dataset}")
    return clf.model


def _measure(ckpt, test, clf_model, iwae_k: int, progress=None) -> dict:
    from explorer.analysis.factors import factor_figures
    from explorer.analysis.metrics import evaluate_model

    metrics = evaluate_model(ckpt.model, test.images, test.labels, iwae_k=iwae_k, classifier=clf_model,
                             progress=progress)
    metrics["dataset"] = ckpt.dataset
    metrics.update(factor_figures(ckpt.model, test))
    return metrics


def _reference_figures(ckpt, test, data_dir) -> dict:
    """The reference MLP VAE trained and scored on the same data (VAE kinds only)."""
    from explorer.core.kinds import VAE_KINDS
    from explorer.data import load_dataset
    from explorer.training.reference import train_reference

    if ckpt.kind not in VAE_KINDS:
        return {}
    _, ref = train_reference(load_dataset(ckpt.dataset, "train", data_dir=data_dir), test)
    return {"reference_mlp_neg_elbo": ref["neg_elbo"], "reference_mlp_recon": ref["recon"],
            "reference_mlp_kl": ref["kl"], "reference_mlp_train_seconds": ref["train_seconds"]}


def _compare_to_reference(metrics: dict) -> None:
    if "reference_mlp_neg_elbo" in metrics and "neg_elbo" in metrics:
        ref = metrics["reference_mlp_neg_elbo"]
        metrics["neg_elbo_vs_reference"] = (metrics["neg_elbo"] - ref) / ref
