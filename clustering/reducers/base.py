"""The reducer contract: a scikit-learn transformer from features to a smaller embedding, with a
search space (`clustering.space`) that depends on the number of clusters."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from clustering import checks
from clustering.registry import Registry
from clustering.space import Searchable, Space

REDUCERS = Registry("reducer")


def check_int(reducer, param: str, low: int) -> None:
    """BenchError naming `reducer.param` unless that parameter is an integer >= low."""
    checks.check_int(getattr(reducer, param), f"{reducer.name}.{param}", low=low)


class Reducer(Searchable, TransformerMixin, BaseEstimator):
    """Features (n, d) -> embedding (n, n_components) float32, for the training rows and for
    new rows alike.

    `__init__` only stores keyword arguments (`random_state` among them); `fit(X)` validates X
    as scikit-learn transformers do (finite numbers, at least one row) and learns; `transform(X)`
    raises NotFittedError before fit and a ValueError when X has another number of features.
    Fitted state ends in `_` (`n_features_in_`, `n_components_`).

    Subclasses implement `declare(space, n_clusters)`, `_fit(X)`, which learns from validated
    X (n, d) and returns the training embedding, and `_transform(X)` for new rows. `cached`
    says whether an embedding is costly enough to keep in the feature cache; `version` is
    raised whenever what a configuration computes changes, so older cached embeddings are not
    reused.
    """

    cached: bool = False
    version: int = 1

    @classmethod
    def declare(cls, space: Space, n_clusters: int) -> dict:
        return {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # every embedding is float32
        return tags

    def fit(self, X, y=None):
        """Learn the embedding from features X (n_samples, n_features); returns self."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        """Fit on X (n_samples, n_features); returns its embedding (n_samples, n_components_)
        float32, as fitted (UMAP's training layout, not a re-projection of X)."""
        X = validate_data(self, X, dtype=[np.float32, np.float64])
        return np.asarray(self._fit(X), dtype=np.float32)

    def transform(self, X) -> np.ndarray:
        """Embed rows X (n, n_features_in_), new or not; (n, n_components_) float32."""
        check_is_fitted(self, "n_components_")
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        return np.asarray(self._transform(X), dtype=np.float32)

    def _fit(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _transform(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError
