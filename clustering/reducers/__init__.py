"""Reducers, registered by name: none, pca, umap (features -> a smaller embedding).

Import order is registration order, which is the order `all` expands to and reports list.
"""

# isort: off
from clustering.reducers.base import REDUCERS, Reducer
from clustering.reducers.none import Identity
from clustering.reducers.pca import PCA
from clustering.reducers.umap import UMAP
# isort: on

__all__ = ["PCA", "REDUCERS", "UMAP", "Identity", "Reducer"]
