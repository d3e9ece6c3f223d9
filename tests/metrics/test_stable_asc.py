"""faithful_or_stable_asc on hand-made spaces: a faithful PCA space, structured features that are
not pixel-faithful (blobs in a random rotation), a collapsed embedding."""

import numpy as np
import pytest
from scipy.stats import special_ortho_group
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA

from clustering import metrics
from clustering.errors import BenchError

N, K = 300, 4


def kmeans_refit(X_subset, seed):
    return KMeans(n_clusters=K, n_init=1, random_state=seed).fit_predict(X_subset)


def scores(X, labels, reference) -> dict:
    """Every criterion the new one is built from, and the new one, as evaluate computes them."""
    given = {"reference": reference, "refit": kmeans_refit, "random_state": 0}
    return metrics.evaluate(X, labels, labels, **given)


@pytest.fixture(scope="module")
def pixels():
    X, y = make_blobs(N, n_features=30, centers=K, cluster_std=2.0, random_state=0)
    return X, y


def test_a_faithful_pca_space_scores_its_silhouette(pixels):
    X, _ = pixels
    space = PCA(5, random_state=0).fit_transform(X)
    labels = KMeans(n_clusters=K, n_init=3, random_state=0).fit_predict(space)
    got = scores(space, labels, reference=PCA(10, random_state=0).fit_transform(X))
    assert got["trustworthiness"] >= 0.9
    assert got["faithful_or_stable_asc"] == got["asc"] == got["faithful_asc"]


def test_structured_features_unlike_the_pixels_keep_a_stability_weighted_silhouette(pixels):
    X, _ = pixels
    blobs, _ = make_blobs(N, n_features=20, centers=K, cluster_std=0.5, random_state=1)
    features = blobs @ special_ortho_group.rvs(20, random_state=2)  # structured, but not pixels
    labels = KMeans(n_clusters=K, n_init=3, random_state=0).fit_predict(features)
    got = scores(features, labels, reference=PCA(10, random_state=0).fit_transform(X))
    assert got["trustworthiness"] < 0.9 and got["faithful_asc"] == -1.0
    assert got["faithful_or_stable_asc"] == pytest.approx(got["asc"] * got["stability"])
    assert got["faithful_or_stable_asc"] > 0.5  # clear, stable clusters: close to their asc


def test_an_unstable_collapse_scores_below_the_faithful_space(pixels):
    X, _ = pixels
    reference = PCA(10, random_state=0).fit_transform(X)
    collapsed = np.random.default_rng(3).normal(size=(N, 2)) * 1e-3  # one tight cloud
    labels = KMeans(n_clusters=K, n_init=1, random_state=0).fit_predict(collapsed)
    got = scores(collapsed, labels, reference)
    assert got["trustworthiness"] < 0.6 and got["stability"] < 0.9
    faithful = PCA(5, random_state=0).fit_transform(X)
    faithful_labels = KMeans(n_clusters=K, n_init=3, random_state=0).fit_predict(faithful)
    assert got["faithful_or_stable_asc"] < scores(faithful, faithful_labels, reference)["asc"]
    assert got["faithful_or_stable_asc"] == pytest.approx(got["asc"] * got["stability"])


def test_a_negative_silhouette_is_not_weighted_and_bad_scores_are_refused():
    assert metrics.faithful_or_stable_asc(-0.2, 0.5, 0.6) == -0.2
    assert metrics.faithful_or_stable_asc(0.4, -0.3, 0.6) == 0.0
    assert metrics.faithful_or_stable_asc(0.4, 0.5, 0.95) == 0.4
    with pytest.raises(BenchError, match="finite stability"):
        metrics.faithful_or_stable_asc(0.4, float("nan"), 0.6)
    with pytest.raises(BenchError, match="finite trustworthiness"):
        metrics.faithful_or_stable_asc(0.4, 0.5, None)
