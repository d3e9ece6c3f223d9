"""The extractor contract: a scikit-learn transformer from images to feature vectors, with a
search space (`clustering.space`) and its optional abilities declared as class flags."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from clustering.errors import BenchError
from clustering.registry import Registry
from clustering.space import Searchable

EXTRACTORS = Registry("extractor")


def check_images(X, where: str) -> np.ndarray:
    """X as float32 (n, h, w, c) in [0, 1]; a 3-d (n, h, w) array gets a channel axis.

    BenchError (a ValueError) naming `where` for non-numeric, empty, NaN or infinite input, the
    wrong number of dimensions, or pixels outside [0, 1]. float32 input is not copied.
    """
    X = _as_float32(X, where)
    if X.ndim == 3:
        X = X[..., np.newaxis]
    if X.ndim != 4:
        raise BenchError(
            f"{where} expects images of shape (n, height, width, channels), got {X.shape}"
        )
    if X.size == 0:
        raise BenchError(f"{where} got no pixels (images of shape {X.shape}); give it images")
    low, high = X.min(), X.max()  # NaN propagates through both
    if not (np.isfinite(low) and np.isfinite(high)):
        raise BenchError(f"{where}: the images contain NaN or infinite pixels; impute them first")
    if not (low >= 0.0 and high <= 1.0):
        raise BenchError(
            f"{where} expects pixels in [0, 1], got values in [{low}, {high}]; "
            "scale the images first (datasets.preprocess)"
        )
    return X


def _as_float32(X, where: str) -> np.ndarray:
    X = X if isinstance(X, np.ndarray) else np.asarray(X)
    if X.dtype.kind not in "biufO":
        raise BenchError(f"{where} expects numeric pixels, got an array of dtype {X.dtype}")
    try:
        return X.astype(np.float32, copy=False)
    except (TypeError, ValueError) as error:
        raise BenchError(f"{where} expects numeric pixels; {error}") from None


class Extractor(Searchable, TransformerMixin, BaseEstimator):
    """Images (n, h, w, c) float32 in [0, 1] -> features (n, n_features) float32.

    `__init__` only stores keyword arguments, `random_state` among them; `fit(X, y=None,
    epoch_callback=None)` learns and returns self; fitted state ends in `_` (`image_shape_`
    (h, w, c) and `n_features_out_` at least). `transform`, `reconstruct` and `decode` check
    their input like scikit-learn transformers (NotFittedError before fit, BenchError for bad
    images or a size other than the training one).

    Optional abilities are declared by flags, and their methods raise NotImplementedError where
    the flag is False: `reconstructs` (`reconstruct(X)`: images -> images), `decodes`
    (`decode(codes)`: features -> images), `samples` (`sample(n, random_state)`: new images).
    `learned` says whether fitting trains a model (worth caching the features); models that
    train expose `history_` (dict of per-epoch loss lists). `cached` asks the feature cache to
    keep the features of an extractor that learns nothing but is costly to run (a pretrained
    network). `check_available()` raises BenchError naming what to install when the extractor
    cannot run in this environment (an optional extra), before any run opens. `version` is
    raised whenever the model a configuration builds changes, so cached features of the older
    model are not reused.
    """

    version: int = 1
    learned: bool = False
    cached: bool = False
    reconstructs: bool = False
    decodes: bool = False
    samples: bool = False

    @classmethod
    def check_available(cls) -> None:
        """BenchError naming what to install when this extractor cannot run here."""

    def fit(self, X, y=None, epoch_callback=None):
        """Learn from images X (n, h, w, c) in [0, 1]; `epoch_callback(epoch, logs)` is called
        after each training epoch by the extractors that train. Returns self."""
        raise NotImplementedError

    def transform(self, X) -> np.ndarray:
        """Features (n, n_features_out_) float32 of images shaped like the training images."""
        raise NotImplementedError

    def reconstruct(self, X) -> np.ndarray:
        """Reconstructions, float32 with the shape of X (when `reconstructs`)."""
        raise NotImplementedError(f"{self.name} does not reconstruct images")

    def decode(self, codes) -> np.ndarray:
        """Images (n, h, w, c) float32 in [0, 1] from features (n, n_features_out_) (when
        `decodes`)."""
        raise NotImplementedError(f"{self.name} cannot decode features into images")

    def sample(self, n: int, random_state=0) -> np.ndarray:
        """`n` new images (n, h, w, c) float32, drawn with `random_state` (when `samples`)."""
        raise NotImplementedError(f"{self.name} cannot sample new images")

    def _check_fitted_images(self, X, method: str) -> np.ndarray:
        """Images for a fitted extractor: NotFittedError before fit, BenchError for bad images
        or a size other than the training size."""
        check_is_fitted(self, "image_shape_")
        X = check_images(X, f"{self.name}.{method}")
        if X.shape[1:] != self.image_shape_:
            raise BenchError(
                f"{self.name}.{method}: fitted on images of shape {self.image_shape_}, "
                f"got {X.shape[1:]}; transform images of the training size"
            )
        return X
