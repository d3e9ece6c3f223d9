"""Registration of the label-free scores `evaluate` cannot compute itself: their functions need
more than (X, labels) (the dataset's reference embedding, a re-clustering callable), so the
pipeline computes and logs them, like the scores of measured.py."""

import inspect
from collections.abc import Callable

from clustering.metrics.registry import METRICS, Metric


def unwired(*, higher_is_better: bool) -> Callable[[Callable], Callable]:
    """Decorator: register the decorated function's name as a label-free score with
    function=None, so `evaluate` (which calls every registered function as f(X, labels)) skips
    it, described by the first paragraph of its docstring. Not an objective and not a table
    column yet: an objective must be in every trial's scores, which needs the pipeline to pass
    the extra inputs first. The function is returned unchanged."""

    def register(function: Callable) -> Callable:
        summary = " ".join((inspect.getdoc(function) or "").split("\n\n")[0].split())
        METRICS.register(
            Metric(
                function.__name__,
                None,
                higher_is_better,
                label_free=True,
                objective=False,
                column=False,
                description=summary,
            )
        )
        return function

    return register
