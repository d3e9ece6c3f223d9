"""The extractor contract: a scikit-learn transformer from images to feature vectors."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from clustering.registry import Registry

EXTRACTORS = Registry("extractor")


class Extractor(TransformerMixin, BaseEstimator):
    """Images (n, h, w, c) float32 in [0, 1] -> features (n, n_features) float32.

    `__init__` only stores keyword arguments; `fit(X)` learns and returns self; fitted state ends
    in `_`. Subclasses that train a model expose `history_` (dict of per-epoch loss lists) and may
    implement `reconstruct(X)` (images -> images) and `decode(codes)` (codes -> images).
    """

    name: str = ""
    learned: bool = False

    @classmethod
    def search_space(cls, trial) -> dict:
        """`__init__` keyword arguments for one Optuna trial; parameter names prefixed by `name`."""
        return {}

    @classmethod
    def default_params(cls) -> dict:
        """The Optuna parameters (prefixed names) of the default configuration, to enqueue first."""
        return {}

    def fit(self, X, y=None, **fit_params):
        return self

    def transform(self, X) -> np.ndarray:
        raise NotImplementedError
