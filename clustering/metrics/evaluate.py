"""`evaluate`: every registered score of one clustering, with one pass over the pairs for the
own-space silhouette and Dunn's index, and the seconds it took."""

import inspect
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
    reference=None,
    refit=None,
    sample_size: int | None = None,
    random_state=None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> dict[str, float]:
    """Every registered metric that has a function and whose inputs are given, by name, in
    registration order, then `metric_seconds` (wall time, s).

    X: (n_samples, n_features); labels, y_true: (n_samples,). reference: (n_samples, d), the
    dataset's shared reference embedding (clustering.reference), for the `reference_*`,
    `generalisation` and `trustworthiness` criteria. refit: `refit(X_subset, seed) -> labels`,
    the clusterer fitted again, for `stability`. asc and dunn share one blocked pass; a metric
    of other metrics' values (`faithful_asc`) comes after them. With sample_size, the own-space
    asc and dunn are computed on one sample of rows (drawn as in `asc`, so asc equals
    silhouette_score with that sample_size); every other score uses all rows.
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
    given = {"features": X_free, "y_true": y_true, "reference": reference, "refit": refit}
    for metric in METRICS:
        if (
            metric.function is None
            or metric.name in scores
            or not _has_inputs(metric, given, scores)
        ):
            continue
        scores[metric.name] = float(
            _call(metric, X, labels, labels_free, given, random_state, scores)
        )
    scores["metric_seconds"] = time.perf_counter() - start
    logger.debug("evaluated n=%d in %.2f s", len(X), scores["metric_seconds"])
    return scores


def score(name: str, X, labels, y_true, *, reference=None, refit=None, random_state=None) -> float:
    """One registered metric of one clustering, computed alone (the inputs as in `evaluate`);
    ValueError for a measured metric (seconds, counts) or when an input it needs is missing."""
    metric = METRICS.get(name)
    if metric.function is None:
        raise ValueError(f"metric {name!r} is measured by the pipeline, not computed from labels")
    given = {"features": check_X(X), "y_true": y_true, "reference": reference, "refit": refit}
    labels = check_labels(labels, len(given["features"]))
    if name in ("asc", "dunn"):
        return asc_and_dunn(given["features"], labels)[name]
    scores = {}
    if metric.inputs == "scores":
        for needed in _needed_scores(metric):
            scores[needed] = score(
                needed,
                X,
                labels,
                y_true,
                reference=reference,
                refit=refit,
                random_state=random_state,
            )
    if not _has_inputs(metric, given, scores):
        needed = "reference" if metric.inputs == "representation" else metric.inputs
        raise ValueError(f"metric {name!r} needs its {needed} input; pass {needed}=")
    X = given["features"]
    return float(_call(metric, X, labels, labels, given, random_state, scores))


def _needed_scores(metric) -> list[str]:
    """The metrics a "scores" metric is computed from: its function's positional parameters."""
    parameters = inspect.signature(metric.function).parameters.values()
    return [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]


def _has_inputs(metric, given, scores) -> bool:
    if metric.inputs == "scores":
        return all(name in scores for name in _needed_scores(metric))
    if metric.inputs == "representation":
        return given["reference"] is not None
    return given.get(metric.inputs) is not None  # "labelings": computed after the fact only


def _call(metric, X, labels, labels_free, given, random_state, scores) -> float:
    """One metric's value, from the inputs `Metric.inputs` names."""
    if metric.inputs == "scores":
        return metric.function(*(scores[name] for name in _needed_scores(metric)))
    if metric.inputs == "representation":
        return metric.function(X, given["reference"], random_state=random_state)
    if metric.inputs == "features":
        return metric.function(given["features"], labels_free)
    if metric.inputs == "y_true":
        return metric.function(given["y_true"], labels)
    if metric.inputs == "refit":
        return metric.function(X, labels, given["refit"], random_state=random_state)
    return metric.function(given["reference"], labels, random_state=random_state)
