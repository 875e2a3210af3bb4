"""`evaluate`: a checkpoint's test-set figures written into it, for the CLI and the Train page."""
from __future__ import annotations

from pathlib import Path


def run_evaluate(checkpoint, classifier=None, iwae_k: int = 100, data_dir=None, reference: bool = False,
                 progress=None) -> dict:
    """Measure a checkpoint on its test set (and, with `reference`, the reference MLP VAE) and write
    its metrics.json and model card; figures measured earlier with a classifier are kept.
    `progress(fraction done)`: see analysis.metrics.evaluate_model."""
    from explorer.checkpoints import CheckpointError, load_checkpoint, write_metrics
    from explorer.data import load_dataset
    from explorer.analysis.metrics import evaluate_model

    from explorer.core.kinds import CLASSIFYING_KINDS, VAE_KINDS

    ckpt = load_checkpoint(checkpoint)
    test = load_dataset(ckpt.dataset, "test", data_dir=data_dir)
    clf_model = None
    if classifier:
        clf = load_checkpoint(classifier)
        if clf.kind not in CLASSIFYING_KINDS:
            raise CheckpointError(f"--classifier {classifier} is a {clf.kind}, not a classifier")
        if clf.dataset != ckpt.dataset:
            raise CheckpointError(f"--classifier {classifier} was trained on {clf.dataset}, the checkpoint on {ckpt.dataset}")
        clf_model = clf.model
    metrics = evaluate_model(ckpt.model, test.images, test.labels, iwae_k=iwae_k, classifier=clf_model,
                             progress=progress)
    metrics["dataset"] = ckpt.dataset
    if reference and ckpt.kind in VAE_KINDS:
        from explorer.training.reference import train_reference
        train = load_dataset(ckpt.dataset, "train", data_dir=data_dir)
        _, ref = train_reference(train, test)
        metrics["reference_mlp_neg_elbo"] = ref["neg_elbo"]
        metrics["reference_mlp_recon"] = ref["recon"]
        metrics["reference_mlp_kl"] = ref["kl"]
        metrics["reference_mlp_train_seconds"] = ref["train_seconds"]
        metrics["neg_elbo_vs_reference"] = (metrics["neg_elbo"] - ref["neg_elbo"]) / ref["neg_elbo"]
    if classifier:
        metrics["judged_by"] = str(Path(classifier))
    old = ckpt.metrics or {}
    for k in ("conditional_fidelity", "conditional_fidelity_per_class", "sample_diversity", "judged_by",
              "reference_mlp_neg_elbo", "reference_mlp_recon", "reference_mlp_kl", "reference_mlp_train_seconds"):
        if k in old and k not in metrics:  # keep fidelity figures measured earlier with a classifier
            metrics[k] = old[k]
    if "reference_mlp_neg_elbo" in metrics and "neg_elbo" in metrics:
        metrics["neg_elbo_vs_reference"] = (metrics["neg_elbo"] - metrics["reference_mlp_neg_elbo"]) / metrics["reference_mlp_neg_elbo"]
    write_metrics(checkpoint, metrics)
    return metrics
