"""Mini-batch k-means: scikit-learn's `MiniBatchKMeans` behind the project's clusterer face."""

import numpy as np
from sklearn import cluster
from sklearn.utils.validation import validate_data

from clustering.clusterers.base import CLUSTERERS, Clusterer
from clustering.clusterers.kmeans import check_n_clusters
from clustering.space import Space


@CLUSTERERS.register("minibatch_kmeans")
class MiniBatchKMeans(Clusterer, cluster.MiniBatchKMeans):
    """`sklearn.cluster.MiniBatchKMeans` (same parameters and attributes) whose `fit` first
    checks `n_clusters` against the data with the project's messages (BenchError).
    """

    @classmethod
    def declare(cls, space: Space, n_clusters: int) -> dict:
        # scikit-learn's defaults; its n_init="auto" means 1 for k-means++.
        return {
            "n_clusters": n_clusters,
            "batch_size": space.int("batch_size", 256, 4096, log=True, default=1024),
            "init": space.categorical("init", ["random", "k-means++"], default="k-means++"),
            "n_init": space.int("n_init", 1, 10, default=1),
            "max_iter": space.int("max_iter", 50, 500, log=True, default=100),
        }

    def fit(self, X, y=None, sample_weight=None):
        """Validate X (n_samples, n_features) and `n_clusters` against it, then fit as
        scikit-learn does (which validates the other parameters). Returns self."""
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            accept_large_sparse=False,
        )
        check_n_clusters(self.n_clusters, X.shape[0])
        return super().fit(X, y=y, sample_weight=sample_weight)
