"""Which latent dimension learned which true factor: mutual information and the MIG.

For a dataset whose factors of variation are known (shapes), each latent dimension's posterior
means over the test set are discretised into equal-width bins, and their mutual information with
each factor is divided by that factor's entropy, so 1 means the dimension tells the factor exactly
and 0 means it tells nothing about it.

The Mutual Information Gap (Chen et al., 2018, "Isolating Sources of Disentanglement in VAEs",
section 4.1) is, per factor, the gap between the two dimensions that know most about it, averaged
over factors: near 1 when each factor lives in one dimension of its own, near 0 when it is spread
over several or learned by none. The histogram estimator with 20 bins follows
disentanglement_lib (Locatello et al., 2019).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.analysis.errors import AnalysisError
from explorer.core.kinds import VAE_KINDS

N_BINS = 20
TRACKS_AT = 0.2  # a dimension "tracks" its best factor when it tells at least this share of it

MIG_EXPLAINED = ("MIG (mutual information gap, 0 to 1): for each true factor, how much more the "
                 "best latent dimension knows about it than the second best, averaged over factors; "
                 "1 means every factor has a slider of its own.")


@dataclass(frozen=True)
class FactorScores:
    """Normalised mutual information of every latent dimension with every true factor, and the MIG."""

    factor_names: tuple[str, ...]
    mi: np.ndarray  # float64 (D, F): I(z_d; v_f) / H(v_f), each in [0, 1]
    gaps: np.ndarray  # float64 (F,): per factor, best dimension's share minus the second best's

    @property
    def mig(self) -> float:
        """The Mutual Information Gap: the per-factor gaps averaged."""
        return float(self.gaps.mean()) if self.gaps.size else 0.0

    def tracked(self, at: float = TRACKS_AT) -> list[str | None]:
        """Per latent dimension, the factor it tells most about, or None when it tells under `at` of any."""
        best = self.mi.argmax(axis=1)
        return [self.factor_names[f] if self.mi[d, f] >= at else None for d, f in enumerate(best)]

    def to_metrics(self) -> dict:
        """The figures as metrics.json keeps them: `mig`, `mig_per_factor` and `factor_mi`, one
        {factor: share} row per latent dimension."""
        return {
            "mig": self.mig,
            "mig_per_factor": {name: float(g) for name, g in zip(self.factor_names, self.gaps)},
            "factor_mi": [{name: float(v) for name, v in zip(self.factor_names, row)} for row in self.mi],
        }


def factor_figures(model, test) -> dict:
    """`mig`, `mig_per_factor` and `factor_mi` (see FactorScores.to_metrics) from the posterior means
    of `test` (an ImageDataset), for a VAE kind on a dataset whose true factors are known; else {}."""
    from explorer.analysis.metrics import encode_means  # torch: imported only when there is a model to run

    if test.factors is None or model.cfg.kind not in VAE_KINDS:
        return {}
    codes = encode_means(model, test.images, test.labels)
    return factor_scores(codes, test.factors, test.spec.factor_names).to_metrics()


def discretise(codes: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Each column of `codes` (N, D) cut into `n_bins` equal-width bins over its range: int (N, D)."""
    lo, hi = codes.min(axis=0), codes.max(axis=0)
    width = np.where(hi > lo, (hi - lo) / n_bins, 1.0)
    return np.clip(((codes - lo) / width).astype(np.int64), 0, n_bins - 1)


def entropy(values: np.ndarray) -> float:
    """Entropy in nats of the empirical distribution of the integers `values`."""
    p = np.bincount(values - values.min()) / len(values)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats between two integer sequences of equal length, from their joint counts."""
    a, b = a - a.min(), b - b.min()
    joint = np.bincount(a * (b.max() + 1) + b, minlength=(a.max() + 1) * (b.max() + 1))
    p = joint.reshape(a.max() + 1, b.max() + 1) / len(a)
    outer = p.sum(axis=1, keepdims=True) * p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float(max(0.0, (p[nz] * np.log(p[nz] / outer[nz])).sum()))


def factor_scores(codes: np.ndarray, factors: np.ndarray, factor_names, n_bins: int = N_BINS) -> FactorScores:
    """Normalised MI of each column of `codes` (N, D; posterior means) with each column of
    `factors` (N, F; integer indices), and the per-factor gaps of the MIG."""
    codes, factors = np.asarray(codes, dtype=np.float64), np.asarray(factors)
    names = tuple(factor_names)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors) or len(codes) < 2:
        raise AnalysisError(f"factor scores need codes (N, D) and factors (N, F) for the same N >= 2 images; "
                            f"got {codes.shape} and {factors.shape}")
    if factors.shape[1] != len(names):
        raise AnalysisError(f"{factors.shape[1]} factor columns but {len(names)} factor names ({', '.join(names)})")
    if not np.isfinite(codes).all():
        raise AnalysisError("the codes hold NaN or infinite values; the model's encoder has diverged")
    binned = discretise(codes, n_bins)
    mi = np.zeros((codes.shape[1], len(names)))
    for f in range(len(names)):
        h = entropy(factors[:, f])
        for d in range(codes.shape[1]):
            mi[d, f] = mutual_information(binned[:, d], factors[:, f]) / h if h > 0 else 0.0
    return FactorScores(names, np.clip(mi, 0.0, 1.0), _gaps(mi))


def _gaps(mi: np.ndarray) -> np.ndarray:
    """Per factor (column), the largest share minus the second largest (the largest alone with one dimension)."""
    if mi.shape[0] == 0:
        return np.zeros(mi.shape[1])
    top = -np.sort(-np.clip(mi, 0.0, 1.0), axis=0)
    return top[0] - (top[1] if len(top) > 1 else 0.0)
