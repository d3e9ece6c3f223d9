"""clustering.pipeline: the reduced-feature cache (a clusterer sweep over one embedding never
computes it again) and a reducer fitted in a trial embedding new points."""

import numpy as np
import pytest

from clustering import data, pipeline
from clustering.cache import FeatureCache

pytestmark = pytest.mark.slow  # see pyproject.toml's markers

UMAP = {"n_components": 5, "n_neighbors": 10, "min_dist": 0.0, "metric": "euclidean"}


@pytest.fixture(scope="module")
def features():
    """Raw pixels of 300 digits (300, 64) and their cache key, as `extract` gives them."""
    dataset = data.load("digits", limit=300, seed=0)
    X = data.preprocess(dataset.images)
    extraction = pipeline.extract(
        X, "raw", {}, seed=0, digest=dataset.digest, preprocessing={"limit": 300}
    )
    return extraction.features, extraction.key, dataset.labels


def test_an_embedding_is_computed_once_then_read_from_the_cache(features, tmp_path):
    X, key, _ = features
    cache = FeatureCache(tmp_path)
    first = pipeline.reduce(X, "umap", UMAP, seed=0, features_key=key, cache=cache)
    again = pipeline.reduce(X, "umap", UMAP, seed=0, features_key=key, cache=cache)
    assert not first.cache_hit and first.reducer is not None
    assert again.cache_hit and again.reducer is None
    np.testing.assert_array_equal(again.embedding, first.embedding)
    assert again.seconds_saved > 0
    assert len(list(tmp_path.glob("*.npz"))) == 1


@pytest.mark.parametrize(
    "change",
    [{"params": {**UMAP, "n_neighbors": 12}}, {"seed": 1}, {"features_key": "other"}],
    ids=["params", "seed", "features"],
)
def test_other_parameters_seed_or_features_miss_the_cache(features, tmp_path, change):
    X, key, _ = features
    cache = FeatureCache(tmp_path)
    pipeline.reduce(X, "umap", UMAP, seed=0, features_key=key, cache=cache)
    asked = {"params": UMAP, "seed": 0, "features_key": key, **change}
    other = pipeline.reduce(X, "umap", asked.pop("params"), cache=cache, **asked)
    assert not other.cache_hit


def test_cheap_reducers_are_not_cached(features, tmp_path):
    X, key, _ = features
    cache = FeatureCache(tmp_path)
    for _ in range(2):
        reduction = pipeline.reduce(
            X, "pca", {"n_components": 8, "whiten": False}, seed=0, features_key=key, cache=cache
        )
        assert not reduction.cache_hit
    assert not list(tmp_path.glob("*.npz"))


def test_a_fitted_reducer_places_new_images_next_to_their_digit(features):
    """Fit on 250 images, embed the other 50: each lands nearest to training images of its
    own digit far more often than chance (1 in 10)."""
    X, key, y = features
    reduction = pipeline.reduce(X[:250], "umap", UMAP, seed=0, features_key=key)
    new = reduction.reducer.transform(X[250:])
    assert new.shape == (50, UMAP["n_components"]) and new.dtype == np.float32
    distances = ((new[:, None, :] - reduction.embedding[None, :, :]) ** 2).sum(axis=2)
    nearest = y[:250][distances.argmin(axis=1)]
    assert (nearest == y[250:]).mean() > 0.7
