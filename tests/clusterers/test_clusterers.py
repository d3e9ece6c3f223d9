"""Clusterers: the contract (scikit-learn's estimator checks included) over every registered
clusterer; the scratch KMeans against scikit-learn's Lloyd on real MNIST, its edge cases and
parameter checks; the MiniBatchKMeans, GaussianMixture and SpectralClustering wrappers."""

import gzip

import numpy as np
import optuna
import pytest
from sklearn import cluster
from sklearn.datasets import load_digits, make_circles
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from clustering.clusterers import (
    CLUSTERERS,
    GaussianMixture,
    KMeans,
    MiniBatchKMeans,
    SpectralClustering,
)
from clustering.clusterers.gmm import auto_covariance_type
from clustering.errors import BenchError
from tests.space_checks import assert_known_params_enqueue, assert_params_in_space

N_IMAGES = 1000


@pytest.fixture(scope="module")
def mnist(test_data):
    """The first 1000 real MNIST test images, (1000, 784) float64 in [0, 1]."""
    with gzip.open(test_data / "mnist" / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read(16 + N_IMAGES * 784)
    return np.frombuffer(raw, np.uint8, offset=16).reshape(N_IMAGES, 784) / 255.0


@pytest.fixture(scope="module")
def digits():
    return load_digits().data


@pytest.fixture
def one_thread():
    """scikit-learn's MiniBatchKMeans opens an OpenMP region per mini-batch: on a busy machine
    its spinning threads make a 0.1 s fit take seconds."""
    with threadpool_limits(1):
        yield


def sklearn_lloyd(X, init, **kwargs):
    params = dict(n_init=1, max_iter=300, tol=0.0) | kwargs
    return cluster.KMeans(len(init), init=init, algorithm="lloyd", **params).fit(X)


def exact_inertia(X, centers, labels):
    diff = X.astype(np.float64) - centers.astype(np.float64)[labels]
    return float(np.einsum("ij,ij->", diff, diff))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("tol", [0.0, 1e-4])
def test_same_labels_inertia_and_iterations_as_sklearn_lloyd(mnist, dtype, tol):
    X = mnist.astype(dtype)
    init = X[np.random.default_rng(0).choice(len(X), 10, replace=False)]
    ours = KMeans(10, init=init, max_iter=300, tol=tol).fit(X)
    ref = sklearn_lloyd(X, init, tol=tol)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.n_iter_ == ref.n_iter_
    assert ours.cluster_centers_.dtype == dtype
    # Ours sums in float64; scikit-learn's float32 inertia carries float32 rounding (~1e-6).
    assert ours.inertia_ == pytest.approx(
        exact_inertia(X, ours.cluster_centers_, ours.labels_),
        rel=1e-6 if dtype == np.float32 else 1e-12,
    )
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-6 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(
        ours.cluster_centers_, ref.cluster_centers_, atol=1e-12 if dtype == np.float64 else 1e-5
    )


def test_stops_at_max_iter_like_sklearn(mnist):
    init = mnist[:10]
    ours = KMeans(10, init=init, max_iter=3, tol=0).fit(mnist)
    ref = sklearn_lloyd(mnist, init, max_iter=3)
    assert ours.n_iter_ == ref.n_iter_ == 3
    np.testing.assert_array_equal(ours.labels_, ref.labels_)  # relabelled with final centres
    np.testing.assert_array_equal(ours.predict(mnist), ours.labels_)


@pytest.mark.parametrize("init", ["random", "k-means++"])
def test_seeded_inits_are_deterministic_and_draw_as_sklearn(mnist, init):
    first = KMeans(10, init=init, random_state=3).fit(mnist)
    again = KMeans(10, init=init, random_state=3).fit(mnist)
    np.testing.assert_array_equal(first.labels_, again.labels_)
    assert first.inertia_ == again.inertia_
    ref = cluster.KMeans(10, init=init, n_init=1, random_state=3, algorithm="lloyd").fit(mnist)
    assert first.inertia_ == pytest.approx(ref.inertia_, rel=1e-6)
    np.testing.assert_array_equal(first.labels_, ref.labels_)


def test_n_init_keeps_the_lowest_inertia(mnist):
    rng = np.random.RandomState(7)  # shared: each fit draws the next initialisation
    single = [KMeans(10, n_init=1, random_state=rng).fit(mnist).inertia_ for _ in range(4)]
    best = KMeans(10, n_init=4, random_state=7).fit(mnist)
    assert len(set(single)) > 1
    assert best.inertia_ == min(single)


def test_empty_cluster_is_reseeded_with_a_far_point(mnist):
    init = mnist[:5].copy()
    init[2] = 1e3  # farther from every image than any other centre: empty after one step
    ours = KMeans(5, init=init, max_iter=100, tol=0).fit(mnist)
    assert np.isfinite(ours.cluster_centers_).all()
    assert set(ours.labels_) == set(range(5))
    np.testing.assert_array_equal(ours.labels_, sklearn_lloyd(mnist, init, max_iter=100).labels_)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ties_duplicates_and_a_single_point_cluster_match_sklearn(mnist, dtype):
    """Two identical initial centres (every image ties between them: the lower index wins, the
    other empties and is reseeded), 100 duplicated images, and an outlier alone in its cluster."""
    X = np.vstack([mnist[:600], mnist[:100]]).astype(dtype)
    X[-1] = 3.0
    init = X[[0, 1, 1, 2, 3, 4, 5, 6, 7, len(X) - 1]]
    ours = KMeans(10, init=init, tol=0).fit(X)
    ref = sklearn_lloyd(X, init)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.n_iter_ == ref.n_iter_
    assert np.bincount(ours.labels_)[-1] == 1
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exact_ties_from_duplicate_seeds_break_as_in_sklearn(digits, dtype):
    # Every image three times: "random" seeds twice the same image, so two centres coincide
    # and their exact ties are broken by BLAS rounding, which depends on the call's shape.
    X = np.repeat(digits[:300], 3, axis=0).astype(dtype)
    ref = cluster.KMeans(30, init="random", n_init=1, random_state=1, tol=0).fit(X)
    ours = KMeans(30, init="random", random_state=1, tol=0).fit(X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.n_iter_ == ref.n_iter_


def test_float32_stays_float32_and_predict_matches_labels(mnist):
    X = mnist.astype(np.float32)
    model = KMeans(10, random_state=0).fit(X)
    assert model.cluster_centers_.dtype == np.float32
    assert model.labels_.dtype == np.int32
    assert isinstance(model.inertia_, float) and model.n_features_in_ == 784
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    np.testing.assert_array_equal(model.fit_predict(X), model.labels_)


def test_same_result_on_one_thread(mnist):
    model = KMeans(10, random_state=0).fit(mnist)
    with threadpool_limits(1):
        single = KMeans(10, random_state=0).fit(mnist)
    np.testing.assert_array_equal(single.labels_, model.labels_)
    assert single.inertia_ == pytest.approx(model.inertia_, rel=1e-12)


def test_weighted_fit_with_an_empty_cluster_matches_sklearn(mnist):
    weights = np.random.default_rng(0).uniform(0.1, 3.0, len(mnist))
    init = mnist[:8].copy()
    init[3] = 50.0
    ours = KMeans(8, init=init, tol=0).fit(mnist, sample_weight=weights)
    ref = cluster.KMeans(8, init=init, n_init=1, tol=0, algorithm="lloyd")
    ref.fit(mnist, sample_weight=weights)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.n_iter_ == ref.n_iter_
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-9)


def test_integer_sample_weight_equals_repeating_samples(digits):
    weights = np.random.default_rng(0).integers(1, 4, len(digits))
    init = digits[:6]
    weighted = KMeans(6, init=init, tol=0).fit(digits, sample_weight=weights)
    repeated = KMeans(6, init=init, tol=0).fit(np.repeat(digits, weights, axis=0))
    np.testing.assert_allclose(weighted.cluster_centers_, repeated.cluster_centers_, atol=1e-9)
    assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=1e-9)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_clusters": 1}, "n_clusters=1"),
        (
            {"n_clusters": 5000},
            r"n_clusters=5000 is larger than the number of samples \(1797\); choose 2..1797",
        ),
        ({"n_clusters": 2.5}, "n_clusters=2.5"),
        ({"init": "kmeans"}, "init='kmeans'"),
        ({"init": np.zeros((3, 5))}, r"init has shape \(3, 5\)"),
        ({"n_init": 0}, "n_init=0"),
        ({"max_iter": 0}, "max_iter=0"),
        ({"tol": -1.0}, "tol=-1.0"),
    ],
)
def test_bad_parameters_name_the_parameter(digits, params, message):
    with pytest.raises(BenchError, match=message):
        KMeans(**({"n_clusters": 8} | params)).fit(digits)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data_is_rejected(digits, bad):
    X = digits.copy()
    X[5, 3] = bad
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        KMeans(3).fit(X)


def test_bad_sample_weight_is_rejected(digits):
    with pytest.raises(ValueError, match="sample_weight has shape"):
        KMeans(3).fit(digits, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0"):
        KMeans(3).fit(digits, sample_weight=-np.ones(len(digits)))


# --- the contract, for every registered clusterer ---

NAMES = CLUSTERERS.names()
N_CLUSTERS_1 = "the check sets n_clusters=1, which is rejected on purpose (choose 2..n_samples)"
WEIGHTS = "as in scikit-learn: seeds and mini-batches are drawn samples; weighing is not repeating"
EXPECTED_FAILED_CHECKS = {
    "check_dont_overwrite_parameters": N_CLUSTERS_1,
    "check_methods_subset_invariance": N_CLUSTERS_1,
    "check_fit2d_1feature": N_CLUSTERS_1,
    "check_fit2d_predict1d": N_CLUSTERS_1,
}
EXPECTED_FAILED_BY_NAME = {
    "kmeans": {"check_sample_weight_equivalence_on_dense_data": WEIGHTS},
    "minibatch_kmeans": {
        "check_sample_weight_equivalence_on_dense_data": WEIGHTS,
        "check_sample_weight_equivalence_on_sparse_data": WEIGHTS,
    },
}


@parametrize_with_checks(
    [CLUSTERERS.get(name)(n_clusters=3, random_state=0) for name in NAMES],
    expected_failed_checks=lambda est: {
        **EXPECTED_FAILED_CHECKS,
        **EXPECTED_FAILED_BY_NAME.get(est.name, {}),
    },
)
def test_sklearn_estimator_checks(estimator, check, one_thread):
    check(estimator)


def make(name: str, n_clusters: int = 10, **params):
    """The clusterer's default configuration for `n_clusters`, seeded."""
    cls = CLUSTERERS.get(name)
    defaults = cls.default_params(n_clusters=n_clusters)
    params = {
        **cls.search_space(optuna.trial.FixedTrial(defaults), n_clusters=n_clusters),
        **params,
    }
    return cls(**params, random_state=0)


@pytest.mark.parametrize("name", NAMES)
def test_fit_gives_the_contract_attributes(digits, name, one_thread):
    X = digits.astype(np.float32)
    model = make(name)
    labels = model.fit_predict(X)
    assert labels.shape == (len(X),) and set(labels) == set(range(10))
    np.testing.assert_array_equal(model.labels_, labels)
    assert model.cluster_centers_.shape == (10, 64)
    assert model.inertia_ == pytest.approx(
        exact_inertia(X, model.cluster_centers_, model.labels_), rel=1e-5
    )
    assert isinstance(model.n_iter_, int | np.integer) and model.n_iter_ >= 1
    np.testing.assert_array_equal(model.predict(X), labels)


@pytest.mark.parametrize("name", NAMES)
def test_same_random_state_gives_same_labels(digits, name, one_thread):
    first, again = make(name).fit(digits), make(name).fit(digits)
    np.testing.assert_array_equal(first.labels_, again.labels_)
    assert first.inertia_ == again.inertia_


@pytest.mark.parametrize("name", NAMES)
def test_probabilities_only_where_declared(digits, name, one_thread):
    model = make(name).fit(digits)
    if not model.probabilistic:
        assert not hasattr(model, "predict_proba")
        return
    proba = model.predict_proba(digits[:50])
    assert proba.shape == (50, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba.argmax(axis=1), model.predict(digits[:50]))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_clusters", [2, 10, 100])
def test_defaults_and_presets_lie_in_the_space(name, n_clusters):
    assert_params_in_space(CLUSTERERS.get(name), n_clusters=n_clusters)
    params = CLUSTERERS.get(name).search_space(
        optuna.trial.FixedTrial(CLUSTERERS.get(name).default_params(n_clusters=n_clusters)),
        n_clusters=n_clusters,
    )
    assert params["n_clusters"] == n_clusters


@pytest.mark.parametrize("name", NAMES)
def test_known_params_can_be_enqueued(name):
    assert_known_params_enqueue(CLUSTERERS.get(name), n_clusters=10)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("n_clusters", "message"),
    [
        (1, "n_clusters=1 is too small"),
        (5000, r"n_clusters=5000 is larger than the number of samples \(1797\); choose 2..1797"),
        (2.5, "n_clusters=2.5 must be a whole number"),
    ],
)
def test_n_clusters_is_checked_against_the_data(digits, name, n_clusters, message):
    with pytest.raises(BenchError, match=message):
        CLUSTERERS.get(name)(n_clusters=n_clusters).fit(digits)


def test_kmeans_defaults_reproduce_the_original_random_init():
    assert KMeans.default_params(n_clusters=10)["kmeans.init"] == "random"
    assert KMeans().get_params()["init"] == "random"


def test_minibatch_fit_predict_on_digits(digits, one_thread):
    model = MiniBatchKMeans(n_clusters=10, random_state=0, batch_size=256, n_init=3)
    labels = model.fit_predict(digits)
    assert set(labels) == set(range(10))
    assert model.cluster_centers_.shape == (10, 64)
    assert model.inertia_ > 0 and model.n_iter_ >= 1
    np.testing.assert_array_equal(model.predict(digits), labels)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"n_clusters": 5000},
            r"n_clusters=5000 is larger than the number of samples \(1797\); choose 2..1797",
        ),
        ({"n_clusters": 1}, "n_clusters=1"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_minibatch_bad_parameters(digits, params, message):
    with pytest.raises(ValueError, match=message):
        MiniBatchKMeans(**({"n_clusters": 8} | params)).fit(digits)


def test_gmm_centres_are_the_mixture_means_and_labels_its_argmax(digits, one_thread):
    model = GaussianMixture(10, covariance_type="diag", reg_covar=1e-3, random_state=0)
    labels = model.fit_predict(digits)
    np.testing.assert_array_equal(model.cluster_centers_, model.mixture_.means_)
    np.testing.assert_array_equal(labels, model.mixture_.predict(digits))
    assert model.lower_bound_ == model.mixture_.lower_bound_


def test_gmm_float32_stays_float32(digits, one_thread):
    X = digits.astype(np.float32)
    model = GaussianMixture(4, covariance_type="spherical", random_state=0).fit(X)
    assert model.cluster_centers_.dtype == np.float32 and model.labels_.dtype == np.int32


def test_gmm_bad_covariance_type_is_rejected(digits):
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianMixture(3, covariance_type="round").fit(digits)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((1000, 10), "full"), ((1000, 50), "full"), ((1000, 51), "diag"), ((400, 50), "diag")],
)
def test_gmm_auto_takes_full_covariances_only_with_ten_samples_per_feature(shape, expected):
    assert auto_covariance_type(*shape) == expected


def test_gmm_auto_on_fifty_features_of_three_hundred_images_is_diagonal(one_thread):
    X = np.random.default_rng(0).normal(size=(300, 50))
    model = GaussianMixture(3, n_init=1, random_state=0).fit(X)
    assert model.covariance_type_ == "diag" and model.mixture_.covariance_type == "diag"


def test_gmm_singular_full_covariance_is_retried_with_a_larger_reg_covar(one_thread, caplog):
    X = np.random.default_rng(0).normal(size=(60, 40)) * 1e6
    model = GaussianMixture(6, covariance_type="full", n_init=1, random_state=0).fit(X)
    assert model.reg_covar_ > model.reg_covar == 1e-6
    assert model.mixture_.reg_covar == model.reg_covar_
    assert "singular full covariance" in caplog.text and len(np.unique(model.labels_)) > 1


def test_gmm_covariance_singular_at_every_reg_covar_is_a_clear_error(one_thread):
    X = np.random.default_rng(0).normal(size=(60, 40)) * 1e9
    with pytest.raises(BenchError, match="stay singular on 60 x 40 features.*covariance_type=diag"):
        GaussianMixture(6, covariance_type="full", n_init=1, random_state=0).fit(X)


def test_spectral_separates_rings_that_kmeans_cuts_in_half(one_thread):
    X, y = make_circles(600, factor=0.4, noise=0.04, random_state=0)
    spectral = SpectralClustering(2, random_state=0).fit(X)
    kmeans = KMeans(2, random_state=0).fit(X)
    assert adjusted_rand_score(y, spectral.labels_) > 0.95
    assert adjusted_rand_score(y, kmeans.labels_) < 0.1


def test_spectral_new_rows_take_their_nearest_training_rows_cluster(digits, one_thread):
    X = digits.astype(np.float32)
    model = SpectralClustering(10, random_state=0).fit(X[:1500])
    np.testing.assert_array_equal(model.predict(X[:1500]), model.labels_)
    distances = ((X[1500:, None, :] - X[None, :1500, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(model.predict(X[1500:]), model.labels_[distances.argmin(1)])
    assert model.cluster_centers_.dtype == np.float32
    np.testing.assert_allclose(model.cluster_centers_[3], X[:1500][model.labels_ == 3].mean(0))


def test_spectral_clips_neighbours_on_tiny_data(digits, one_thread):
    model = SpectralClustering(2, n_neighbors=10, random_state=0).fit(digits[:6])
    assert model.n_neighbors_ == 5 and model.labels_.shape == (6,)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_neighbors": 0}, "spectral.n_neighbors=0 must be a whole number of at least 1"),
        ({"n_neighbors": 2.5}, "spectral.n_neighbors=2.5 must be a whole number"),
        ({"assign_labels": "round"}, "spectral.assign_labels='round' is not one of kmeans"),
    ],
)
def test_spectral_bad_parameters_name_the_parameter(digits, params, message):
    with pytest.raises(BenchError, match=message):
        SpectralClustering(3, **params).fit(digits[:100])
