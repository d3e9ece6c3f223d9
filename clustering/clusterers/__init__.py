"""Clusterers, registered by name: `kmeans` (from scratch, NumPy), `minibatch_kmeans`, `gmm`,
`spectral`.

Import order is registration order, which is the order `all` expands to and reports list.
"""

# isort: off
from clustering.clusterers.base import CLUSTERERS, Clusterer
from clustering.clusterers.kmeans import KMeans
from clustering.clusterers.minibatch_kmeans import MiniBatchKMeans
from clustering.clusterers.gmm import GaussianMixture
from clustering.clusterers.spectral import SpectralClustering
# isort: on

__all__ = [
    "CLUSTERERS",
    "Clusterer",
    "GaussianMixture",
    "KMeans",
    "MiniBatchKMeans",
    "SpectralClustering",
]
