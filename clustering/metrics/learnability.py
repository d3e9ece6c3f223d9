"""`generalisation`: how well a simple classifier learns the found labels from features (the
TURTLE idea, Gadetsky et al. 2024): cross-validated balanced accuracy of a standardised
logistic regression, on a sample of about 2,000 rows.

`evaluate` passes it the dataset's reference embedding (`clustering.reference`), not the cell's
own features: in its own space a collapsed embedding's blob ids are learnt perfectly whatever
they group."""

import logging
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from clustering.checks import check_int
from clustering.errors import BenchError
from clustering.metrics._checks import check_labels, check_X
from clustering.metrics.registry import METRICS

logger = logging.getLogger(__name__)

MAX_ITER = 1000


@METRICS.add(higher_is_better=True, label_free=True, column=False, inputs="reference")
def generalisation(
    features, labels, *, random_state=0, max_samples: int = 2000, n_splits: int = 3
) -> float:
    """Cross-validated balanced accuracy of a logistic regression learning the labels, [0, 1].

    features: (n_samples, n_features), best the dataset's reference embedding; labels:
    (n_samples,) at least 2 clusters. Above max_samples rows, a sample of about max_samples keeps
    every cluster (proportionally, and at least min(size, n_splits) rows of each); the folds are
    stratified by cluster (n_splits of them, shuffled with random_state). Balanced accuracy (the
    mean recall per cluster) gives 1/k to a classifier that always answers the largest cluster,
    so lopsided clusterings earn nothing for it. A cluster with fewer than n_splits rows is absent
    from some training folds: its rows there count as wrong (a singleton cluster always does),
    which is the price of a degenerate cluster. A training fold holding one cluster predicts it.
    """
    features = check_X(features)
    labels = check_labels(labels, len(features))
    _check_options(max_samples, n_splits)
    codes = np.unique(labels, return_inverse=True)[1].reshape(-1)
    counts = np.bincount(codes)
    if len(counts) < 2:
        raise BenchError("generalisation needs at least 2 clusters, got 1; change n_clusters")
    if counts.max() < n_splits:
        raise BenchError(
            f"generalisation needs a cluster of at least n_splits={n_splits} rows; every "
            f"cluster has fewer (largest {counts.max()}); use fewer clusters or more rows"
        )
    rng = check_random_state(random_state)
    index = _sample(codes, counts, max_samples, n_splits, rng)
    X, y = features[index], codes[index]
    predicted = _cross_val_predict(X, y, n_splits, rng)
    return float(balanced_accuracy_score(y, predicted))


def _sample(codes, counts, max_samples, n_splits, rng) -> np.ndarray:
    """Rows (m,) sorted: every row when n <= max_samples, else a proportional draw per cluster,
    at least min(size, n_splits) rows of each."""
    order = rng.permutation(len(codes))
    if len(codes) <= max_samples:
        return np.sort(order)
    quota = np.maximum(np.minimum(counts, n_splits), counts * max_samples // len(codes))
    ordered = order[np.argsort(codes[order], kind="stable")]  # by cluster, random within
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.sort(np.concatenate([ordered[s : s + q] for s, q in zip(starts, quota, strict=True)]))


def _cross_val_predict(X, y, n_splits, rng) -> np.ndarray:
    predicted = np.empty_like(y)
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=rng.randint(2**31 - 1))
    with warnings.catch_warnings():
        # "the least populated class has only 1 member": such clusters are handled (docstring)
        warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")
        splits = list(folds.split(X, y))
    for train, test in splits:
        if len(np.unique(y[train])) == 1:
            predicted[test] = y[train][0]
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=MAX_ITER))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(X[train], y[train])
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            logger.debug("generalisation: logistic regression stopped at max_iter=%d", MAX_ITER)
        predicted[test] = model.predict(X[test])
    return predicted


def _check_options(max_samples, n_splits) -> None:
    check_int(max_samples, "max_samples", low=2)
    check_int(n_splits, "n_splits", low=2)
