"""`stability`: how much a clustering survives re-fitting on subsamples with other seeds, as the
mean adjusted Rand index between the labels and each re-clustering on the points they share.
The re-clustering is a callable passed in, so the metric stays a pure function of arrays."""

import logging
import numbers
from collections.abc import Callable

import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import check_random_state

from clustering.checks import SEED_MAX, check_int
from clustering.errors import BenchError
from clustering.metrics._checks import check_labels, check_X
from clustering.metrics.registry import METRICS

logger = logging.getLogger(__name__)

Refit = Callable[[np.ndarray, int], np.ndarray]


@METRICS.add(higher_is_better=True, label_free=True, column=False, inputs="refit")
def stability(
    features,
    labels,
    refit: Refit,
    *,
    n_repeats: int = 3,
    fraction: float = 0.8,
    max_samples: int = 2000,
    random_state=None,
) -> float:
    """Mean adjusted Rand index between the labels and re-clusterings on subsamples, [-1, 1].

    features: (n_samples, n_features) what was clustered; labels: (n_samples,) its cluster ids.
    refit(X_subset (m, n_features), seed int) -> labels (m,): the same clusterer, fitted afresh.
    Each of n_repeats re-fits draws min(round(fraction * n_samples), max_samples) rows without
    replacement (fraction in (0, 1]; 1 re-fits on every row; max_samples bounds the cost of a
    slow clusterer on large data) and passes seed random_state + 1, + 2, ... (modulo 2**32)
    (an int random_state) or seeds drawn from it (None or a RandomState). Re-clusterings equal
    to the labels give 1; labels unrelated to the re-clusterings give about 0.
    """
    features = check_X(features)
    labels = check_labels(labels, len(features))
    _check_options(refit, n_repeats, fraction)
    m = min(int(round(fraction * len(features))), max_samples)
    if m < 2:
        raise BenchError(
            f"stability needs subsamples of at least 2 rows, got round({fraction} * "
            f"{len(features)}) = {m}; raise fraction or pass more rows"
        )
    rng = check_random_state(random_state)
    scores = []
    for repeat in range(1, n_repeats + 1):
        index = np.sort(rng.permutation(len(features))[:m])
        seed = _seed(random_state, repeat, rng)
        refitted = check_labels(refit(features[index], seed), m, name="refit's labels")
        scores.append(adjusted_rand_score(labels[index], refitted))
    logger.debug("stability over %d re-fits of %d rows: %s", n_repeats, m, scores)
    return float(np.mean(scores))


def _seed(random_state, repeat: int, rng: np.random.RandomState) -> int:
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return (int(random_state) + repeat) % (SEED_MAX + 1)
    return int(rng.randint(np.iinfo(np.int32).max))


def _check_options(refit, n_repeats, fraction) -> None:
    if not callable(refit):
        raise BenchError(f"refit must be a callable refit(X_subset, seed) -> labels, got {refit!r}")
    check_int(n_repeats, "n_repeats", low=1)
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, numbers.Real)
        or not 0 < fraction <= 1
    ):
        raise BenchError(f"fraction must be a number in (0, 1], got {fraction!r}")
