"""Pictures of a cell's best configuration: centres in pixel space, decoded through a decoder
that the feature cache keeps, and the figures drawn for raw pixels."""

import numpy as np
import pytest

from clustering import data as datasets
from clustering import pipeline
from clustering.artifacts import pictures
from clustering.cache import FeatureCache
from clustering.study.cell import CellData, CellSpec


@pytest.fixture(scope="module")
def digits():
    dataset = datasets.load("digits", limit=200, seed=0)
    return dataset, datasets.preprocess(dataset.images)


def cell_for(digits, extractor: str, reducer: str = "none") -> tuple[CellData, CellSpec]:
    dataset, X = digits
    cell_data = CellData("digits", dataset.digest, {"limit": 200}, X, dataset.labels)
    spec = CellSpec(
        "digits", dataset.digest, {"limit": 200}, extractor, reducer, "kmeans", (10,), "asc", 0
    )
    return cell_data, spec


def stages(extractor: dict, reducer: dict | None = None) -> dict:
    return {"extractor": extractor, "reducer": reducer or {}, "clusterer": {"n_clusters": 10}}


def test_raw_centres_are_the_clusterer_centres_reshaped_to_images(digits):
    """K-means' centres are its clusters' mean pixels: `mean_codes` gives them back."""
    cell, spec = cell_for(digits, "raw")
    extraction = pipeline.extract(
        cell.X, "raw", {}, seed=0, digest=cell.digest, preprocessing=cell.preprocessing
    )
    labels, clusterer = pipeline.cluster(extraction.features, "kmeans", {"n_clusters": 10}, seed=0)
    images = pictures.centre_images("raw", extraction, clusterer.cluster_centers_, cell.X.shape[1:])
    assert images.shape == (10, *cell.X.shape[1:])
    expected = np.clip(clusterer.cluster_centers_, 0, 1).reshape(images.shape)
    np.testing.assert_allclose(images, expected)
    means = pictures.mean_codes(extraction.features, labels)
    np.testing.assert_allclose(means, clusterer.cluster_centers_, atol=1e-5)
    figures = pictures.draw(cell, spec, stages({}))
    assert sorted(figures) == ["centres.png", "cluster_samples.png", "confusion.png"]
    assert pictures.majority_labels(labels, cell.y_true, 10) == [
        np.bincount(cell.y_true[labels == k]).argmax() for k in range(10)
    ]


@pytest.mark.slow  # trains the autoencoder
def test_cached_decoder_decodes_centres_like_the_fitted_autoencoder(digits, tmp_path):
    cell, spec = cell_for(digits, "dense_ae")
    params = {"code_size": 8, "epochs": 2}
    cache = FeatureCache(tmp_path)
    fitted = pipeline.extract(
        cell.X,
        "dense_ae",
        params,
        seed=0,
        digest=cell.digest,
        preprocessing=cell.preprocessing,
        cache=cache,
    )
    cached = pipeline.extract(
        cell.X,
        "dense_ae",
        params,
        seed=0,
        digest=cell.digest,
        preprocessing=cell.preprocessing,
        cache=cache,
    )
    assert not fitted.cache_hit and cached.cache_hit and cached.extractor is None
    _, clusterer = pipeline.cluster(cached.features, "kmeans", {"n_clusters": 10}, seed=0)
    centres = clusterer.cluster_centers_
    from_model = pictures.centre_images("dense_ae", fitted, centres, cell.X.shape[1:])
    from_cache = pictures.centre_images("dense_ae", cached, centres, cell.X.shape[1:])
    assert from_cache.shape == (10, *cell.X.shape[1:])
    np.testing.assert_allclose(from_cache, from_model, atol=1e-6)
    figures = pictures.draw(cell, spec, stages(params), cache)
    assert sorted(figures) == [
        "centres.png",
        "cluster_samples.png",
        "confusion.png",
        "reconstructions.png",
    ]


def test_a_reduced_cell_draws_each_clusters_mean_code_as_its_centre(digits, tmp_path):
    """Clustered in a PCA embedding, the centres are still drawn in pixel space."""
    cell, spec = cell_for(digits, "raw", reducer="pca")
    figures = pictures.draw(
        cell, spec, stages({}, {"n_components": 8, "whiten": False}), FeatureCache(tmp_path)
    )
    assert sorted(figures) == ["centres.png", "cluster_samples.png", "confusion.png"]


@pytest.mark.slow
def test_patch_kmeans_draws_its_dictionary_atoms_from_the_cache(digits, tmp_path):
    """The atoms are drawn on a cache miss and, from the extractor kept beside the cache, on a
    hit (when the trial's fitted extractor is no longer in memory)."""
    from clustering.model import fitted

    cell, spec = cell_for(digits, "patch_kmeans")
    params = stages({"n_atoms": 12, "n_patches": 500, "n_components": 5})
    cache = FeatureCache(tmp_path)
    extraction, reduction = pipeline.embed(cell, spec, params, cache)
    fitted.keep(cache, extraction, reduction)
    assert pictures.dictionary_atoms("patch_kmeans", extraction).shape == (12, 6, 6, 1)
    hit, _ = pipeline.embed(cell, spec, params, cache)
    assert hit.cache_hit and hit.extractor is None
    np.testing.assert_array_equal(
        pictures.dictionary_atoms("patch_kmeans", hit, cache),
        extraction.extractor.atom_images(100),
    )
    assert "atoms.png" in pictures.draw(cell, spec, params, cache)
    assert pictures.dictionary_atoms("raw", extraction) is None


def test_labels_given_are_drawn_without_fitting_the_clusterer(digits):
    """A trial's kept labels (150 images in one cluster, 50 in another) are what the centres,
    the samples and the confusion show, not a re-fitted clusterer's 10 clusters."""
    cell, spec = cell_for(digits, "raw")
    labels = (np.arange(len(cell.X)) >= 150).astype(np.int64)
    figures = pictures.draw(cell, spec, stages({}), labels=labels)
    titles = [axis.get_title() for axis in figures["centres.png"].axes if axis.get_title()]
    assert [title.split()[0] for title in titles] == ["n=150", "n=50"]
