"""Clustering metrics: pure functions of arrays, exact, and chunked so memory never grows as n x n.

Internal (from X and labels): `asc` (average silhouette coefficient, equal to scikit-learn's
`silhouette_score`) and `dunn` (equal to validclust 0.1.1's `dunn` on Euclidean distances). Both run
in row blocks over the symmetric distance matrix (`clustering.pairwise`); `asc` alone skips the
between-cluster sums that bounds prove unneeded (`clustering.silhouette`). External (against
y_true): `majority_accuracy`, `hungarian_accuracy`, `nmi`, `ari`, `homogeneity`. `evaluate` computes
them all with one pass over the pairs. Every public function validates its input and raises
`BenchError`; the private cores assume valid input.
"""

from __future__ import annotations

import logging
import numbers
import time

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as sk_metrics
from sklearn.utils import check_random_state

from clustering.errors import BenchError
from clustering.metrics import _silhouette as pruned
from clustering.metrics._pairwise import (
    Progress,
    ScanResult,
    default_chunk_size,
    n_threads,
    scan,
    sort_by_label,
)

logger = logging.getLogger(__name__)

METRIC_NAMES = ("asc", "dunn", "majority_accuracy", "hungarian_accuracy", "nmi", "ari")
"""The objective metrics; all of them are "higher is better"."""


def asc(
    X,
    labels,
    *,
    sample_size: int | None = None,
    random_state=None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> float:
    """Average silhouette coefficient (Euclidean), in [-1, 1]; equals sklearn's silhouette_score.

    X: (n_samples, n_features) numbers; labels: (n_samples,) any hashable cluster ids with
    2 <= n_clusters <= n_samples - 1. With sample_size, scores the rows
    `check_random_state(random_state).permutation(n)[:sample_size]`, exactly as scikit-learn.
    chunk_size: rows per block (memory about 8 * chunk_size**2 bytes per tile).
    progress: called as progress(done_tiles, total_tiles) after each tile; the total is an
    estimate until the bounds have chosen the tiles, and equals done at the end.
    """
    X = _check_X(X)
    labels = _check_labels(labels, len(X))
    if sample_size is not None:
        index = _sample_index(len(X), sample_size, random_state)
        X, labels = X[index], labels[index]
    codes, n_clusters = _encode(labels)
    _check_asc_clusters(n_clusters, len(X))
    _check_chunk_size(chunk_size)
    return _asc(X, codes, n_clusters, chunk_size, progress)


def dunn(X, labels, *, chunk_size: int | None = None, progress: Progress | None = None) -> float:
    """Dunn's index (Euclidean), >= 0: the smallest distance between two points of different
    clusters over the largest distance between two points of one cluster, as validclust 0.1.1's
    `dunn(pairwise_distances(X), labels)`.

    X: (n_samples, n_features); labels: (n_samples,) with at least 2 clusters, one of them with 2+
    points. chunk_size and progress as in `asc`.
    """
    X = _check_X(X)
    labels = _check_labels(labels, len(X))
    codes, n_clusters = _encode(labels)
    _check_dunn_clusters(codes, n_clusters)
    _check_chunk_size(chunk_size)
    result = _scan(X, codes, n_clusters, chunk_size, progress, silhouette=False, dunn=True)
    return _dunn_ratio(result.min_between, result.max_within)


def majority_accuracy(y_true, labels) -> float:
    """Fraction of samples whose cluster's most common true label is their own, in [0, 1]."""
    contingency = _contingency(*_check_pair(y_true, labels))
    return float(contingency.max(axis=1).sum() / contingency.sum())


def hungarian_accuracy(y_true, labels) -> float:
    """Fraction correct under the best one-to-one cluster -> class mapping, in [0, 1].

    Solved with the Hungarian algorithm on the contingency matrix; with more clusters than classes
    (or fewer) the unmatched ones count as wrong.
    """
    contingency = _contingency(*_check_pair(y_true, labels))
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    return float(contingency[rows, cols].sum() / contingency.sum())


def nmi(y_true, labels) -> float:
    """Normalized mutual information (arithmetic mean normalisation), in [0, 1]."""
    return float(sk_metrics.normalized_mutual_info_score(*_check_pair(y_true, labels)))


def ari(y_true, labels) -> float:
    """Adjusted Rand index, in [-0.5, 1]; 0 for a random labelling."""
    return float(sk_metrics.adjusted_rand_score(*_check_pair(y_true, labels)))


def homogeneity(y_true, labels) -> float:
    """Homogeneity, in [0, 1]: 1 when every cluster holds a single class."""
    return float(sk_metrics.homogeneity_score(*_check_pair(y_true, labels)))


def evaluate(
    X,
    labels,
    y_true,
    *,
    sample_size: int | None = None,
    random_state=None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> dict[str, float]:
    """All metrics of one clustering: keys `asc`, `dunn`, `majority_accuracy`,
    `hungarian_accuracy`, `nmi`, `ari`, `homogeneity` and `metric_seconds` (wall time, s).

    X: (n_samples, n_features); labels, y_true: (n_samples,). asc and dunn share one blocked pass.
    With sample_size, both asc and dunn are computed on the same sample of rows (drawn as in
    `asc`, so asc equals silhouette_score with that sample_size); the label metrics use all rows.
    """
    start = time.perf_counter()
    X = _check_X(X)
    labels = _check_labels(labels, len(X))
    y_true = _check_labels(y_true, len(X), name="y_true")
    X_int, labels_int = X, labels
    if sample_size is not None:
        index = _sample_index(len(X), sample_size, random_state)
        X_int, labels_int = X[index], labels[index]
    codes, n_clusters = _encode(labels_int)
    _check_asc_clusters(n_clusters, len(X_int))
    _check_dunn_clusters(codes, n_clusters)
    _check_chunk_size(chunk_size)
    result = _scan(X_int, codes, n_clusters, chunk_size, progress, silhouette=True, dunn=True)
    contingency = _contingency(y_true, labels)
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    scores = {
        "asc": float(np.mean(result.silhouette)),
        "dunn": _dunn_ratio(result.min_between, result.max_within),
        "majority_accuracy": float(contingency.max(axis=1).sum() / len(labels)),
        "hungarian_accuracy": float(contingency[rows, cols].sum() / len(labels)),
        "nmi": float(sk_metrics.normalized_mutual_info_score(y_true, labels)),
        "ari": float(sk_metrics.adjusted_rand_score(y_true, labels)),
        "homogeneity": float(sk_metrics.homogeneity_score(y_true, labels)),
    }
    scores["metric_seconds"] = time.perf_counter() - start
    logger.debug("evaluated n=%d k=%d in %.2f s", len(X), n_clusters, scores["metric_seconds"])
    return scores


# --- private cores: assume valid input ---------------------------------------------------------


def _asc(X, codes, n_clusters, chunk_size, progress) -> float:
    result = _scan(X, codes, n_clusters, chunk_size, progress, silhouette=True, dunn=False)
    return float(np.mean(result.silhouette))


def _scan(X, codes, n_clusters, chunk_size, progress, *, silhouette, dunn):
    """The silhouette alone skips the pairs its bounds prove unneeded (where pruned.applies);
    with Dunn's index too, one full float64 pass serves both, which costs less than the pruned
    pass plus Dunn's own float32 pass."""
    start = time.perf_counter()
    Xs, bounds = sort_by_label(X, codes, n_clusters)
    if silhouette and not dunn and pruned.applies(len(Xs), n_clusters):
        threads = n_threads()
        chunk = default_chunk_size(len(Xs), threads) if chunk_size is None else chunk_size
        values = pruned.silhouette_values(Xs, bounds, min(chunk, len(Xs)), threads, progress)
        result = ScanResult(values, None, None)
    else:
        result = scan(
            Xs, bounds, silhouette=silhouette, dunn=dunn, chunk_size=chunk_size, progress=progress
        )
    logger.debug("pairwise scan of %s in %.2f s", X.shape, time.perf_counter() - start)
    return result


def _dunn_ratio(min_between: float, max_within: float) -> float:
    if max_within == 0.0:
        raise BenchError(
            "dunn is undefined: every cluster has zero diameter (its points are identical); "
            "use fewer clusters or deduplicate X"
        )
    return min_between / max_within


def _contingency(y_true: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n_clusters, n_classes) counts of samples per (cluster, class)."""
    _, classes = np.unique(y_true, return_inverse=True)
    _, clusters = np.unique(labels, return_inverse=True)
    n_classes = int(classes.max()) + 1
    n_clusters = int(clusters.max()) + 1
    flat = np.bincount(clusters * n_classes + classes, minlength=n_clusters * n_classes)
    return flat.reshape(n_clusters, n_classes)


def _encode(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Cluster ids -> codes 0..k-1 (n,) and k."""
    uniques, codes = np.unique(labels, return_inverse=True)
    return codes.reshape(-1), len(uniques)


# --- validation -----------------------------------------------------------------------------


def _check_X(X) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise BenchError(
            f"X must be 2-D (n_samples, n_features), got shape {X.shape}; "
            "flatten images first, e.g. X.reshape(len(X), -1)"
        )
    if X.dtype.kind not in "biuf":
        raise BenchError(f"X must hold real numbers, got dtype {X.dtype}; convert it to float")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise BenchError(f"X is empty (shape {X.shape}); pass at least one sample and feature")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise BenchError("X contains NaN or infinity; remove or impute those rows first")
    return X


def _check_labels(labels, n_samples: int, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise BenchError(f"{name} must be 1-D (n_samples,), got shape {labels.shape}; ravel it")
    if len(labels) != n_samples:
        raise BenchError(
            f"{name} has {len(labels)} entries but there are {n_samples} samples; "
            "pass one label per row of X"
        )
    return labels


def _check_pair(y_true, labels) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise BenchError(f"labels must be 1-D and non-empty, got shape {labels.shape}")
    return _check_labels(y_true, len(labels), name="y_true"), labels


def _check_asc_clusters(n_clusters: int, n_samples: int) -> None:
    if not 2 <= n_clusters <= n_samples - 1:
        raise BenchError(
            f"asc needs 2 to n_samples - 1 = {n_samples - 1} clusters, got {n_clusters}; "
            "change n_clusters (or sample_size)"
        )


def _check_dunn_clusters(codes: np.ndarray, n_clusters: int) -> None:
    if n_clusters < 2:
        raise BenchError(f"dunn needs at least 2 clusters, got {n_clusters}; change n_clusters")
    if np.bincount(codes).max() < 2:
        raise BenchError(
            "dunn is undefined: every cluster is a single point (zero diameter); "
            "use fewer clusters (or a larger sample_size)"
        )


def _check_chunk_size(chunk_size) -> None:
    if chunk_size is not None and (
        not isinstance(chunk_size, numbers.Integral)
        or isinstance(chunk_size, bool)
        or chunk_size < 1
    ):
        raise BenchError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")


def _sample_index(n_samples: int, sample_size, random_state) -> np.ndarray:
    """Rows drawn exactly as sklearn's silhouette_score: permutation(n)[:sample_size]."""
    if (
        not isinstance(sample_size, numbers.Integral)
        or isinstance(sample_size, bool)
        or (sample_size < 1)
    ):
        raise BenchError(f"sample_size must be a positive integer or None, got {sample_size!r}")
    return check_random_state(random_state).permutation(n_samples)[:sample_size]
