"""Label-free selection criteria on real MNIST images: in the shared reference space a collapsed
embedding no longer outscores a faithful one, and its own-space silhouette does not count once its
trustworthiness shows the collapse; stability and generalisation behave at their known extremes;
all are deterministic for a seed and refuse bad input with the fix."""

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness as sklearn_trustworthiness

from clustering import data, metrics, reference
from clustering.errors import BenchError
from clustering.metrics import (
    METRICS,
    faithful_asc,
    generalisation,
    reference_asc,
    reference_dunn,
    stability,
    trustworthiness,
)

pytestmark = pytest.mark.slow  # see pyproject.toml's markers

K = 10


@pytest.fixture(scope="module")
def mnist(test_data):
    """tests/data's 1,000 real MNIST test images: preprocessed (n, 28, 28, 1) and the digits."""
    dataset = data.load("mnist", data_dir=test_data / "mnist")
    return data.preprocess(dataset.images), dataset.labels


@pytest.fixture(scope="module")
def ref(mnist):
    return reference.reference_embedding(mnist[0], random_state=0)


@pytest.fixture(scope="module")
def faithful(mnist):
    """PCA(20) of the pixels and its K-means labels: features that follow the images."""
    pixels = mnist[0].reshape(len(mnist[0]), -1)
    features = PCA(20, random_state=0).fit_transform(pixels)
    model = KMeans(K, n_init=3, random_state=0).fit(features)
    return features, model.labels_, model


@pytest.fixture(scope="module")
def collapsed(mnist):
    """K tight random blobs that ignore the images (features), and the blob ids (labels)."""
    rng = np.random.default_rng(0)
    ids = rng.integers(K, size=len(mnist[0]))
    features = rng.normal(scale=10.0, size=(K, 8))[ids] + rng.normal(scale=0.01, size=(len(ids), 8))
    return features, ids


# --- the point: comparable across spaces -------------------------------------------------------


def test_collapsed_wins_in_its_own_space_but_not_in_the_reference_space(ref, faithful, collapsed):
    (faithful_X, faithful_labels, _), (collapsed_X, collapsed_labels) = faithful, collapsed
    assert (
        metrics.asc(collapsed_X, collapsed_labels) > 0.99 > metrics.asc(faithful_X, faithful_labels)
    )
    assert reference_asc(ref, collapsed_labels) < 0.0 < reference_asc(ref, faithful_labels)
    assert generalisation(ref, collapsed_labels) < 0.3 < 0.8 < generalisation(ref, faithful_labels)


def test_reference_scores_are_asc_and_dunn_in_the_reference(ref, faithful):
    labels = faithful[1]
    assert reference_asc(ref, labels) == metrics.asc(ref, labels)
    assert reference_dunn(ref, labels) == metrics.dunn(ref, labels)
    assert reference_asc(ref, labels, sample_size=300, random_state=1) == metrics.asc(
        ref, labels, sample_size=300, random_state=1
    )


def test_criteria_are_registered_label_free_objectives_with_their_inputs():
    inputs = {
        "reference_asc": "reference",
        "reference_dunn": "reference",
        "stability": "refit",
        "generalisation": "reference",
        "faithful_asc": "scores",
    }
    for name, needs in inputs.items():
        metric = METRICS.get(name)
        assert metric.label_free and metric.higher_is_better and metric.description
        assert metric.objective and not metric.column
        assert metric.inputs == needs and metric.function is getattr(metrics, name)


def test_evaluate_skips_the_criteria_whose_inputs_are_not_given(faithful, mnist):
    features, labels, _ = faithful
    scores = metrics.evaluate(features[:300], labels[:300], mnist[1][:300])
    assert not {"reference_asc", "reference_dunn", "stability", "generalisation"} & set(scores)
    assert not {"trustworthiness", "faithful_asc"} & set(scores)


# --- faithfulness ------------------------------------------------------------------------------


def test_a_collapsed_space_is_untrustworthy_and_its_silhouette_does_not_count(
    ref, faithful, collapsed
):
    (faithful_X, faithful_labels, _), (collapsed_X, collapsed_labels) = faithful, collapsed
    assert trustworthiness(collapsed_X, ref) < 0.6 < 0.9 < trustworthiness(faithful_X, ref)
    own = metrics.asc(collapsed_X, collapsed_labels)
    assert faithful_asc(own, trustworthiness(collapsed_X, ref)) == -1.0 < own
    own = metrics.asc(faithful_X, faithful_labels)
    assert faithful_asc(own, trustworthiness(faithful_X, ref)) == own


def test_the_reference_is_perfectly_trustworthy_and_random_features_are_not(ref):
    assert trustworthiness(ref, ref) == pytest.approx(1.0)
    noise = np.random.default_rng(0).normal(size=ref.shape)
    assert trustworthiness(noise, ref) == pytest.approx(0.5, abs=0.05)


def test_the_silhouette_counts_from_a_trustworthiness_of_0_9():
    assert faithful_asc(0.4, 0.9) == 0.4
    assert faithful_asc(0.4, 0.8999) == -1.0
    assert faithful_asc(-0.2, 1.0) == -0.2
    assert faithful_asc(0.4, 0.8, threshold=0.75) == 0.4


def test_evaluate_and_score_derive_faithful_asc_from_asc_and_trustworthiness(
    ref, faithful, collapsed, mnist
):
    for features, labels in (faithful[:2], collapsed):
        scores = metrics.evaluate(features, labels, mnist[1], reference=ref, random_state=0)
        assert scores["trustworthiness"] == trustworthiness(features, ref, random_state=0)
        assert scores["faithful_asc"] == faithful_asc(scores["asc"], scores["trustworthiness"])
        alone = metrics.score("faithful_asc", features, labels, mnist[1], reference=ref)
        assert alone == scores["faithful_asc"]
    with pytest.raises(ValueError, match="needs its reference input"):
        metrics.score("faithful_asc", features, labels, mnist[1])


def test_trustworthiness_samples_at_most_max_samples_rows(ref, faithful):
    features = faithful[0]
    first = trustworthiness(features, ref, max_samples=300, random_state=1)
    assert first == trustworthiness(features, ref, max_samples=300, random_state=1)
    assert first != trustworthiness(features, ref, max_samples=300, random_state=2)
    few = trustworthiness(features[:4], ref[:4])  # 1 neighbour on 4 rows (10 would not fit)
    assert few == pytest.approx(sklearn_trustworthiness(ref[:4], features[:4], n_neighbors=1))


# --- stability ---------------------------------------------------------------------------------


def test_identical_reclusterings_give_stability_one(faithful):
    features, labels, model = faithful
    seeds = []

    def refit(X, seed):  # the same partition, under other cluster ids for each seed
        seeds.append(seed)
        return np.random.default_rng(seed).permutation(K)[model.predict(X)]

    assert stability(features, labels, refit, random_state=5) == pytest.approx(1.0)
    assert seeds == [6, 7, 8]


def test_random_labels_give_stability_near_zero(faithful):
    features, labels, _ = faithful

    def refit(X, seed):
        return np.random.default_rng(seed).integers(K, size=len(X))

    assert abs(stability(features, labels, refit, n_repeats=5, random_state=0)) < 0.02


def test_stability_refits_subsamples_of_the_given_fraction(faithful):
    features, labels, model = faithful
    sizes = []

    def refit(X, seed):
        sizes.append(len(X))
        return model.predict(X)

    stability(features, labels, refit, n_repeats=2, fraction=0.5, random_state=0)
    stability(features, labels, refit, n_repeats=1, fraction=1.0, random_state=0)
    assert sizes == [500, 500, 1000]


def test_stability_is_deterministic_for_a_seed(faithful):
    features, labels, _ = faithful

    def refit(X, seed):
        return KMeans(K, n_init=1, random_state=seed).fit_predict(X)

    first = stability(features, labels, refit, random_state=3)
    assert first == stability(features, labels, refit, random_state=3)
    assert 0.3 < first < 1.0


# --- generalisation ----------------------------------------------------------------------------


def test_labels_that_follow_the_features_generalise(faithful):
    features, labels, _ = faithful
    assert generalisation(features, labels, random_state=0) > 0.9


def test_random_labels_generalise_at_chance(faithful):
    features = faithful[0]
    labels = np.random.default_rng(0).integers(K, size=len(features))
    assert generalisation(features, labels, random_state=0) == pytest.approx(1 / K, abs=0.05)


def test_generalisation_is_deterministic_for_a_seed(faithful):
    features, labels, _ = faithful
    assert generalisation(features, labels, random_state=4) == generalisation(
        features, labels, random_state=4
    )


def test_lopsided_and_singleton_clusters_earn_nothing_for_it(faithful):
    features = faithful[0]
    labels = np.zeros(len(features), dtype=int)
    labels[np.argsort(features[:, 0])[-K + 1 :]] = np.arange(1, K)  # nine singleton outliers
    assert generalisation(features, labels, random_state=0) < 0.2  # plain accuracy: 0.99


def test_generalisation_samples_at_most_about_max_samples_rows(faithful):
    features, labels, _ = faithful
    value = generalisation(features, labels, random_state=0, max_samples=200)
    assert 0.5 < value <= 1.0


# --- bad input ---------------------------------------------------------------------------------


def _refit(X, seed):
    return np.zeros(len(X), dtype=int)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda X, y: reference_asc(X[:, 0], y), "reference: X must be 2-D"),
        (lambda X, y: reference_dunn(X, y[:-1]), "labels has 999 entries"),
        (lambda X, y: reference_asc(X, np.zeros(len(X))), "2 to n_samples - 1"),
        (lambda X, y: stability(X, y, "kmeans"), "refit must be a callable"),
        (lambda X, y: stability(X, y, _refit, fraction=0), r"fraction must be a number in \(0, 1"),
        (lambda X, y: stability(X, y, _refit, fraction=1.5), "fraction must be"),
        (lambda X, y: stability(X, y, _refit, n_repeats=0), "n_repeats=0 must be a whole number"),
        (lambda X, y: stability(X[:2], y[:2], _refit, fraction=0.2), "at least 2 rows"),
        (lambda X, y: stability(X, y, lambda Z, s: y), "refit's labels has 1000 entries"),
        (lambda X, y: generalisation(X, np.zeros(len(X))), "at least 2 clusters, got 1"),
        (lambda X, y: generalisation(X[:4], np.arange(4)), "a cluster of at least n_splits=3"),
        (
            lambda X, y: generalisation(X, y, max_samples=1),
            "max_samples=1 must be a whole number of at least 2",
        ),
        (
            lambda X, y: generalisation(X, y, n_splits=1.5),
            "n_splits=1.5 must be a whole number of at least 2",
        ),
        (lambda X, y: generalisation(np.full_like(X, np.nan), y), "NaN or infinity"),
        (lambda X, y: trustworthiness(X, X[:-1]), "reference has 999 rows but the features 1000"),
        (lambda X, y: trustworthiness(X, X[:, 0]), "reference: X must be 2-D"),
        (lambda X, y: trustworthiness(X[:3], X[:3]), "at least 4 rows, got 3"),
        (lambda X, y: trustworthiness(X, X, n_neighbors=0), "n_neighbors=0 must be a whole number"),
        (lambda X, y: faithful_asc(float("nan"), 1.0), "finite asc, got nan"),
    ],
)
def test_bad_input_is_refused_with_the_fix(faithful, call, match):
    features, labels, _ = faithful
    with pytest.raises(BenchError, match=match):
        call(features, labels)
