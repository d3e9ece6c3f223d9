"""`trustworthiness` and `faithful_asc`: the silhouette in a cell's own space, counted only when
that space keeps the images' neighbourhoods.

The own-space silhouette picks the best clustering on MNIST when its space is a faithful view
of the images (a UMAP of autoencoder codes), but any collapsed embedding of a few tight blobs
scores near 1 whatever it groups. Collapse shows in the representation itself: its nearest
neighbours are not neighbours in the dataset's reference embedding. Trustworthiness (Venna and
Kaski 2001) measures that: on 10,000 MNIST test images every autoencoder code and UMAP embedding
measured scored 0.94-1.0 against the reference, a collapsed conv AE 0.56, random blobs 0.50.
"""

import numbers

import numpy as np
from sklearn.manifold import trustworthiness as _sklearn_trustworthiness

from clustering.checks import check_int
from clustering.errors import BenchError
from clustering.metrics._checks import check_X, sample_index
from clustering.metrics.registry import METRICS

FAITHFUL = 0.9  # the trustworthiness a space needs for its silhouette to count
UNFAITHFUL_SCORE = -1.0  # faithful_asc of a space below it: the silhouette's lowest value


@METRICS.add(
    higher_is_better=True, label_free=True, objective=False, column=False, inputs="representation"
)
def trustworthiness(
    features, reference, *, n_neighbors: int = 10, max_samples: int = 2000, random_state=0
) -> float:
    """How well the clustered features keep the reference's neighbourhoods, [0, 1].

    features: (n_samples, n_features) what was clustered; reference: (n_samples, d) the
    dataset's reference embedding, rows in the same order, n_samples >= 4. Scikit-learn's
    trustworthiness with the reference as the original space, on one sample of at most
    max_samples rows (drawn with random_state) and min(n_neighbors, (m - 1) // 2) neighbours.
    1 when every point's nearest neighbours in the features are near in the reference too;
    about 0.5 for features unrelated to the reference (a collapse to a few blobs).
    """
    features = check_X(features)
    try:
        reference = check_X(reference)
    except ValueError as error:
        raise type(error)(f"reference: {error}") from None
    if len(reference) != len(features):
        raise BenchError(
            f"reference has {len(reference)} rows but the features {len(features)}; pass the "
            "reference embedding of the same images in the same order"
        )
    if len(features) < 4:
        raise BenchError(f"trustworthiness needs at least 4 rows, got {len(features)}")
    _check_positive_int(n_neighbors, "n_neighbors")
    _check_positive_int(max_samples, "max_samples")
    index = sample_index(len(features), max_samples, random_state)
    neighbours = min(n_neighbors, (len(index) - 1) // 2)
    return float(
        _sklearn_trustworthiness(
            reference[index].astype(np.float64),
            features[index].astype(np.float64),
            n_neighbors=neighbours,
        )
    )


@METRICS.add(higher_is_better=True, label_free=True, column=False, inputs="scores")
def faithful_asc(asc: float, trustworthiness: float, *, threshold: float = FAITHFUL) -> float:
    """The own-space silhouette when the space is faithful, else -1, [-1, 1].

    asc: the labels' average silhouette coefficient in the clustered features;
    trustworthiness: those features' `trustworthiness` against the reference embedding. A
    space with trustworthiness below threshold (0.9) scores -1, so a collapsed embedding is
    never chosen over a faithful one, whatever its silhouette.
    """
    for name, value in (("asc", asc), ("trustworthiness", trustworthiness)):
        if not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise BenchError(f"faithful_asc needs a finite {name}, got {value!r}")
    return float(asc) if trustworthiness >= threshold else UNFAITHFUL_SCORE


def _check_positive_int(value, name: str) -> None:
    check_int(value, name, low=1)
