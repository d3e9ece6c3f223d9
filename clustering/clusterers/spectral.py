"""`spectral`: spectral clustering of a nearest-neighbour graph (scikit-learn's
`SpectralClustering`); new rows take the cluster of their nearest training row."""

import logging
import warnings

import numpy as np
from sklearn import cluster
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted, validate_data

from clustering import checks
from clustering.clusterers.base import CLUSTERERS, Clusterer, inertia
from clustering.clusterers.kmeans import check_n_clusters
from clustering.errors import BenchError
from clustering.space import Space

logger = logging.getLogger(__name__)

ASSIGN_LABELS = ("kmeans", "cluster_qr", "discretize")


@CLUSTERERS.register("spectral")
class SpectralClustering(Clusterer, ClusterMixin, BaseEstimator):
    """The `n_clusters` leading eigenvectors of the normalised Laplacian of the symmetric
    `n_neighbors`-nearest-neighbour graph of the rows, grouped by `assign_labels` (K-means,
    as scikit-learn does by default, its QR variant or discretisation). It groups what is
    connected rather than what is round: on patch_kmeans features of 1,000 CIFAR-10 test
    images (soft-threshold encoding, stride 1, colour, dictionaries of 3 seeds) it reaches
    0.322 +- 0.004 Hungarian accuracy where K-means reaches 0.296 +- 0.013.

    A graph of n rows costs O(n^2 d) to build and one sparse eigen-decomposition; `n_neighbors`
    is clipped to n_samples - 1 (the value used is `n_neighbors_`). The method is transductive:
    `predict` gives each row the label of its nearest training row (Euclidean), so the training
    rows get back `labels_`; the fitted neighbour index `neighbours_` keeps the training rows.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,), int32
    cluster_centers_ : ndarray of shape (n_clusters, n_features), each cluster's mean row
        (zeros for a cluster left empty)
    inertia_ : float
        Sum of squared Euclidean distances of the rows to their cluster's mean, as K-means
        defines it, so the clusterers compare.
    n_iter_ : int
        1: one eigen-decomposition.
    """

    def __init__(self, n_clusters=8, *, n_neighbors=10, assign_labels="kmeans", random_state=None):
        self.n_clusters = n_clusters
        self.n_neighbors = n_neighbors
        self.assign_labels = assign_labels
        self.random_state = random_state

    @classmethod
    def declare(cls, space: Space, n_clusters: int) -> dict:
        return {
            "n_clusters": n_clusters,
            "n_neighbors": space.int("n_neighbors", 5, 50, log=True, default=10),
            "assign_labels": space.categorical(
                "assign_labels", list(ASSIGN_LABELS), default="kmeans"
            ),
        }

    def fit(self, X, y=None):
        """Cluster the rows of X (n_samples, n_features); float32 stays float32 in the centres.
        Returns self."""
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        check_n_clusters(self.n_clusters, X.shape[0])
        self._check_params()
        self.n_neighbors_ = min(self.n_neighbors, X.shape[0] - 1)
        spectral = cluster.SpectralClustering(
            n_clusters=self.n_clusters,
            affinity="nearest_neighbors",
            n_neighbors=self.n_neighbors_,
            assign_labels=self.assign_labels,
            random_state=self.random_state,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            labels = spectral.fit_predict(X)
        for warning in caught:
            logger.warning("spectral on %d x %d rows: %s", *X.shape, warning.message)
        self.labels_ = labels.astype(np.int32)
        self.cluster_centers_ = _means(X, self.labels_, self.n_clusters)
        self.inertia_ = inertia(X, self.cluster_centers_, self.labels_)
        self.n_iter_ = 1
        self.neighbours_ = NearestNeighbors(n_neighbors=1).fit(X)
        return self

    def fit_predict(self, X, y=None):
        """Fit on X and return its labels (n_samples,) int32."""
        return self.fit(X).labels_

    def predict(self, X):
        """The label of each row's nearest training row: (n,) int32 for X (n, n_features)."""
        check_is_fitted(self, "neighbours_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        nearest = self.neighbours_.kneighbors(X, return_distance=False)[:, 0]
        return self.labels_[nearest]

    def _check_params(self) -> None:
        checks.check_int(self.n_neighbors, "spectral.n_neighbors", low=1)
        if self.assign_labels not in ASSIGN_LABELS:
            raise BenchError(
                f"spectral.assign_labels={self.assign_labels!r} is not one of "
                f"{', '.join(ASSIGN_LABELS)}"
            )


def _means(X: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Each cluster's mean row (n_clusters, d) in X's dtype, zeros for an empty cluster."""
    sums = np.zeros((n_clusters, X.shape[1]))
    np.add.at(sums, labels, X)
    counts = np.bincount(labels, minlength=n_clusters)[:, None]
    return (sums / np.maximum(counts, 1)).astype(X.dtype, copy=False)
