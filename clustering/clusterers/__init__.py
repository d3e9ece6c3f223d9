"""Clusterers, registered by name: `kmeans` (from scratch, NumPy) and `minibatch_kmeans`."""

from clustering.clusterers.base import CLUSTERERS, Clusterer
from clustering.clusterers.kmeans import KMeans
from clustering.clusterers.minibatch_kmeans import MiniBatchKMeans

__all__ = ["CLUSTERERS", "Clusterer", "KMeans", "MiniBatchKMeans"]
