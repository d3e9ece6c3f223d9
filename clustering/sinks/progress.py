"""Progress lines of a run: each training epoch, each trial's objective and Hungarian accuracy
with its seconds, and each failed trial with its error."""

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
        logger.info(
            "%s: %s (%.1f s)",
            event.label,
            " ".join(f"{name}={scores[name]:.4f}" for name in shown),
            scores["fit_seconds"] + scores["metric_seconds"],
        )


def _format(numbers: dict) -> str:
    return " ".join(f"{key}={value:.4g}" for key, value in sorted(numbers.items()))
