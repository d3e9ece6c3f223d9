"""clustering.reference: the shared reference embedding of a dataset's pixels, deterministic for a
seed, cached by a key of its own, with clear messages for bad input."""

import numpy as np
import pytest

from clustering import data, reference
from clustering.cache import FeatureCache, cache_key
from clustering.errors import BenchError

pytestmark = pytest.mark.slow  # see pyproject.toml's markers

PREPROCESSING = {"color": False}


@pytest.fixture(scope="module")
def images(test_data):
    """The first 300 of tests/data's real MNIST test images, preprocessed: (300, 28, 28, 1)."""
    dataset = data.load("mnist", data_dir=test_data / "mnist")
    return data.preprocess(dataset.images[:300])


@pytest.fixture(scope="module")
def embedding(images):
    return reference.reference_embedding(images, random_state=0)


def test_embedding_is_n_by_10_float32_and_finite(images, embedding):
    assert embedding.shape == (len(images), reference.UMAP_COMPONENTS)
    assert embedding.dtype == np.float32
    assert np.isfinite(embedding).all()


def test_the_same_seed_gives_the_same_embedding(images, embedding):
    np.testing.assert_array_equal(reference.reference_embedding(images, random_state=0), embedding)


def test_tiny_inputs_are_clipped_not_refused(images):
    assert reference.reference_embedding(images[:6], random_state=0).shape == (6, 4)


def test_key_is_hex_and_names_data_preprocessing_and_seed():
    key = reference.reference_key("abc", PREPROCESSING, 0)
    assert len(key) == 32 and int(key, 16) >= 0
    assert key == reference.reference_key("abc", dict(PREPROCESSING), 0)
    others = {
        reference.reference_key("abd", PREPROCESSING, 0),
        reference.reference_key("abc", {"color": True}, 0),
        reference.reference_key("abc", PREPROCESSING, 1),
    }
    assert key not in others and len(others) == 3
    assert key != cache_key("abc", PREPROCESSING, "raw", {}, 0)  # never an extractor's entry


def test_cached_embedding_is_computed_once_then_read(images, embedding, tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path)
    options = {"digest": "d1", "preprocessing": PREPROCESSING, "random_state": 0, "cache": cache}
    first = reference.cached_reference_embedding(images, **options)
    np.testing.assert_array_equal(first, embedding)
    assert [p.name for p in tmp_path.iterdir()] == [
        reference.reference_key("d1", PREPROCESSING, 0) + ".npz"
    ]

    def fail(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(reference, "reference_embedding", fail)
    np.testing.assert_array_equal(reference.cached_reference_embedding(images, **options), first)


def test_without_a_cache_it_is_computed(images, embedding):
    got = reference.cached_reference_embedding(images, digest="d", preprocessing=PREPROCESSING)
    np.testing.assert_array_equal(got, embedding)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (
            np.zeros((10, 28, 28), np.float32),
            r"needs float images \(n, h, w, c\) in \[0, 1\], got float32 of shape \(10, 28, 28\)",
        ),
        (
            np.zeros((10, 28, 28, 1), np.uint8),
            r"needs float images \(n, h, w, c\) in \[0, 1\], got uint8",
        ),
        (
            np.full((10, 2, 2, 1), 255.0, np.float32),
            r"expects pixels in \[0, 1\], got values in \[255.0, 255.0\]",
        ),
        (np.full((10, 2, 2, 1), np.nan, np.float32), "NaN or infinite pixels"),
        (np.zeros((3, 2, 2, 1), np.float32), "at least 4 images, got 3"),
    ],
)
def test_bad_images_are_refused_with_the_fix(bad, match):
    with pytest.raises(BenchError, match=match):
        reference.reference_embedding(bad, random_state=0)


@pytest.mark.parametrize("seed", [None, 1.5, True, "0"])
def test_seed_must_be_an_int(images, seed):
    with pytest.raises(BenchError, match="random_state must be an int seed"):
        reference.reference_embedding(images[:10], random_state=seed)
