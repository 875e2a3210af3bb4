"""The mutual information of latent dimensions with true factors, and the MIG (Chen et al., 2018)."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.analysis.errors import AnalysisError
from explorer.analysis.factors import factor_scores, mutual_information

NAMES = ("shape", "colour", "scale", "x")
SIZES = (4, 6, 4, 8)


def _factors(n: int = 4000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, n) for k in SIZES], axis=1)


def test_a_code_whose_dim_k_copies_factor_k_scores_near_one() -> None:
    factors = _factors()
    rng = np.random.default_rng(1)
    codes = factors + 0.05 * rng.standard_normal(factors.shape)  # dim k = factor k, slightly blurred
    scores = factor_scores(codes, factors, NAMES)
    assert scores.mig > 0.9
    assert np.allclose(np.diag(scores.mi), 1.0, atol=0.02)
    assert scores.tracked() == list(NAMES)


def test_random_codes_score_near_zero() -> None:
    factors = _factors()
    codes = np.random.default_rng(2).standard_normal((len(factors), 6))
    scores = factor_scores(codes, factors, NAMES)
    assert scores.mig < 0.05
    assert scores.mi.max() < 0.05
    assert scores.tracked() == [None] * 6


def test_a_factor_split_over_two_dims_has_no_gap() -> None:
    factors = _factors()
    rng = np.random.default_rng(3)
    x = factors[:, 3] + 0.05 * rng.standard_normal(len(factors))
    codes = np.stack([x, x + 0.01 * rng.standard_normal(len(x))], axis=1)  # two copies of x
    scores = factor_scores(codes, factors, NAMES)
    assert scores.mi[:, 3].min() > 0.9
    assert scores.to_metrics()["mig_per_factor"]["x"] < 0.1


def test_permuting_dims_permutes_rows_and_keeps_the_mig() -> None:
    factors = _factors()
    rng = np.random.default_rng(4)
    codes = np.concatenate([factors[:, :2] + 0.3 * rng.standard_normal((len(factors), 2)),
                            rng.standard_normal((len(factors), 3))], axis=1)
    scores = factor_scores(codes, factors, NAMES)
    order = np.array([3, 0, 4, 1, 2])
    permuted = factor_scores(codes[:, order], factors, NAMES)
    assert np.allclose(permuted.mi, scores.mi[order])
    assert permuted.mig == pytest.approx(scores.mig)
    rows = rng.permutation(len(factors))  # the order of the images does not matter either
    assert factor_scores(codes[rows], factors[rows], NAMES).mig == pytest.approx(scores.mig)
    assert scores.mig > 0.2  # two factors of four partly learned


def test_metrics_name_every_factor_per_dim() -> None:
    factors = _factors(500)
    codes = np.random.default_rng(5).standard_normal((500, 3))
    metrics = factor_scores(codes, factors, NAMES).to_metrics()
    assert set(metrics) == {"mig", "mig_per_factor", "factor_mi"}
    assert len(metrics["factor_mi"]) == 3 and all(list(row) == list(NAMES) for row in metrics["factor_mi"])


def test_mutual_information_of_a_variable_with_itself_is_its_entropy() -> None:
    a = np.array([0, 1, 2, 3] * 25)
    assert mutual_information(a, a) == pytest.approx(np.log(4))
    assert mutual_information(a, np.zeros_like(a)) == pytest.approx(0.0)


@pytest.mark.parametrize("codes, factors", [
    (np.zeros((10, 2)), np.zeros((9, 4), int)),
    (np.zeros(10), np.zeros((10, 4), int)),
    (np.full((10, 2), np.nan), np.zeros((10, 4), int)),
    (np.zeros((10, 2)), np.zeros((10, 3), int)),
])
def test_bad_inputs_are_refused_with_a_message(codes, factors) -> None:
    with pytest.raises(AnalysisError, match=r"\w"):
        factor_scores(codes, factors, NAMES)
