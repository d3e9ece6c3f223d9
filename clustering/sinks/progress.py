"""Progress lines of a run: each training epoch, each trial's objective and Hungarian accuracy
with the seconds it took and, apart, the training seconds the cache saved it, and each failed
trial with its error."""

import logging

from clustering.study.events import StudyCallback, TrialEvent

logger = logging.getLogger(__name__)


class ProgressLines(StudyCallback):
    """Logs a line per epoch and per trial (INFO), a warning per failed trial."""

    def on_epoch(self, event: TrialEvent, epoch: int, logs: dict) -> None:
        numbers = {key: float(value) for key, value in logs.items()}
        logger.info("%s epoch %d: %s", event.label, epoch + 1, _format(numbers))

    def on_trial_end(self, event: TrialEvent) -> None:
        if event.error is not None:
            if not event.interrupted:
                reason = f"{type(event.error).__name__}: {event.error}".strip()
                logger.warning("%s failed: %s", event.label, reason)
            return
        scores = event.scores
        shown = dict.fromkeys([*event.cell.spec.objectives, "hungarian_accuracy"])
        saved = scores["cache_seconds_saved"]
        logger.info(
            "%s: %s (%.1f s%s)",
            event.label,
            " ".join(f"{name}={scores[name]:.4f}" for name in shown),
            wall_seconds(scores),
            f"; the cache saved {saved:.1f} s of training" if saved > 0 else "",
        )


def wall_seconds(scores: dict) -> float:
    """The seconds a trial took here: its stages and metrics, without the training time the
    cache saved (which `fit_seconds` counts, so cells compare fairly)."""
    return scores["fit_seconds"] - scores["cache_seconds_saved"] + scores["metric_seconds"]


def _format(numbers: dict) -> str:
    return " ".join(f"{key}={value:.4g}" for key, value in sorted(numbers.items()))
