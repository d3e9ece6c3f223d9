"""Optuna for one cell (dataset x extractor x clusterer): storage, study, objective, resume."""

import hashlib
import json
import logging
import time
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import TrialState

from clustering import cell_pictures, pipeline, plots
from clustering.cache import FeatureCache
from clustering.clusterers import CLUSTERERS
from clustering.extractors import EXTRACTORS
from clustering.storage import make_storage  # noqa: F401  (its home was here)
from clustering.tracking import WORKER_TAG, Tracker

logger = logging.getLogger(__name__)

DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
PICTURES_TAG = "pictures.trial_number"  # on the cell run: the trial its pictures/ show


@dataclass
class Cell:
    """What one study optimises: data (X (n, h, w, c) in [0, 1], y_true (n,)) and the pair."""

    dataset_name: str
    digest: str
    preprocessing: dict
    X: np.ndarray
    y_true: np.ndarray
    extractor: str
    clusterer: str
    n_clusters: list[int]
    objective: str
    seed: int
    metric_sample_size: int | None = None

    @property
    def study_name(self) -> str:
        """Stable across runs of the same command; differs when anything measured differs."""
        setup = json.dumps(
            [self.digest, self.preprocessing, self.n_clusters, self.objective, self.seed],
            sort_keys=True,
        )
        key = hashlib.sha256(setup.encode()).hexdigest()[:8]
        return f"{self.dataset_name}.{self.extractor}.{self.clusterer}.{key}"

    def default_params(self) -> dict:
        """The Optuna parameters of the original experiment's configuration."""
        params = {
            **EXTRACTORS.get(self.extractor).default_params(),
            **CLUSTERERS.get(self.clusterer).default_params(),
        }
        if len(self.n_clusters) > 1:
            params["n_clusters"] = self.n_clusters[0]
        return params


@dataclass
class CellSummary:
    """How a cell's study stands after a run: trial counts, best value (or None), seconds."""

    extractor: str
    clusterer: str
    complete: int
    pruned: int
    failed: int
    best_value: float | None
    seconds: float


def open_study(cell: Cell, storage) -> optuna.Study:
    """Create or load the cell's study; a new study gets the default configuration enqueued."""
    study = optuna.create_study(
        study_name=cell.study_name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=cell.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2),
        load_if_exists=True,
    )
    if not study.trials:
        study.enqueue_trial(cell.default_params())
        study.set_user_attr("objective", cell.objective)
    return study


def count_states(study: optuna.Study) -> dict[TrialState, int]:
    counts = dict.fromkeys(TrialState, 0)
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state] += 1
    return counts


class Objective:
    """The Optuna objective of one cell: each call is one trial and one MLflow child run."""

    def __init__(
        self,
        cell: Cell,
        tracker: Tracker,
        experiment_id: str,
        cell_run_id: str,
        cache: FeatureCache | None,
        worker: str | None = None,
    ):
        self.cell = cell
        self.tracker = tracker
        self.experiment_id = experiment_id
        self.cell_run_id = cell_run_id
        self.cache = cache
        self.worker = worker  # "host:pid", tagged on each trial run (None: untagged)

    def suggest(self, trial: optuna.Trial) -> tuple[dict, dict]:
        cell = self.cell
        extractor_params = EXTRACTORS.get(cell.extractor).search_space(trial)
        if len(cell.n_clusters) > 1:
            n_clusters = trial.suggest_categorical("n_clusters", cell.n_clusters)
        else:
            n_clusters = cell.n_clusters[0]
        clusterer_params = CLUSTERERS.get(cell.clusterer).search_space(trial, n_clusters)
        return extractor_params, clusterer_params

    def __call__(self, trial: optuna.Trial) -> float:
        cell = self.cell
        extractor_params, clusterer_params = self.suggest(trial)
        run_id = self.tracker.start_trial_run(
            self.experiment_id,
            self.cell_run_id,
            cell.study_name,
            trial.number,
            {**trial.params, "n_clusters": clusterer_params["n_clusters"]},
            tags={WORKER_TAG: self.worker} if self.worker else None,
        )
        label = f"[{cell.extractor} x {cell.clusterer}] trial {trial.number}"
        try:
            trial.set_user_attr("mlflow_run_id", run_id)  # a storage write: interruptible
            value = self._evaluate(trial, run_id, extractor_params, clusterer_params, label)
        except optuna.TrialPruned as pruned:
            self.tracker.log(run_id, tags={"optuna.state": "PRUNED", "pruned": str(pruned)})
            self.tracker.finish(run_id, "FINISHED")
            logger.info("%s pruned: %s", label, pruned)
            raise
        except BaseException as error:
            interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
            reason = f"{type(error).__name__}: {error}".strip()
            self.tracker.log(run_id, tags={"optuna.state": "FAIL", "error": reason})
            self.tracker.finish(run_id, "KILLED" if interrupted else "FAILED")
            if not interrupted:
                logger.warning("%s failed: %s", label, reason)
            raise
        self.tracker.log(run_id, tags={"optuna.state": "COMPLETE"})
        self.tracker.finish(run_id, "FINISHED")
        return value

    def _evaluate(self, trial, run_id, extractor_params, clusterer_params, label) -> float:
        cell = self.cell

        def on_epoch(epoch: int, logs: dict) -> None:
            numbers = {key: float(value) for key, value in logs.items()}
            self.tracker.log(run_id, metrics=numbers, step=epoch)
            loss = numbers.get("val_loss", numbers.get("loss"))
            logger.info("%s epoch %d: %s", label, epoch + 1, _format(numbers))
            if loss is None:
                return
            if not np.isfinite(loss):
                raise FloatingPointError(
                    f"training loss became NaN at epoch {epoch + 1}; "
                    f"lower {cell.extractor}.learning_rate"
                )
            trial.report(-loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation loss {loss:.4g} at epoch {epoch + 1}")

        extraction = pipeline.extract(
            cell.X,
            cell.extractor,
            extractor_params,
            seed=cell.seed,
            digest=cell.digest,
            preprocessing=cell.preprocessing,
            cache=self.cache,
            epoch_callback=on_epoch,
        )
        if extraction.reconstructions is not None:
            figure = plots.reconstruction_grid(
                cell.X[: len(extraction.reconstructions)], extraction.reconstructions
            )
            self.tracker.log_figure(run_id, figure, "reconstructions.png")
            plots.close(figure)
        if extraction.extractor is not None and hasattr(extraction.extractor, "sample"):
            figure = plots.image_grid(extraction.extractor.sample(16, random_state=cell.seed))
            self.tracker.log_figure(run_id, figure, "samples.png")
            plots.close(figure)
        clustering = pipeline.cluster_and_score(
            extraction.features,
            cell.y_true,
            cell.clusterer,
            clusterer_params,
            seed=cell.seed,
            metric_sample_size=cell.metric_sample_size,
            progress=_metric_progress(label),
        )
        scores = dict(clustering.scores)
        scores["extract_seconds"] = extraction.extract_seconds
        # training time of the features even when the cache served them, so cells compare fairly
        trained_seconds = extraction.extract_seconds + extraction.seconds_saved
        scores["fit_seconds"] = trained_seconds + scores["cluster_seconds"]
        scores["n_features"] = float(extraction.features.shape[1])
        tags = {"feature_cache": "hit" if extraction.cache_hit else "miss"}
        # logged on every trial (0 on a miss) so every cell run gets the same metric names
        scores["cache_seconds_saved"] = extraction.seconds_saved
        if cell.metric_sample_size is not None:
            tags["metric_sample_size"] = cell.metric_sample_size
            tags["metric_random_state"] = cell.seed
        self.tracker.log(run_id, metrics=scores, tags=tags)
        trial.set_user_attr("metrics", scores)
        value = scores[cell.objective]
        if not np.isfinite(value):
            raise FloatingPointError(f"objective {cell.objective} is {value}")
        logger.info(
            "%s: %s=%.4f hungarian_accuracy=%.4f (%.1f s)",
            label,
            cell.objective,
            value,
            scores["hungarian_accuracy"],
            scores["fit_seconds"] + scores["metric_seconds"],
        )
        return float(value)


def run_cell(
    cell: Cell,
    *,
    trials: int,
    storage,
    tracker: Tracker,
    experiment_id: str,
    parent_run_id: str | None = None,
    cache: FeatureCache | None = None,
) -> CellSummary:
    """Run the trials still missing from the cell's study (up to `trials` complete or pruned),
    each as a child run of the cell run, then copy the best trial onto the cell run."""
    started = time.perf_counter()
    study, cell_run_id = prepare_cell(cell, storage, tracker, experiment_id, parent_run_id)
    counts = count_states(study)
    missing = trials - sum(counts[state] for state in DONE_STATES)
    logger.info(
        "cell %s x %s: %d trial(s) done, %d to run",
        cell.extractor,
        cell.clusterer,
        trials - max(missing, 0),
        max(missing, 0),
    )
    status = "FINISHED"
    try:
        if missing > 0:
            objective = Objective(cell, tracker, experiment_id, cell_run_id, cache)
            study.optimize(objective, n_trials=missing, catch=(Exception,), gc_after_trial=True)
        log_cell_pictures(study, cell, tracker, cell_run_id, cache)
    except BaseException:
        status = "KILLED"
        # an interrupt between creating a trial run and entering the objective's handler
        # would leave that run RUNNING: close every trial run of this cell that still is
        for run in tracker.trial_runs(experiment_id, cell.study_name):
            if run.info.status == "RUNNING":
                tracker.finish(run.info.run_id, "KILLED")
        raise
    finally:
        summary = summarize(study, cell, tracker, cell_run_id, time.perf_counter() - started)
        tracker.finish(cell_run_id, status)
    return summary


def prepare_cell(
    cell: Cell, storage, tracker: Tracker, experiment_id: str, parent_run_id: str | None = None
) -> tuple[optuna.Study, str]:
    """The cell's study and its MLflow cell run, each created if missing (one process at a
    time: creating them from several at once races). Returns (study, cell_run_id)."""
    study = open_study(cell, storage)
    cell_run_id = open_cell_run(cell, tracker, experiment_id, parent_run_id)
    if study.user_attrs.get("mlflow_cell_run_id") != cell_run_id:
        study.set_user_attr("mlflow_cell_run_id", cell_run_id)
    return study, cell_run_id


def stale_trial_handler(tracker: Tracker):
    """For make_storage's `on_stale`: mark the MLflow run of a trial failed by the heartbeat."""

    def on_stale(study, trial) -> None:
        # by number first: a re-queued trial carries its predecessor's user attributes, and a
        # worker may die between creating the run and noting its id on the trial
        cell_run_id = study.user_attrs.get("mlflow_cell_run_id")
        run_id = tracker.find_trial_run(cell_run_id, trial.number) if cell_run_id else None
        run_id = run_id or trial.user_attrs.get("mlflow_run_id")
        if run_id:
            tracker.mark_lost(
                run_id,
                f"stale: trial {trial.number} had no heartbeat within the grace period (its "
                "worker was killed or lost); Optuna failed it and queued it again",
            )

    return on_stale


def open_cell_run(cell: Cell, tracker: Tracker, experiment_id: str, parent_run_id) -> str:
    params = {
        "dataset": cell.dataset_name,
        "extractor": cell.extractor,
        "clusterer": cell.clusterer,
        "objective": cell.objective,
        "seed": cell.seed,
        "n_clusters": ",".join(map(str, cell.n_clusters)),
        **{f"preprocessing.{key}": value for key, value in cell.preprocessing.items()},
    }
    tags = {
        "dataset": cell.dataset_name,
        "extractor": cell.extractor,
        "clusterer": cell.clusterer,
        "objective": cell.objective,
        "study_name": cell.study_name,
        "seed": cell.seed,
        "dataset_digest": cell.digest,
    }
    return tracker.open_cell_run(
        experiment_id,
        cell.study_name,
        f"{cell.extractor} x {cell.clusterer}",
        params,
        tags,
        parent_run_id,
    )


def summarize(study, cell, tracker, cell_run_id, seconds) -> CellSummary:
    """Copy the best complete trial's params and metrics and the trial counts onto the cell run."""
    counts = count_states(study)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    best_value = None
    counters = {
        "trials_complete": counts[TrialState.COMPLETE],
        "trials_pruned": counts[TrialState.PRUNED],
        "trials_failed": counts[TrialState.FAIL],
    }
    tracker.log(cell_run_id, metrics=counters)
    if complete:
        best = max(complete, key=lambda t: t.value)
        best_value = best.value
        metrics = {**best.user_attrs.get("metrics", {}), "best_trial_number": best.number}
        tracker.log_best(cell_run_id, best.params, metrics, step=len(complete))
    return CellSummary(
        extractor=cell.extractor,
        clusterer=cell.clusterer,
        complete=counts[TrialState.COMPLETE],
        pruned=counts[TrialState.PRUNED],
        failed=counts[TrialState.FAIL],
        best_value=best_value,
        seconds=seconds,
    )


def log_cell_pictures(study, cell, tracker, cell_run_id, cache=None) -> None:
    """Draw the best complete trial's pictures (cell_pictures.draw) onto the cell run under
    `pictures/`, once per best trial (tag PICTURES_TAG); a failure is logged, never raised."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        return
    best = max(complete, key=lambda t: t.value)
    if tracker.client.get_run(cell_run_id).data.tags.get(PICTURES_TAG) == str(best.number):
        return
    try:
        objective = Objective(cell, tracker, "", cell_run_id, cache)
        extractor_params, clusterer_params = objective.suggest(
            optuna.trial.FixedTrial(best.params)
        )
        figures = cell_pictures.draw(cell, extractor_params, clusterer_params, cache)
        for name, figure in figures.items():
            tracker.log_figure(cell_run_id, figure, name, "pictures")
            plots.close(figure)
    except Exception as error:
        logger.warning("pictures of %s x %s (trial %d) failed: %s: %s", cell.extractor,
                       cell.clusterer, best.number, type(error).__name__, error)
        return
    tracker.log(cell_run_id, tags={PICTURES_TAG: best.number})


def _metric_progress(label: str):
    """A progress callback that logs every tenth of the metric blocks (large n only)."""
    last = [-1]

    def report(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if total >= 20 and tenth != last[0]:
            last[0] = tenth
            logger.info("%s metrics: %d/%d blocks", label, done, total)

    return report


def _format(numbers: dict) -> str:
    return " ".join(f"{key}={value:.4g}" for key, value in sorted(numbers.items()))
