"""Clustering metrics: pure functions of arrays, exact, and chunked so memory never grows as n x n.

`METRICS` (registry.py) lists every score a trial logs, with its direction and whether it needs the
labels; objectives, table columns and directions elsewhere derive from it. Label-free scores
(internal.py): `asc`, `dunn`; in the dataset's reference embedding and against it
(reference_scores.py, learnability.py, faithfulness.py); under re-fitting (resampling.py); the
silhouette guarded by both (stable_asc.py); against the other trials' clusterings, after the
fact (consensus.py). Against the true labels (external.py): `majority_accuracy`,
`hungarian_accuracy`, `nmi`, `ari`, `homogeneity`. What the pipeline measures itself (seconds,
inertia, counts) is registered in measured.py. `evaluate` (evaluate.py) computes every registered
score of one clustering with one pass over the pairs, `score` one of them alone. Every public
function validates its input and raises `BenchError`; the private cores (_pairwise.py,
_silhouette.py) assume valid input.
A new metric is one new file that registers it and one import line here.
"""

# the import order is the registration order, so the comparison table's column order
# isort: off
from clustering.metrics.registry import METRICS, Metric
from clustering.metrics.internal import asc, dunn
from clustering.metrics.external import ari, homogeneity, hungarian_accuracy, majority_accuracy, nmi
from clustering.metrics import measured  # noqa: F401  (registers what the pipeline measures)
from clustering.metrics.reference_scores import reference_asc, reference_dunn  # noqa: F401
from clustering.metrics.resampling import stability  # noqa: F401
from clustering.metrics.learnability import generalisation  # noqa: F401
from clustering.metrics.faithfulness import faithful_asc, trustworthiness  # noqa: F401
from clustering.metrics.stable_asc import faithful_or_stable_asc  # noqa: F401
from clustering.metrics.consensus import consensus  # noqa: F401
from clustering.metrics.evaluate import evaluate, score
# isort: on

__all__ = [
    "METRICS",
    "Metric",
    "asc",
    "dunn",
    "majority_accuracy",
    "hungarian_accuracy",
    "nmi",
    "ari",
    "homogeneity",
    "evaluate",
    "score",
]
