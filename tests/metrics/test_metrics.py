"""clustering.metrics: exact against scikit-learn and validclust, chunked, bounded in memory."""

import gzip
import inspect
import itertools
import tracemalloc

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.decomposition import PCA
from sklearn.metrics import (
    adjusted_rand_score,
    homogeneity_score,
    normalized_mutual_info_score,
    pairwise_distances,
    silhouette_score,
)
from validclust import dunn as validclust_dunn

from clustering import metrics
from clustering.errors import BenchError
from clustering.metrics.registry import Metric, MetricRegistry

RTOL = 1e-9


def _read_idx(path, header_bytes):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header_bytes)


@pytest.fixture(scope="module")
def mnist(test_data):
    """1,000 real MNIST test images as (1000, 784) float64 in [0, 1], and their digit labels."""
    folder = test_data / "mnist"
    images = _read_idx(folder / "t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28 * 28)
    labels = _read_idx(folder / "t10k-labels-idx1-ubyte.gz", 8)
    return images[:1000] / 255.0, labels[:1000].astype(np.int64)


def _reference_dunn(X, labels):
    return validclust_dunn(pairwise_distances(X), labels)


def _exact_dunn(X, labels):
    """Dunn's index from directly computed distances (no Gram trick), for ill-conditioned data."""
    dist = cdist(X, X)
    same = labels[:, None] == labels[None, :]
    return dist[~same].min() / dist[same].max()


# --- exactness ---------------------------------------------------------------------------------


def test_asc_equals_sklearn_on_mnist_over_ragged_blocks(mnist):
    X, y = mnist
    expected = silhouette_score(X, y)
    assert metrics.asc(X, y, chunk_size=400) == pytest.approx(expected, rel=RTOL)  # 400*2 + 200
    assert metrics.asc(X, y) == pytest.approx(expected, rel=RTOL)  # default chunk: one block


def test_dunn_equals_validclust_on_mnist_over_ragged_blocks(mnist):
    X, y = mnist
    expected = _reference_dunn(X, y)
    assert metrics.dunn(X, y, chunk_size=400) == pytest.approx(expected, rel=RTOL)
    assert metrics.dunn(X, y, chunk_size=999) == pytest.approx(expected, rel=RTOL)  # 1-row tail


def test_kmeans_labels_match_references_on_mnist(mnist):
    from sklearn.cluster import KMeans

    X, _ = mnist
    labels = KMeans(n_clusters=7, n_init=1, random_state=0).fit_predict(X)
    assert metrics.asc(X, labels, chunk_size=333) == pytest.approx(
        silhouette_score(X, labels), rel=RTOL
    )
    assert metrics.dunn(X, labels, chunk_size=333) == pytest.approx(
        _reference_dunn(X, labels), rel=RTOL
    )


def test_float32_input_is_accumulated_in_float64(mnist):
    """float32 X scores as the same values in float64; sklearn and validclust round their float32
    distance matrices to float32, so they agree only to about 1e-6."""
    X, y = mnist
    X32 = X[:800].astype(np.float32)
    y = y[:800]
    X64 = X32.astype(np.float64)
    assert metrics.asc(X32, y, chunk_size=300) == pytest.approx(silhouette_score(X64, y), rel=RTOL)
    assert metrics.dunn(X32, y, chunk_size=300) == pytest.approx(_reference_dunn(X64, y), rel=RTOL)
    assert metrics.asc(X32, y) == pytest.approx(silhouette_score(X32, y), rel=1e-5)


def test_single_point_cluster_scores_zero_silhouette_as_sklearn(mnist):
    X, y = mnist
    X, y = X[:600], y[:600].copy()
    y[17] = 42  # a cluster of one point
    assert metrics.asc(X, y, chunk_size=128) == pytest.approx(silhouette_score(X, y), rel=RTOL)
    assert metrics.dunn(X, y, chunk_size=128) == pytest.approx(_reference_dunn(X, y), rel=RTOL)


def test_ties_from_duplicated_integer_points():
    """Many exactly equal distances and duplicated rows, within and across clusters."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 5, size=(60, 3))
    X = np.repeat(base, 4, axis=0).astype(np.float64)  # every point four times
    by_region = (base[:, 0] >= 2).astype(int)  # duplicates share a cluster: min distance > 0
    labels = np.repeat(by_region, 4)
    assert metrics.dunn(X, labels, chunk_size=50) == pytest.approx(
        _reference_dunn(X, labels), rel=RTOL
    )
    assert metrics.dunn(X, labels, chunk_size=50) > 0
    assert metrics.asc(X, labels, chunk_size=50) == pytest.approx(
        silhouette_score(X, labels), rel=RTOL
    )
    mixed = rng.integers(0, 3, size=len(X))  # duplicates split across clusters: dunn is 0
    assert metrics.dunn(X, mixed, chunk_size=50) == _reference_dunn(X, mixed) == 0.0
    assert metrics.asc(X, mixed, chunk_size=50) == pytest.approx(
        silhouette_score(X, mixed), rel=RTOL
    )


def test_ties_from_duplicated_real_images(mnist):
    """100 real images twice: zero distances and many tied distances; with the copies in another
    cluster than their originals, Dunn's index is exactly 0."""
    X, y = mnist
    X = np.vstack([X[:500], X[:100]])
    same = np.concatenate([y[:500], y[:100]])
    moved = np.concatenate([y[:500], (y[:100] + 1) % 10])
    for labels in (same, moved):
        assert metrics.asc(X, labels, chunk_size=128) == pytest.approx(
            silhouette_score(X, labels), rel=RTOL
        )
        assert metrics.dunn(X, labels, chunk_size=128) == pytest.approx(
            _reference_dunn(X, labels), rel=RTOL
        )
    assert metrics.dunn(X, moved) == _reference_dunn(X, moved) == 0.0


def test_dunn_is_exact_where_the_gram_trick_cancels():
    """Far from the origin the Gram trick loses digits; the extreme pairs are recomputed exactly."""
    rng = np.random.default_rng(1)
    X = 1e4 + rng.normal(size=(300, 4))
    labels = rng.integers(0, 3, size=300)
    assert metrics.dunn(X, labels, chunk_size=70) == pytest.approx(_exact_dunn(X, labels), rel=RTOL)


def test_dunn_stays_exact_when_near_ties_flood_the_float32_screen(caplog):
    """10,000 equally distant between-cluster pairs exceed the candidate cap: float64 redo."""
    rng = np.random.default_rng(2)
    X = np.vstack([np.zeros((100, 5)), np.full((100, 5), 0.1), 5 + rng.normal(size=(30, 5))])
    X += rng.normal(scale=1e-9, size=X.shape)  # near-ties, not exact ties
    labels = np.repeat([0, 1, 2], [100, 100, 30])
    with caplog.at_level("DEBUG", logger="clustering.metrics._pairwise"):
        got = metrics.dunn(X, labels, chunk_size=64)
    assert "redoing in float64" in caplog.text
    assert got == pytest.approx(_exact_dunn(X, labels), rel=RTOL)


def test_threads_and_one_thread_agree(mnist):
    from threadpoolctl import threadpool_limits

    X, y = mnist
    X, y = X[:700], y[:700]
    threaded = metrics.evaluate(X, y, y, chunk_size=100)
    with threadpool_limits(limits=1, user_api="blas"):
        single = metrics.evaluate(X, y, y, chunk_size=100)
    assert threaded["asc"] == pytest.approx(single["asc"], rel=1e-12)
    assert threaded["dunn"] == single["dunn"]


@pytest.mark.parametrize("values", [(0, 5, 9), (-3, 7, 1000), ("b", "a", "z")])
def test_noncontiguous_label_values(mnist, values):
    X, y = mnist
    X, y = X[:500], y[:500]
    labels = np.asarray(values)[y % 3]
    assert metrics.asc(X, labels, chunk_size=128) == pytest.approx(
        silhouette_score(X, labels), rel=RTOL
    )
    assert metrics.dunn(X, labels, chunk_size=128) == pytest.approx(
        _reference_dunn(X, labels), rel=RTOL
    )


@pytest.mark.parametrize("random_state", [0, 7])
def test_sample_size_draws_the_rows_sklearn_draws(mnist, random_state):
    X, y = mnist
    expected = silhouette_score(X, y, sample_size=400, random_state=random_state)
    got = metrics.asc(X, y, sample_size=400, random_state=random_state, chunk_size=150)
    assert got == pytest.approx(expected, rel=RTOL)
    state = np.random.RandomState(random_state)
    assert metrics.asc(X, y, sample_size=400, random_state=state) == pytest.approx(
        expected, rel=RTOL
    )


def test_evaluate_uses_one_sample_for_asc_and_dunn(mnist):
    X, y = mnist
    labels = (y + 1) % 10
    scores = metrics.evaluate(X, labels, y, sample_size=500, random_state=3)
    index = np.random.RandomState(3).permutation(len(X))[:500]
    assert scores["asc"] == pytest.approx(
        silhouette_score(X, labels, sample_size=500, random_state=3), rel=RTOL
    )
    assert scores["dunn"] == pytest.approx(_reference_dunn(X[index], labels[index]), rel=RTOL)
    assert scores["hungarian_accuracy"] == 1.0  # label metrics use all rows
    assert scores["majority_accuracy"] == 1.0


def test_score_computes_one_metric_as_evaluate_does(mnist):
    X, y = mnist
    X, y = X[:300], y[:300]
    labels = np.where(y < 5, y, y // 2)
    reference = PCA(5, random_state=0).fit_transform(X)

    def refit(X_subset, seed):
        return np.arange(len(X_subset)) % 3

    inputs = {"reference": reference, "refit": refit, "random_state": 0}
    scores = metrics.evaluate(X, labels, y, **inputs)
    computed = [
        metric.name
        for metric in metrics.METRICS
        if metric.function is not None and metric.inputs != "labelings"  # after the fact
    ]
    for name in computed:
        assert metrics.score(name, X, labels, y, **inputs) == pytest.approx(scores[name], rel=1e-12)
    with pytest.raises(ValueError, match="reference_asc.*reference="):
        metrics.score("reference_asc", X, labels, y)
    with pytest.raises(ValueError, match="metric_seconds.*measured"):
        metrics.score("metric_seconds", X, labels, y)


def test_evaluate_returns_every_metric(mnist):
    X, y = mnist
    X, y = X[:400], y[:400]
    labels = np.where(y < 5, y, y // 2)
    reference = PCA(5, random_state=0).fit_transform(X)

    def refit(X_subset, seed):
        return np.arange(len(X_subset)) % 2  # fixed labels: stability measures agreement only

    scores = metrics.evaluate(X, labels, y, reference=reference, refit=refit, random_state=0)
    computed = [
        metric.name
        for metric in metrics.METRICS
        if metric.function is not None and metric.inputs != "labelings"  # after the fact
    ]
    assert set(metrics.METRICS.objectives()) <= set(scores)
    assert list(scores) == [*computed, "metric_seconds"]
    assert scores["reference_asc"] == pytest.approx(metrics.asc(reference, labels), rel=1e-12)
    assert scores["generalisation"] == metrics.generalisation(reference, labels, random_state=0)
    assert scores["stability"] == metrics.stability(X, labels, refit, random_state=0)
    without = metrics.evaluate(X, labels, y)  # no reference, no refit: those criteria skip
    assert set(scores) - set(without) == {
        "reference_asc", "reference_dunn", "stability", "generalisation", "trustworthiness",
        "faithful_asc", "faithful_or_stable_asc",
    }  # fmt: skip
    assert scores["trustworthiness"] == metrics.trustworthiness(X, reference, random_state=0)
    assert scores["asc"] == pytest.approx(metrics.asc(X, labels), rel=1e-12)
    assert scores["dunn"] == pytest.approx(metrics.dunn(X, labels), rel=1e-12)
    for name in ("majority_accuracy", "hungarian_accuracy", "nmi", "ari", "homogeneity"):
        assert scores[name] == getattr(metrics, name)(y, labels)
    assert scores["metric_seconds"] > 0
    assert all(isinstance(value, float) for value in scores.values())


# --- degenerate input --------------------------------------------------------------------------


def _points(n=10):
    return np.arange(2.0 * n).reshape(n, 2) ** 1.5


@pytest.mark.parametrize(
    ("func", "X", "labels", "match"),
    [
        (metrics.asc, _points(), np.zeros(10), "2 to n_samples - 1"),
        (metrics.dunn, _points(), np.zeros(10), "at least 2 clusters"),
        (metrics.asc, _points(), np.arange(10), "2 to n_samples - 1"),
        (metrics.dunn, _points(), np.arange(10), "single point"),
        (metrics.dunn, np.ones((6, 2)), np.arange(6) % 2, "zero diameter"),
        (metrics.asc, np.where(_points() > 5, np.nan, 1.0), np.arange(10) % 2, "NaN or infinity"),
        (metrics.dunn, np.full((10, 2), np.inf), np.arange(10) % 2, "NaN or infinity"),
        (metrics.asc, _points(), np.arange(9) % 2, "9 entries"),
        (metrics.dunn, _points(), np.arange(11) % 2, "11 entries"),
        (metrics.asc, np.arange(10.0), np.arange(10) % 2, "2-D"),
        (metrics.dunn, _points(), (np.arange(10) % 2).reshape(5, 2), "1-D"),
    ],
)
def test_degenerate_input_raises_bench_error(func, X, labels, match):
    with pytest.raises(BenchError, match=match):
        func(X, labels)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_chunk_and_sample_sizes_raise(bad):
    X, labels = _points(), np.arange(10) % 2
    with pytest.raises(BenchError, match="chunk_size"):
        metrics.asc(X, labels, chunk_size=bad)
    with pytest.raises(BenchError, match="sample_size"):
        metrics.asc(X, labels, sample_size=bad)


def test_label_metrics_reject_length_mismatch():
    with pytest.raises(BenchError, match="y_true has 3 entries"):
        metrics.hungarian_accuracy([0, 1, 1], [0, 1])
    with pytest.raises(BenchError, match="y_true"):
        metrics.evaluate(_points(), np.arange(10) % 2, np.zeros(9))


# --- memory and progress -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "score",
    [
        lambda X, labels: metrics.evaluate(X, labels, labels, chunk_size=256),
        lambda X, labels: metrics.asc(X, labels, chunk_size=256),
        lambda X, labels: metrics.dunn(X, labels, chunk_size=256),  # float32 screening pass
    ],
    ids=["evaluate", "asc", "dunn"],
)
def test_memory_stays_far_below_a_full_distance_matrix(score):
    n = 6000
    rng = np.random.default_rng(0)
    X = rng.random((n, 8)).astype(np.float32)
    labels = rng.integers(0, 5, size=n)
    tracemalloc.start()
    try:
        score(X, labels)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    full_matrix = n * n * 8  # 288 MB
    assert peak < full_matrix / 50, f"peak {peak / 1e6:.1f} MB"


def test_progress_reports_every_tile_until_the_total():
    """Below pruned.MIN_SAMPLES every score takes one full pass (test_silhouette.py covers
    the pruned pass's progress)."""
    rng = np.random.default_rng(0)
    X, labels = rng.random((500, 3)), rng.integers(0, 4, size=500)
    calls = []

    def progress(done, total):
        calls.append((done, total))

    every_tile = [(done, 15) for done in range(1, 16)]  # 5 row blocks (120 * 4 + 20): 5 * 6 / 2
    for score in (metrics.asc, metrics.dunn, lambda X, y, **kw: metrics.evaluate(X, y, y, **kw)):
        calls.clear()
        score(X, labels, chunk_size=120, progress=progress)
        assert calls == every_tile


# --- label metrics -----------------------------------------------------------------------------


def test_majority_and_hungarian_by_hand():
    y_true = [0, 0, 0, 0, 0, 1]
    labels = [0, 0, 0, 1, 1, 1]  # cluster 1 is mostly class 0 too
    assert metrics.majority_accuracy(y_true, labels) == pytest.approx(5 / 6)
    assert metrics.hungarian_accuracy(y_true, labels) == pytest.approx(4 / 6)
    assert metrics.majority_accuracy([0, 0, 1, 1], [0, 1, 2, 3]) == 1.0  # more clusters
    assert metrics.hungarian_accuracy([0, 0, 1, 1], [0, 1, 2, 3]) == 0.5
    assert metrics.hungarian_accuracy([0, 1, 2, 2], [5, 5, 9, 9]) == 0.75  # fewer clusters
    assert metrics.hungarian_accuracy([3, 3, 8], [1, 1, 0]) == 1.0  # relabelled perfectly


def _brute_force(y_true, labels):
    clusters, classes = np.unique(labels), np.unique(y_true)
    counts = np.array([[np.sum((labels == c) & (y_true == t)) for t in classes] for c in clusters])
    majority = counts.max(axis=1).sum() / len(labels)
    size = max(counts.shape)
    square = np.zeros((size, size), dtype=int)
    square[: counts.shape[0], : counts.shape[1]] = counts
    best = max(square[np.arange(size), list(p)].sum() for p in itertools.permutations(range(size)))
    return majority, best / len(labels)


@pytest.mark.parametrize("seed", range(6))
def test_majority_and_hungarian_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_clusters, n_classes = rng.integers(2, 7, size=2)
    y_true = rng.integers(0, n_classes, size=40) * 2 + 1
    labels = rng.integers(0, n_clusters, size=40) - 3
    majority, hungarian = _brute_force(y_true, labels)
    assert metrics.majority_accuracy(y_true, labels) == pytest.approx(majority)
    assert metrics.hungarian_accuracy(y_true, labels) == pytest.approx(hungarian)


def test_sklearn_wrappers():
    rng = np.random.default_rng(0)
    y_true, labels = rng.integers(0, 4, size=200), rng.integers(0, 5, size=200)
    assert metrics.nmi(y_true, labels) == normalized_mutual_info_score(y_true, labels)
    assert metrics.ari(y_true, labels) == adjusted_rand_score(y_true, labels)
    assert metrics.homogeneity(y_true, labels) == homogeneity_score(y_true, labels)


# --- registry ----------------------------------------------------------------------------------


def test_registry_keeps_the_table_columns_and_objectives():
    assert metrics.METRICS.columns() == [
        "asc", "dunn", "majority_accuracy", "hungarian_accuracy", "nmi", "ari", "fit_seconds"
    ]  # fmt: skip
    assert metrics.METRICS.objectives() == [
        *metrics.METRICS.columns()[:-1], "reference_asc", "reference_dunn", "stability",
        "generalisation", "faithful_asc", "faithful_or_stable_asc",
    ]  # fmt: skip
    assert {"fit_seconds", "metric_seconds", "inertia"} <= set(metrics.METRICS.lower_is_better())


def test_every_registered_function_is_public_and_label_free_means_no_y_true():
    first_parameter = {
        "features": ("X",),
        "y_true": ("y_true",),
        "refit": ("features",),
        "reference": ("reference", "features"),
        "representation": ("features",),
        "scores": ("asc",),
        "labelings": ("labelings",),
    }
    for metric in metrics.METRICS:
        assert metric.description, metric.name
        if metric.function is not None:
            assert getattr(metrics, metric.name) is metric.function
            first = next(iter(inspect.signature(metric.function).parameters))
            assert (metric.inputs == "y_true") != metric.label_free, metric.name
            assert first in first_parameter[metric.inputs], metric.name


def test_check_objective_refuses_measured_and_unknown_names():
    assert metrics.METRICS.check_objective("nmi").function is metrics.nmi
    for name in ("homogeneity", "fit_seconds", "loss"):
        with pytest.raises(BenchError, match=f"unknown objective '{name}'; choose from: asc, dunn"):
            metrics.METRICS.check_objective(name)


def test_add_registers_a_function_under_its_name_with_its_docstring():
    registry = MetricRegistry()

    @registry.add(higher_is_better=False, label_free=True, column=False)
    def spread(X, labels):
        """Mean distance to the centre.

        More text."""

    assert registry.get("spread") == Metric(
        "spread", spread, False, True, column=False, description="Mean distance to the centre."
    )
    assert registry.objectives() == ["spread"] and registry.columns() == []
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(higher_is_better=True, label_free=True)(spread)
