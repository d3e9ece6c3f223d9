"""Speed and memory benchmarks of clustering-bench's kernels against their references.

    python -m benchmarks --data-dir DIR   # full run, ~3 min on 2 idle cores -> reports/benchmarks.*
    python -m benchmarks --quick --out /tmp/bench    # tiny sizes, seconds (a smoke test)

Every comparison runs ours and the reference alternately (A, B, A, B, ...) in one process, on the
same arrays, and reports medians of wall-clock times, their ratio and the target it is held to:

- `clustering.clusterers.KMeans` vs `sklearn.cluster.KMeans(algorithm="lloyd")` from the same
  explicit initial centres (float64 and float32): identical labels and iteration counts, inertia to
  1e-6 relative, time ratio <= 1.0.
- `clustering.metrics.asc` vs `sklearn.metrics.silhouette_score` and `clustering.metrics.dunn` vs
  `validclust.dunn(pairwise_distances(X), labels)` at n = 10,000: equal to 1e-9 relative, time
  ratio <= 0.5, each next to the floor: one `X @ X.T` on the same data.
- A scaling table over n, and the peak resident memory of `dunn` at n = 60,000, d = 784, measured in
  a child process (`benchmarks.memory`).

Modules: `timing` (interleaved clocks, machine description), `cases` (data and the comparisons),
`memory` (the child that measures peak RSS), `report` (Markdown and JSON), `__main__` (the runner).
"""
