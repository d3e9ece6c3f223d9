"""`reference_asc` and `reference_dunn`: the silhouette and Dunn's index of a cell's labels
measured in the dataset's reference embedding (`clustering.reference`), so cells whose features
differ are scored in one space and can be compared (in its own space a collapsed embedding of a
few tight blobs scores high whatever it groups)."""

from clustering.metrics._checks import check_labels, check_X
from clustering.metrics.internal import asc, dunn
from clustering.metrics.registry import METRICS


@METRICS.add(higher_is_better=True, label_free=True, column=False, inputs="reference")
def reference_asc(reference, labels, *, sample_size: int | None = None, random_state=None) -> float:
    """Average silhouette coefficient of the labels in the shared reference embedding, [-1, 1].

    reference: (n_samples, d) the dataset's `clustering.reference.reference_embedding`, rows in
    the order of the labels; labels: (n_samples,) the cell's cluster ids, 2 <= n_clusters <=
    n_samples - 1. sample_size and random_state as in `asc`.
    """
    reference, labels = _check(reference, labels)
    return asc(reference, labels, sample_size=sample_size, random_state=random_state)


@METRICS.add(higher_is_better=True, label_free=True, column=False, inputs="reference")
def reference_dunn(reference, labels, *, random_state=None) -> float:
    """Dunn's index of the labels in the shared reference embedding, >= 0.

    reference: (n_samples, d) as in `reference_asc`; labels: (n_samples,) with at least 2
    clusters, one of them with 2+ points. random_state is accepted so every reference
    criterion is called alike; Dunn's index is exact and uses none.
    """
    reference, labels = _check(reference, labels)
    return dunn(reference, labels)


def _check(reference, labels):
    try:
        reference = check_X(reference)
    except ValueError as error:
        raise type(error)(f"reference: {error}") from None
    return reference, check_labels(labels, len(reference))
