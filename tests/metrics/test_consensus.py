"""The consensus criterion (Strehl and Ghosh's ANMI): each clustering's mean NMI to the others,
on hand-made clusterings whose agreement is known."""

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from clustering import metrics
from clustering.errors import BenchError
from clustering.metrics import METRICS

rng = np.random.default_rng(0)
BASE = rng.integers(0, 10, size=3000)


def permuted(labels: np.ndarray, seed: int) -> np.ndarray:
    """The same partition under other cluster ids."""
    return np.random.default_rng(seed).permutation(10)[labels]


def test_identical_clusterings_agree_1():
    assert metrics.consensus(np.stack([BASE, BASE, BASE])) == pytest.approx([1, 1, 1])


def test_relabelled_clusterings_agree_1():
    ensemble = np.stack([BASE, permuted(BASE, 1), permuted(BASE, 2) + 7])
    assert metrics.consensus(ensemble) == pytest.approx([1, 1, 1])


def test_independent_random_clusterings_agree_about_0():
    ensemble = rng.integers(0, 10, size=(4, 3000))
    assert np.all(metrics.consensus(ensemble) < 0.01)


def test_the_odd_one_out_agrees_least_and_the_values_are_mean_pairwise_nmi():
    noise = rng.integers(0, 10, size=3000)
    half = np.where(np.arange(3000) < 1500, BASE, noise)
    ensemble = np.stack([BASE, permuted(BASE, 3), half, rng.integers(0, 5, size=3000)])
    values = metrics.consensus(ensemble)
    assert np.argmin(values) == 3 and values[0] == pytest.approx(values[1])
    nmi = [
        normalized_mutual_info_score(ensemble[2], other, average_method="geometric")
        for other in ensemble[[0, 1, 3]]
    ]
    assert values[2] == pytest.approx(np.mean(nmi))


def test_consensus_is_a_label_free_criterion_computed_after_the_fact():
    metric = METRICS.get("consensus")
    assert metric.label_free and metric.higher_is_better and not metric.objective
    assert metric.inputs == "labelings" and metric.function is metrics.consensus
    X = rng.normal(size=(50, 2))
    assert "consensus" not in metrics.evaluate(X, BASE[:50], BASE[:50])
    with pytest.raises(ValueError, match="consensus.*labelings"):
        metrics.score("consensus", X, BASE[:50], BASE[:50])


@pytest.mark.parametrize(
    "labelings, match",
    [
        (BASE[np.newaxis], r"at least 2 clusterings.*\(1, 3000\)"),
        (BASE, r"\(m, n\) array.*\(3000,\)"),
        (np.stack([BASE, BASE]).astype(float), "integer cluster ids"),
    ],
)
def test_bad_input_is_refused_with_the_fix(labelings, match):
    with pytest.raises(BenchError, match=match):
        metrics.consensus(labelings)
