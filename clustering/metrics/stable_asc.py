"""`faithful_or_stable_asc`: the own-space silhouette, weighted by the clustering's stability
where the space does not keep the pixels' neighbourhoods.

`faithful_asc` scores -1 on every space whose `trustworthiness` against the pixel reference is
below 0.9, which is right for a collapsed autoencoder (0.56 on MNIST) but also rules out every
feature meant to differ from pixels: frozen ImageNet features, patch K-means and HOG score
0.54-0.68 on CIFAR-10 and would never be chosen. Here such a space keeps its silhouette,
scaled by its `stability` in [0, 1], so a grouping that re-fits on subsamples do not repeat
loses to a faithful one of the same silhouette. A collapse into tight blobs that re-fit alike
is not caught (its stability is high too); the README's tables say where that costs accuracy.
"""

import numbers

import numpy as np

from clustering.errors import BenchError
from clustering.metrics.faithfulness import FAITHFUL
from clustering.metrics.registry import METRICS


@METRICS.add(higher_is_better=True, label_free=True, column=False, inputs="scores")
def faithful_or_stable_asc(
    asc: float, stability: float, trustworthiness: float, *, threshold: float = FAITHFUL
) -> float:
    """The own-space silhouette, times the stability where the space is not faithful, [-1, 1].

    asc: the labels' average silhouette coefficient in the clustered features; stability: their
    mean ARI to re-fits on subsamples (`stability`); trustworthiness: the features'
    `trustworthiness` against the reference embedding. asc when trustworthiness >= threshold
    (0.9); below it asc * max(stability, 0) for a positive asc, asc itself for a negative one
    (a weight never lifts a silhouette below 0).
    """
    given = {"asc": asc, "stability": stability, "trustworthiness": trustworthiness}
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise BenchError(f"faithful_or_stable_asc needs a finite {name}, got {value!r}")
    if trustworthiness >= threshold or asc <= 0:
        return float(asc)
    return float(asc) * max(float(stability), 0.0)
