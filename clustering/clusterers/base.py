"""The clusterer contract: a scikit-learn estimator with a per-trial search space."""

from clustering.registry import Registry

CLUSTERERS = Registry("clusterer")


class Clusterer:
    """Mixin for registered clusterers: `fit`, `predict`, `fit_predict`, `labels_`,
    `cluster_centers_` (n_clusters, n_features), `inertia_` (sum of squared distances), `n_iter_`.
    """

    name: str = ""

    @classmethod
    def search_space(cls, trial, n_clusters: int) -> dict:
        """`__init__` keyword arguments for one trial; parameter names prefixed by `name`."""
        return {"n_clusters": n_clusters}

    @classmethod
    def default_params(cls) -> dict:
        """The Optuna parameters (prefixed names) of the default configuration, to enqueue first."""
        return {}
