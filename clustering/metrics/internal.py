"""Label-free (internal) scores of a clustering: `asc` and `dunn`, from X and the cluster labels.

`asc` (average silhouette coefficient) equals scikit-learn's `silhouette_score`; `dunn` equals
validclust 0.1.1's `dunn` on Euclidean distances. Both run in row blocks over the symmetric
distance matrix (`_pairwise`), so memory never grows as n x n; `asc` alone skips the
between-cluster sums that bounds prove unneeded (`_silhouette`). `asc_and_dunn` computes both in
one pass for `evaluate`.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from clustering.errors import BenchError
from clustering.metrics import _silhouette as pruned
from clustering.metrics._checks import check_chunk_size, check_labels, check_X, sample_index
from clustering.metrics._pairwise import (
    Progress,
    ScanResult,
    default_chunk_size,
    n_threads,
    scan,
    sort_by_label,
)
from clustering.metrics.registry import METRICS

logger = logging.getLogger(__name__)


@METRICS.add(higher_is_better=True, label_free=True)
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
    X = check_X(X)
    labels = check_labels(labels, len(X))
    if sample_size is not None:
        index = sample_index(len(X), sample_size, random_state)
        X, labels = X[index], labels[index]
    codes, n_clusters = _encode(labels)
    _check_asc_clusters(n_clusters, len(X))
    check_chunk_size(chunk_size)
    return _asc(X, codes, n_clusters, chunk_size, progress)


@METRICS.add(higher_is_better=True, label_free=True)
def dunn(X, labels, *, chunk_size: int | None = None, progress: Progress | None = None) -> float:
    """Dunn's index (Euclidean), >= 0: the smallest distance between two points of different
    clusters over the largest distance between two points of one cluster, as validclust 0.1.1's
    `dunn(pairwise_distances(X), labels)`.

    X: (n_samples, n_features); labels: (n_samples,) with at least 2 clusters, one of them with 2+
    points. chunk_size and progress as in `asc`.
    """
    X = check_X(X)
    labels = check_labels(labels, len(X))
    codes, n_clusters = _encode(labels)
    _check_dunn_clusters(codes, n_clusters)
    check_chunk_size(chunk_size)
    result = _scan(X, codes, n_clusters, chunk_size, progress, silhouette=False, dunn=True)
    return _dunn_ratio(result.min_between, result.max_within)


def asc_and_dunn(
    X: np.ndarray, labels: np.ndarray, *, chunk_size=None, progress: Progress | None = None
) -> dict[str, float]:
    """{"asc": ..., "dunn": ...} from one blocked pass over the pairs; X (n, d) and labels (n,)
    already checked by `check_X` and `check_labels` (the cluster counts and chunk_size are
    checked here)."""
    codes, n_clusters = _encode(labels)
    _check_asc_clusters(n_clusters, len(X))
    _check_dunn_clusters(codes, n_clusters)
    check_chunk_size(chunk_size)
    result = _scan(X, codes, n_clusters, chunk_size, progress, silhouette=True, dunn=True)
    return {
        "asc": float(np.mean(result.silhouette)),
        "dunn": _dunn_ratio(result.min_between, result.max_within),
    }


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


def _encode(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Cluster ids -> codes 0..k-1 (n,) and k."""
    uniques, codes = np.unique(labels, return_inverse=True)
    return codes.reshape(-1), len(uniques)


# --- validation of the cluster counts ----------------------------------------------------------


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
