"""`consensus`: how much a clustering agrees with the other clusterings of the same images, as
its average normalised mutual information to each of them (Strehl and Ghosh 2002, "Cluster
ensembles", the ANMI of one clustering against the ensemble of the others).

A criterion computed after the fact, over every trial of a dataset (from each trial run's kept
labels), not inside one trial: a clustering that many different pipelines agree on is more
likely to be the structure of the data than an artefact of one of them.
"""

import numpy as np
from sklearn.metrics import normalized_mutual_info_score

from clustering.errors import BenchError
from clustering.metrics.registry import METRICS


@METRICS.add(
    higher_is_better=True, label_free=True, objective=False, column=False, inputs="labelings"
)
def consensus(labelings) -> np.ndarray:
    """Each clustering's mean NMI to every other clustering of the same images, (m,) in [0, 1].

    labelings: (m, n_samples) integer cluster ids, m >= 2 clusterings of the same n_samples
    images (rows of any k). NMI normalised by the geometric mean of the two entropies, as Strehl
    and Ghosh define it: identical or relabelled clusterings agree 1, independent ones about 0.
    """
    labelings = np.asarray(labelings)
    if labelings.ndim != 2 or labelings.shape[0] < 2 or labelings.shape[1] < 1:
        raise BenchError(
            f"consensus needs at least 2 clusterings of the same images as an (m, n) array, got "
            f"shape {labelings.shape}; pass one row of labels per clustering"
        )
    if labelings.dtype.kind not in "iu":
        raise BenchError(f"consensus needs integer cluster ids, got dtype {labelings.dtype}")
    m = len(labelings)
    agreement = np.eye(m)
    for i in range(m):
        for j in range(i + 1, m):
            nmi = normalized_mutual_info_score(
                labelings[i], labelings[j], average_method="geometric"
            )
            agreement[i, j] = agreement[j, i] = nmi
    return (agreement.sum(axis=1) - 1.0) / (m - 1)
