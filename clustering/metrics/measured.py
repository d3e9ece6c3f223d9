"""What a trial logs beside the scores, measured by the pipeline itself (no function): seconds per
stage, the clusterer's inertia and iterations, counts, and the seconds the feature cache saved."""

from clustering.metrics.registry import METRICS, Metric

_MEASURED = [  # name, higher_is_better, column (in the comparison table), description
    (
        "fit_seconds",
        False,
        True,
        "Seconds to train the features and the reducer (even if cached) and to cluster",
    ),
    ("extract_seconds", False, False, "Seconds to extract the features (short on a cache hit)"),
    ("reduce_seconds", False, False, "Seconds to fit the reducer (short on a cache hit)"),
    ("cluster_seconds", False, False, "Seconds to fit the clusterer"),
    ("metric_seconds", False, False, "Seconds to compute every score (`evaluate`)"),
    ("inertia", False, False, "Sum of squared distances of the samples to their centres"),
    ("n_iter", False, False, "Iterations the clusterer ran"),
    ("n_clusters_found", True, False, "Non-empty clusters (a count; the direction is moot)"),
    ("n_features", True, False, "Features per sample extracted (a count; direction moot)"),
    ("n_components", True, False, "Dimensions clustered, after the reducer (a count)"),
    ("cache_seconds_saved", True, False, "Extraction and reduction seconds the cache saved"),
]

for name, higher_is_better, column, description in _MEASURED:
    METRICS.register(
        Metric(
            name,
            None,
            higher_is_better,
            label_free=True,
            objective=False,
            column=column,
            description=description,
        )
    )
