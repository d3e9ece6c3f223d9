"""`evaluate`: every registered score of one clustering, with one pass over the pairs for the
label-free ones, and the seconds it took."""

import logging
import time

from clustering.metrics._checks import check_labels, check_X, sample_index
from clustering.metrics._pairwise import Progress
from clustering.metrics.internal import asc_and_dunn
from clustering.metrics.registry import METRICS

logger = logging.getLogger(__name__)


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
    """Every registered metric that has a function, by name, in registration order (`asc`,
    `dunn`, `majority_accuracy`, `hungarian_accuracy`, `nmi`, `ari`, `homogeneity`), then
    `metric_seconds` (wall time, s).

    X: (n_samples, n_features); labels, y_true: (n_samples,). asc and dunn share one blocked pass.
    With sample_size, the label-free metrics are computed on one sample of rows (drawn as in
    `asc`, so asc equals silhouette_score with that sample_size); the label metrics use all rows.
    """
    start = time.perf_counter()
    X = check_X(X)
    labels = check_labels(labels, len(X))
    y_true = check_labels(y_true, len(X), name="y_true")
    X_free, labels_free = X, labels
    if sample_size is not None:
        index = sample_index(len(X), sample_size, random_state)
        X_free, labels_free = X[index], labels[index]
    scores = asc_and_dunn(X_free, labels_free, chunk_size=chunk_size, progress=progress)
    for metric in METRICS:
        if metric.function is None or metric.name in scores:
            continue
        args = (X_free, labels_free) if metric.label_free else (y_true, labels)
        scores[metric.name] = float(metric.function(*args))
    scores["metric_seconds"] = time.perf_counter() - start
    logger.debug("evaluated n=%d in %.2f s", len(X), scores["metric_seconds"])
    return scores
