"""A cell's pictures when its study ends: the best complete trial's configuration drawn again
(`artifacts.pictures.draw`) with the cluster labels its trial run kept, and logged on the cell
run under `pictures/`."""

import logging

from clustering.artifacts import grids, pictures
from clustering.sinks.trial_runs import RUN_ID_ATTR
from clustering.study.events import CellEvent, StudyCallback
from clustering.tracking import PICTURES_FOLDER, PICTURES_TAG, Tracker

logger = logging.getLogger(__name__)


class CellPictures(StudyCallback):
    """Draws and logs the best trial's pictures once per best trial (tag PICTURES_TAG); a
    failure is logged, never raised."""

    def __init__(self, tracker: Tracker):
        self.tracker = tracker

    def on_cell_end(self, event: CellEvent) -> None:
        best = event.best
        if event.status != "FINISHED" or best is None:
            return
        if self.tracker.tags(event.cell_run_id).get(PICTURES_TAG) == str(best.number):
            return
        spec = event.spec
        try:
            params = spec.params_of_trial(best)
            drawn = pictures.draw(event.cell_data, spec, params, event.cache, self.labels(event))
            for name, figure in drawn.items():
                self.tracker.log_figure(event.cell_run_id, figure, name, PICTURES_FOLDER)
                grids.close(figure)
        except Exception as error:
            logger.warning(
                "pictures of %s (trial %d) failed: %s: %s",
                spec.label,
                best.number,
                type(error).__name__,
                error,
            )
            return
        self.tracker.log(event.cell_run_id, tags={PICTURES_TAG: best.number})

    def labels(self, event: CellEvent):
        """The best trial's cluster labels (n,) as its run kept them, None where it kept none
        (a store made before, a lost artifact) or they are not of these images."""
        run_id = event.best.user_attrs.get(RUN_ID_ATTR)
        labels = self.tracker.read_labels(run_id) if run_id else None
        return labels if labels is not None and len(labels) == len(event.cell_data.X) else None
