"""Mini-batch k-means: scikit-learn's `MiniBatchKMeans` behind the project's clusterer face."""

import numpy as np
from sklearn import cluster

from clustering.clusterers.base import CLUSTERERS, Clusterer
from clustering.clusterers.kmeans import check_n_clusters


@CLUSTERERS.register("minibatch_kmeans")
class MiniBatchKMeans(Clusterer, cluster.MiniBatchKMeans):
    """`sklearn.cluster.MiniBatchKMeans` (same parameters and attributes) whose `fit` first
    checks `n_clusters` against the data with the project's messages (BenchError).
    """

    @classmethod
    def search_space(cls, trial, n_clusters: int) -> dict:
        return {
            "n_clusters": n_clusters,
            "batch_size": trial.suggest_int("minibatch_kmeans.batch_size", 256, 4096, log=True),
            "init": trial.suggest_categorical("minibatch_kmeans.init", ["random", "k-means++"]),
            "n_init": trial.suggest_int("minibatch_kmeans.n_init", 1, 10),
            "max_iter": trial.suggest_int("minibatch_kmeans.max_iter", 50, 500, log=True),
        }

    @classmethod
    def default_params(cls) -> dict:
        # scikit-learn's defaults; n_init="auto" means 1 for k-means++.
        return {
            "minibatch_kmeans.batch_size": 1024,
            "minibatch_kmeans.init": "k-means++",
            "minibatch_kmeans.n_init": 1,
            "minibatch_kmeans.max_iter": 100,
        }

    def fit(self, X, y=None, sample_weight=None):
        """Validate `n_clusters` against X, then fit as scikit-learn does (which validates the
        other parameters). Returns self."""
        n_samples = (X.shape if hasattr(X, "shape") else np.shape(X))[0]
        check_n_clusters(self.n_clusters, n_samples)
        return super().fit(X, y=y, sample_weight=sample_weight)
