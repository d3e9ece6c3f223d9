"""The reducer contract, run over every registered reducer on real digits (load_digits), plus
scikit-learn's estimator checks and the PCA and UMAP specifics."""

import os
import subprocess
import sys

import numpy as np
import optuna
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from clustering.errors import BenchError
from clustering.reducers import REDUCERS
from clustering.reducers.pca import PCA
from clustering.reducers.umap import UMAP
from tests.space_checks import assert_known_params_enqueue, assert_params_in_space

pytestmark = pytest.mark.slow  # see pyproject.toml's markers

NAMES = REDUCERS.names()
N_TRAIN = 1500


@pytest.fixture(scope="module")
def digits():
    """1797 real 8x8 digits as features (1797, 64) float32 in [0, 16], and their labels."""
    data = load_digits()
    return data.data.astype(np.float32), data.target


def make(name: str, n_clusters: int = 10, **params):
    """The reducer's default configuration for `n_clusters`, seeded."""
    cls = REDUCERS.get(name)
    defaults = cls.search_space(
        optuna.trial.FixedTrial(cls.default_params(n_clusters=n_clusters)), n_clusters=n_clusters
    )
    return cls(**{**defaults, **params}, random_state=0)


@pytest.fixture(scope="module")
def fitted(digits):
    """Each reducer fitted once on the first 1500 digits: (reducer, training embedding)."""
    cache = {}

    def get(name):
        if name not in cache:
            reducer = make(name)
            cache[name] = (reducer, reducer.fit_transform(digits[0][:N_TRAIN]))
        return cache[name]

    return get


# --- the contract, for every registered reducer ---


@pytest.mark.parametrize("name", NAMES)
def test_fit_transform_gives_float32_rows_of_n_components(fitted, name):
    reducer, embedding = fitted(name)
    assert embedding.dtype == np.float32 and np.isfinite(embedding).all()
    assert embedding.shape == (N_TRAIN, reducer.n_components_)
    assert reducer.n_features_in_ == 64


@pytest.mark.parametrize("name", NAMES)
def test_new_points_land_next_to_their_own_digit(fitted, digits, name):
    reducer, embedding = fitted(name)
    X, y = digits
    new = reducer.transform(X[N_TRAIN:])
    assert new.dtype == np.float32 and new.shape == (len(X) - N_TRAIN, reducer.n_components_)
    neighbours = KNeighborsClassifier(5).fit(embedding, y[:N_TRAIN])
    assert neighbours.score(new, y[N_TRAIN:]) > 0.85


@pytest.mark.parametrize("name", NAMES)
def test_training_rows_off_by_round_off_get_their_training_embedding(fitted, digits, name):
    reducer, embedding = fitted(name)
    rounded_off = np.nextafter(digits[0][:N_TRAIN], np.float32(np.inf))
    np.testing.assert_allclose(reducer.transform(rounded_off), embedding, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_same_random_state_gives_same_numbers(fitted, digits, name):
    _, embedding = fitted(name)
    again = make(name).fit_transform(digits[0][:N_TRAIN])
    np.testing.assert_array_equal(again, embedding)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_clusters", [2, 10, 100])
def test_defaults_and_presets_lie_in_the_space(name, n_clusters):
    assert_params_in_space(REDUCERS.get(name), n_clusters=n_clusters)


@pytest.mark.parametrize("name", NAMES)
def test_known_params_can_be_enqueued(name):
    assert_known_params_enqueue(REDUCERS.get(name), n_clusters=10)


@pytest.mark.parametrize("name", NAMES)
def test_transform_before_fit_is_not_fitted_error(digits, name):
    with pytest.raises(NotFittedError):
        make(name).transform(digits[0][:5])


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_a_value_error(fitted, digits, name):
    X = digits[0][:100].copy()
    X[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        make(name).fit(X)
    with pytest.raises(ValueError, match="0 sample"):
        make(name).fit(np.empty((0, 64), np.float32))
    reducer, _ = fitted(name)
    with pytest.raises(ValueError, match="features"):
        reducer.transform(digits[0][:5, :10])


UMAP_ORDER = "UMAP places new points by a seeded joint optimisation: the batch changes them"


@parametrize_with_checks(
    [REDUCERS.get(name)(random_state=0) for name in NAMES],
    expected_failed_checks=lambda reducer: (
        {
            "check_methods_sample_order_invariance": UMAP_ORDER,
            "check_methods_subset_invariance": UMAP_ORDER,
        }
        if reducer.name == "umap"
        else {}
    ),
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --- specifics ---


def test_identity_does_not_copy_float32(digits):
    X = digits[0]
    assert make("none").fit_transform(X) is X
    assert make("none").fit(X).transform(X) is X


@pytest.mark.parametrize(("n_clusters", "expected"), [(1, 2), (10, 10), (500, 64)])
def test_pca_default_components_are_the_clusters_clipped(n_clusters, expected):
    assert PCA.default_params(n_clusters=n_clusters)["pca.n_components"] == expected


def test_pca_clips_components_to_the_data(digits):
    reducer = PCA(n_components=64, random_state=0).fit(digits[0][:20, :8])
    assert reducer.n_components_ == 8 and reducer.transform(digits[0][:3, :8]).shape == (3, 8)


def test_umap_defaults_are_n2d_s():
    assert UMAP.default_params(n_clusters=10) == {
        "umap.n_components": 10,
        "umap.n_neighbors": 20,
        "umap.min_dist": 0.0,
        "umap.metric": "euclidean",
    }


def test_umap_clips_neighbours_and_components_on_tiny_data(digits):
    reducer = UMAP(n_components=10, n_neighbors=20, random_state=0)
    embedding = reducer.fit_transform(digits[0][:8])
    assert (reducer.n_neighbors_, reducer.n_components_) == (7, 6)
    assert embedding.shape == (8, 6)


@pytest.mark.parametrize(("param", "value"), [("n_components", 0), ("n_neighbors", 1.5)])
def test_bad_umap_parameter_names_itself(digits, param, value):
    with pytest.raises(BenchError, match=f"umap.{param}={value}"):
        UMAP(**{param: value}).fit(digits[0][:50])


def test_importing_reducers_loads_neither_umap_nor_numba():
    code = "import sys, clustering.reducers; print({'umap', 'numba'} & {*sys.modules})"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "set()"


UMAP_IN_A_PROCESS = """
import sys, numba, numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from clustering.reducers.umap import UMAP
X = load_digits().data[:400].astype(np.float32)
embedding = UMAP(n_components=5, random_state=0).fit_transform(X)
labels = KMeans(10, n_init=1, random_state=0).fit_predict(embedding)
np.savez(sys.argv[1], embedding=embedding, labels=labels)
print(numba.config.CPU_NAME, numba.get_num_threads())
"""


def test_a_seeded_umap_gives_the_same_embedding_and_labels_whatever_the_threads(tmp_path):
    """Two processes, one with every thread pool (numba, OpenMP, OpenBLAS) at 1 thread and one
    at 2; numba compiles for the portable CPU target in both (reducers/portable.py)."""
    results = []
    for threads in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        env.update(OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        env.pop("NUMBA_CPU_NAME", None)
        out = tmp_path / f"threads-{threads}.npz"
        command = [sys.executable, "-c", UMAP_IN_A_PROCESS, str(out)]
        run = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        assert run.stdout.split() == ["generic", threads]
        results.append(np.load(out))
    one, two = results
    assert np.array_equal(one["embedding"], two["embedding"])
    assert np.array_equal(one["labels"], two["labels"])
    assert len(set(one["labels"].tolist())) == 10
