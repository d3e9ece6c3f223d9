"""clustering.silhouette: the bounds hold, the pruning skips pairs, the values stay exact."""

import gzip
from itertools import pairwise

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.metrics import silhouette_samples, silhouette_score

from clustering import metrics
from clustering.metrics import _silhouette as pruned
from clustering.metrics._pairwise import sort_by_label


@pytest.fixture(scope="module")
def mnist(test_data):
    """1,000 real MNIST test images as (1000, 784) float64 in [0, 1], and their digit labels."""
    folder = test_data / "mnist"
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "rb") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return images[:1000] / 255.0, labels[:1000].astype(np.int64)


def _sorted(X, labels):
    _, codes = np.unique(labels, return_inverse=True)
    k = int(codes.max()) + 1
    Xs, bounds = sort_by_label(X, codes, k)
    means = np.stack([Xs[s:e].mean(axis=0) for s, e in pairwise(bounds)])
    return Xs, bounds, means, np.repeat(np.arange(k), np.diff(bounds))


def _exact_covariance_squares(Xs, bounds, means):
    out = []
    for c, (s, e) in enumerate(pairwise(bounds)):
        W = Xs[s:e] - means[c]
        out.append(np.sum((W.T @ W / (e - s)) ** 2))
    return np.array(out)


def _bounds(Xs, bounds, means):
    moments = pruned.moments_of(Xs, bounds, means)
    total = _exact_covariance_squares(Xs, bounds, means)
    return pruned.mean_distance_bounds(Xs, bounds, means, moments, total)


def _mean_distances(Xs, bounds):
    """(n, k) exact mean Euclidean distance of every row to every cluster (direct differences)."""
    dist = cdist(Xs, Xs)
    return np.stack([dist[:, s:e].mean(axis=1) for s, e in pairwise(bounds)], axis=1)


@pytest.mark.parametrize("data", ["digits", "kmeans"])
def test_bounds_enclose_every_mean_distance_on_real_images(mnist, data):
    X, y = mnist
    if data == "kmeans":
        from sklearn.cluster import KMeans

        y = KMeans(n_clusters=12, n_init=1, random_state=0).fit_predict(X)
    Xs, bounds, means, own = _sorted(X, y)
    lower, upper = _bounds(Xs, bounds, means)
    exact = _mean_distances(Xs, bounds)
    other = np.ones_like(exact, dtype=bool)
    other[np.arange(len(Xs)), own] = False
    assert (lower[other] <= exact[other] * (1 + 1e-12)).all()
    assert (upper[other] >= exact[other] * (1 - 1e-12)).all()
    assert np.median(upper[other] / lower[other]) < 1.1  # tight enough to prune


def test_pruning_keeps_the_nearest_cluster_and_skips_most_pairs(mnist):
    X, y = mnist
    Xs, bounds, means, own = _sorted(X, y)
    lower, upper = _bounds(Xs, bounds, means)
    need = pruned.needed_clusters(lower, upper, own, slack=0.0)
    exact = _mean_distances(Xs, bounds)
    exact[np.arange(len(Xs)), own] = np.inf
    nearest = exact.argmin(axis=1)
    assert need[np.arange(len(Xs)), nearest].all()
    assert need[np.arange(len(Xs)), own].all()
    row_needs = need[:, own]  # pair (i, j) is computed when i needs j's cluster or j needs i's
    computed = (row_needs | row_needs.T).mean()
    assert computed < 0.6, f"{computed:.2f} of the pairs computed"


def test_within_pass_bounds_the_covariance_from_above(mnist):
    X, y = mnist
    Xs, bounds, means, _ = _sorted(X, y)
    k = len(means)
    tasks = pruned._own_tasks(bounds, 150)
    report = pruned._Reporter(None, len(tasks))
    _, gram_squares = pruned._within_pass(Xs, tasks, k, 150, 2, report)
    got = pruned._covariance_squares(Xs, bounds, means, gram_squares)
    exact = _exact_covariance_squares(Xs, bounds, means)
    assert (got >= exact).all()
    assert got == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("chunk", [97, 1000])
def test_every_row_equals_silhouette_samples(mnist, chunk):
    X, y = mnist
    Xs, bounds, _, own = _sorted(X, y)
    got = pruned.silhouette_values(Xs, bounds, chunk, threads=2)
    expected = silhouette_samples(Xs, own)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def _square_corners():
    """Four clusters of near-identical points on the corners of a square: the bounds are tight
    (spread ~0) and every row has two equally near clusters."""
    rng = np.random.default_rng(0)
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    X = np.repeat(corners, 30, axis=0) + rng.normal(scale=1e-7, size=(120, 2))
    X[::7] = np.repeat(corners, 30, axis=0)[::7]  # some exact copies of the corners too
    return X, np.repeat(np.arange(4), 30)


def _duplicated_integers():
    """Every point four times, small integers: exact ties everywhere, clusters mixed."""
    rng = np.random.default_rng(0)
    X = np.repeat(rng.integers(0, 5, size=(60, 3)), 4, axis=0).astype(np.float64)
    return X, rng.integers(0, 3, size=len(X))


def _with_singleton(mnist):
    X, y = mnist
    y = y[:600].copy()
    y[17] = 42  # a cluster of one point
    return X[:600], y


def _duplicated_images(mnist):
    X, y = mnist
    return np.vstack([X[:500], X[:100]]), np.concatenate([y[:500], (y[:100] + 1) % 10])


def _float32_images(mnist):
    X, y = mnist
    return X[:800].astype(np.float32).astype(np.float64), y[:800]


@pytest.mark.parametrize(
    "make",
    [_square_corners, _duplicated_integers, _with_singleton, _duplicated_images, _float32_images],
)
def test_hard_cases_equal_silhouette_score(mnist, make):
    X, labels = make(mnist) if make.__code__.co_argcount else make()
    Xs, bounds, _, own = _sorted(X, labels)
    got = pruned.silhouette_values(Xs, bounds, 64, threads=2)
    # abs: a mean near 0 (duplicated images) keeps only the rows' 1e-10 agreement
    assert got.mean() == pytest.approx(silhouette_score(Xs, own), rel=1e-9, abs=1e-10)
    # a zero distance from the Gram trick is sqrt(rounding), ~1e-8, whichever tile computes it:
    # rows with duplicates differ from scikit-learn's by up to ~1e-10
    np.testing.assert_allclose(got, silhouette_samples(Xs, own), rtol=1e-9, atol=1e-9)


def test_asc_takes_the_pruned_pass_on_large_data(large_mnist, caplog):
    """6,000 rows (pruned.MIN_SAMPLES): the 1,000 real images and shifted, noisy copies of them
    (tests/conftest.py's large_mnist)."""
    from clustering import data as datasets

    data = datasets.load("mnist", data_dir=large_mnist)
    n = pruned.MIN_SAMPLES
    assert len(data) >= n
    X = datasets.preprocess(data.images[:n]).reshape(n, -1).astype(np.float64)
    y = data.labels[:n]
    with caplog.at_level("DEBUG", logger="clustering.metrics._silhouette"):
        got = metrics.asc(X, y)
    assert "pairs computed" in caplog.text
    assert got == pytest.approx(silhouette_score(X, y), rel=1e-9)


def test_many_clusters_take_the_full_pass(mnist):
    from sklearn.cluster import KMeans

    X, _ = mnist
    k = pruned.MAX_CLUSTERS + 6
    labels = KMeans(n_clusters=k, n_init=1, random_state=0).fit_predict(X)
    assert not pruned.applies(pruned.MIN_SAMPLES, k)
    assert pruned.applies(pruned.MIN_SAMPLES, pruned.MAX_CLUSTERS)
    assert not pruned.applies(pruned.MIN_SAMPLES - 1, 10)  # small: the full pass is cheaper
    assert metrics.asc(X, labels, chunk_size=300) == pytest.approx(
        silhouette_score(X, labels), rel=1e-9
    )


def test_progress_counts_every_tile_and_ends_at_its_total(mnist):
    """The total is re-estimated once the bounds have chosen the between-cluster tiles."""
    X, y = mnist
    Xs, bounds, _, _ = _sorted(X, y)
    calls = []
    pruned.silhouette_values(Xs, bounds, 100, threads=2, progress=lambda *c: calls.append(c))
    assert [done for done, _ in calls] == list(range(1, len(calls) + 1))
    assert calls[-1][0] == calls[-1][1]
    assert len({total for _, total in calls}) == 2  # the estimate, then the planned count
