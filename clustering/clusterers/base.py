"""The clusterer contract: a scikit-learn estimator with a search space (`clustering.space`)
and its optional abilities declared as class flags."""

import numpy as np
from sklearn.utils.metaestimators import available_if

from clustering.registry import Registry
from clustering.space import Searchable, Space

CLUSTERERS = Registry("clusterer")


def _is_probabilistic(clusterer) -> bool:
    return clusterer.probabilistic


class Clusterer(Searchable):
    """Mixin for registered clusterers: `fit`, `predict`, `fit_predict`, `labels_` (n_samples,),
    `cluster_centers_` (n_clusters, n_features), `inertia_` (sum of squared Euclidean distances
    of the samples to their assigned centre), `n_iter_`.

    `declare(space, n_clusters)` returns the `__init__` keyword arguments, `n_clusters` included.
    `probabilistic` clusterers also give `predict_proba(X)`: (n_samples, n_clusters) membership
    probabilities, rows summing to 1. On the others the method is absent (`hasattr` is False, as
    scikit-learn's checks expect); callers test the flag.
    """

    probabilistic: bool = False

    @classmethod
    def declare(cls, space: Space, n_clusters: int) -> dict:
        return {"n_clusters": n_clusters}

    @available_if(_is_probabilistic)
    def predict_proba(self, X):
        """Membership probabilities (n_samples, n_clusters) of the fitted clusters."""
        raise NotImplementedError(f"{self.name} declares probabilistic but has no predict_proba")


def inertia(X: np.ndarray, centres: np.ndarray, labels: np.ndarray) -> float:
    """Sum over the rows of X (n, d) of the squared distance to centres[label] (float64 sums),
    in blocks of rows so the memory stays O(block x d)."""
    total, block = 0.0, 4096
    for start in range(0, len(X), block):
        rows = slice(start, start + block)
        diff = X[rows].astype(np.float64) - centres[labels[rows]]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total
