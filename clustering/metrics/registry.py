"""The metrics registry: every score a trial logs, with its direction and whether it needs the
labels. Objectives, table columns and "lower is better" lists everywhere derive from it."""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from clustering.registry import Registry, choose_from


@dataclass(frozen=True)
class Metric:
    """One logged score.

    name: the MLflow metric key (snake_case). function: the public function that computes it
    (None for what the pipeline measures itself, such as seconds). higher_is_better: its
    direction. label_free: computed without the true labels, so usable to choose without them.
    objective: may be optimised with `--objective`. column: shown in the comparison table.
    inputs: what `evaluate` passes the function besides the labels: "features" (the clustered
    X), "y_true" (the true labels first), "reference" (the dataset's shared reference
    embedding), "refit" (X and a re-clustering callable `refit(X_subset, seed) -> labels`),
    "representation" (X and the reference embedding, no labels), "scores" (the values of the
    metrics its function's positional parameters name, computed before it) or "labelings"
    (every trial's labels of a dataset, (m, n): computed after the fact, never by `evaluate`).
    """

    name: str
    function: Callable | None
    higher_is_better: bool
    label_free: bool
    objective: bool = True
    column: bool = True
    description: str = ""
    inputs: str = "features"


class MetricRegistry(Registry[Metric]):
    """Metrics by name, in registration order; iterating gives the Metric entries."""

    def __init__(self):
        super().__init__("metric")

    def register(self, metric: Metric) -> Metric:
        return self.insert(metric.name, metric)

    def add(self, *, higher_is_better: bool, label_free: bool, **options) -> Callable:
        """Decorator: register the decorated function as the metric of its name, described by
        its docstring's first paragraph unless `description` is given; `options` as in Metric."""

        def register(function: Callable) -> Callable:
            summary = " ".join((inspect.getdoc(function) or "").split("\n\n")[0].split())
            inputs = "features" if label_free else "y_true"
            fields = {"description": summary, "inputs": inputs, **options}
            self.register(
                Metric(function.__name__, function, higher_is_better, label_free, **fields)
            )
            return function

        return register

    def names(self, **where) -> list[str]:
        """Names of the metrics whose fields equal `where`, e.g. names(objective=True)."""
        return [
            metric.name
            for metric in self
            if all(getattr(metric, key) == value for key, value in where.items())
        ]

    def objectives(self) -> list[str]:
        return self.names(objective=True)

    def columns(self) -> list[str]:
        return self.names(column=True)

    def lower_is_better(self) -> list[str]:
        return self.names(higher_is_better=False)

    def check_objective(self, name: str) -> Metric:
        """The metric `name` if it may be optimised; BenchError naming the choices if not."""
        metric = self._entries.get(name)
        if metric is None or not metric.objective:
            raise choose_from("objective", name, self.objectives())
        return metric


METRICS = MetricRegistry()
