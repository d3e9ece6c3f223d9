"""External scores of a clustering, against the true labels: majority and Hungarian accuracy,
NMI, ARI and homogeneity. Each takes (y_true, labels), both (n_samples,) of any hashable ids."""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as sk_metrics

from clustering.metrics._checks import check_pair
from clustering.metrics.registry import METRICS


@METRICS.add(higher_is_better=True, label_free=False)
def majority_accuracy(y_true, labels) -> float:
    """Fraction of samples whose cluster's most common true label is their own, in [0, 1]."""
    contingency = _contingency(*check_pair(y_true, labels))
    return float(contingency.max(axis=1).sum() / contingency.sum())


@METRICS.add(higher_is_better=True, label_free=False)
def hungarian_accuracy(y_true, labels) -> float:
    """Fraction correct under the best one-to-one cluster -> class mapping, in [0, 1].

    Solved with the Hungarian algorithm on the contingency matrix; with more clusters than classes
    (or fewer) the unmatched ones count as wrong.
    """
    contingency = _contingency(*check_pair(y_true, labels))
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    return float(contingency[rows, cols].sum() / contingency.sum())


@METRICS.add(higher_is_better=True, label_free=False)
def nmi(y_true, labels) -> float:
    """Normalized mutual information (arithmetic mean normalisation), in [0, 1]."""
    return float(sk_metrics.normalized_mutual_info_score(*check_pair(y_true, labels)))


@METRICS.add(higher_is_better=True, label_free=False)
def ari(y_true, labels) -> float:
    """Adjusted Rand index, in [-0.5, 1]; 0 for a random labelling."""
    return float(sk_metrics.adjusted_rand_score(*check_pair(y_true, labels)))


@METRICS.add(higher_is_better=True, label_free=False, objective=False, column=False)
def homogeneity(y_true, labels) -> float:
    """Homogeneity, in [0, 1]: 1 when every cluster holds a single class."""
    return float(sk_metrics.homogeneity_score(*check_pair(y_true, labels)))


def _contingency(y_true: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n_clusters, n_classes) counts of samples per (cluster, class)."""
    _, classes = np.unique(y_true, return_inverse=True)
    _, clusters = np.unique(labels, return_inverse=True)
    n_classes = int(classes.max()) + 1
    n_clusters = int(clusters.max()) + 1
    flat = np.bincount(clusters * n_classes + classes, minlength=n_clusters * n_classes)
    return flat.reshape(n_clusters, n_classes)
