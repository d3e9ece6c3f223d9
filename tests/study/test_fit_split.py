"""Fitting every extractor on other images of the dataset (`--fit-data-dir`, `--fit-split`):
the clustered images are only transformed, and the cache keys name the fitted-on images."""

import numpy as np
import pytest

from clustering import data, pipeline
from clustering.cache import FeatureCache
from clustering.config import RunConfig
from clustering.errors import BenchError
from clustering.extractors import EXTRACTORS
from clustering.study.cell import load_fit_images

SMALL_PATCH_KMEANS = {"n_atoms": 16, "patch_size": 6, "stride": 4, "n_components": None}


@pytest.fixture(scope="module")
def cifar_halves(test_data, tmp_path_factory):
    """The 200 shipped CIFAR-10 test images split in two: an npz whose x_train is the first
    100 and x_test the last 100."""
    dataset = data.load("cifar10", data_dir=test_data / "cifar10", split="test")
    path = tmp_path_factory.mktemp("halves") / "halves.npz"
    images, labels = dataset.images, dataset.labels
    np.savez(path, x_train=images[:100], y_train=labels[:100], x_test=images[100:],
             y_test=labels[100:])  # fmt: skip
    return path, data.preprocess(images, color=True)


def test_the_fit_split_gives_the_other_images_and_names_them(cifar_halves):
    path, X = cifar_halves
    config = RunConfig(dataset=f"npz:{path}", color=True, fit_split="train")
    X_fit, fitted_on = load_fit_images(config, X.shape[1:])
    np.testing.assert_array_equal(X_fit, X[:100])
    assert fitted_on["split"] == "train" and fitted_on["n_images"] == 100
    assert fitted_on["digest"] == data.load(f"npz:{path}", split="train").digest
    assert load_fit_images(RunConfig(dataset=f"npz:{path}"), X.shape[1:]) == (None, None)


def test_fit_images_of_another_shape_are_a_clear_error(cifar_halves):
    path, X = cifar_halves
    config = RunConfig(dataset=f"npz:{path}", color=False, fit_split="train")
    with pytest.raises(BenchError, match="images are 32x32x1, the clustered ones 32x32x3"):
        load_fit_images(config, X.shape[1:])


def test_an_unknown_fit_split_is_rejected_naming_the_choices():
    with pytest.raises(BenchError, match="unknown fit_split 'dev'; choose from: test, train"):
        RunConfig(fit_split="dev").validate()


def test_the_extractor_is_fitted_on_the_fit_images_and_transforms_the_clustered_ones(
    cifar_halves, tmp_path
):
    _, X = cifar_halves
    X_fit, X_test = X[:100], X[100:]
    fitted = EXTRACTORS.get("patch_kmeans")(**SMALL_PATCH_KMEANS, random_state=0).fit(X_fit)
    cache = FeatureCache(tmp_path / "cache")
    plain = {"split": "test", "limit": None, "color": True}
    honest = plain | {"fit": {"split": "train", "digest": "abc", "n_images": 100}}
    common = {"seed": 0, "digest": "d", "cache": cache}
    extraction = pipeline.extract(
        X_test, "patch_kmeans", SMALL_PATCH_KMEANS, preprocessing=honest, fit_X=X_fit, **common
    )
    np.testing.assert_allclose(extraction.features, fitted.transform(X_test), rtol=1e-5)
    assert extraction.features.shape[0] == 100 and not extraction.cache_hit
    on_itself = pipeline.extract(
        X_test, "patch_kmeans", SMALL_PATCH_KMEANS, preprocessing=plain, **common
    )
    assert on_itself.key != extraction.key and not on_itself.cache_hit
    assert not np.allclose(on_itself.features, extraction.features)
    again = pipeline.extract(
        X_test, "patch_kmeans", SMALL_PATCH_KMEANS, preprocessing=honest, fit_X=X_fit, **common
    )
    assert again.cache_hit and again.key == extraction.key
