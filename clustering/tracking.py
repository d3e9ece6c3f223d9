"""MLflow: one experiment per dataset, one parent run per cell, one child run per trial; each
run's dataset as an MLflow input, and a cell's best pipeline as a logged model.

Everything goes through an explicit `MlflowClient`, so no global active-run stack is involved and
several processes can log into the same store.
"""

import contextlib
import functools
import json
import logging
import math
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from clustering.errors import BenchError

logger = logging.getLogger(__name__)

ROLE_TAG = "clustering_bench.role"
PARETO_TAG = "pareto_trials"  # on a multi-objective cell run: its Pareto-optimal trial numbers
STUDY_TAG = "clustering_bench.study"
WORKER_TAG = "clustering_bench.worker"
BEST_PREFIX = "best."
MAX_BATCH = 100
DIGEST_CHARS = 12  # of the dataset's sha256, as the logs show it (MLflow keeps at most 36)
DATASET_CONTEXT = "train"  # every image of a cell is clustered: each run's one input
LABELS_ARTIFACT = "labels.npy"  # a trial run's cluster labels (n,), int16 or int32


class Tracker:
    """Writes the runs of one tracking store (`tracking_uri`, e.g. sqlite:///mlflow.db)."""

    def __init__(self, tracking_uri: str):
        self.tracking_uri = tracking_uri

    @functools.cached_property
    def client(self) -> MlflowClient:
        """Created on first use: for a new SQLite store it runs MLflow's migrations (seconds)."""
        return MlflowClient(tracking_uri=self.tracking_uri)

    def check_reachable(self) -> None:
        """Raise BenchError naming the URI if the store cannot be read."""
        try:
            self.client.search_experiments(max_results=1)
        except Exception as error:  # connection, auth, schema: all mean "cannot use this store"
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise BenchError(
                f"cannot reach the MLflow tracking store {self.tracking_uri}: {first_line}; "
                "start it or pass another --tracking-uri"
            ) from None

    def experiment_id(self, name: str) -> str:
        """The id of the experiment called `name`, created if missing (restored if deleted)."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return self.client.create_experiment(name)
            except MlflowException:  # created meanwhile by another process
                experiment = self.client.get_experiment_by_name(name)
        if experiment.lifecycle_stage == "deleted":
            self.client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id

    def open_cell_run(
        self,
        experiment_id: str,
        study_name: str,
        run_name: str,
        params: dict,
        tags: dict,
        parent_run_id: str | None = None,
    ) -> str:
        """The cell's parent run for `study_name`: the existing one (set RUNNING again) or new."""
        existing = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{ROLE_TAG}` = 'cell' and tags.`{STUDY_TAG}` = '{study_name}'",
            max_results=1,
        )
        if existing:
            run_id = existing[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        all_tags = {**tags, ROLE_TAG: "cell", STUDY_TAG: study_name, MLFLOW_RUN_NAME: run_name}
        if parent_run_id:
            all_tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
        all_tags = {key: _text(value) for key, value in all_tags.items()}  # REST needs str
        run = self.client.create_run(experiment_id, tags=all_tags, run_name=run_name)
        self.log(run.info.run_id, params=params)
        return run.info.run_id

    def reopen_run(self, run_id: str | None) -> str | None:
        """Set an existing run RUNNING again and return its id; None if `run_id` is None or
        names no live run (deleted, or from another store)."""
        if run_id is None:
            return None
        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            return None
        if run.info.lifecycle_stage == "deleted":
            return None
        self.client.update_run(run_id, status="RUNNING")
        return run_id

    def start_trial_run(
        self,
        experiment_id: str,
        cell_run_id: str,
        study_name: str,
        number: int,
        params: dict,
        tags: dict | None = None,
    ) -> str:
        """A child run for trial `number` of the study, nested under the cell run. Interrupted
        (or failing) while its parameters are logged, the run is ended KILLED (FAILED) before the
        exception goes on: nobody else holds its id yet."""
        tags = {
            **(tags or {}),
            ROLE_TAG: "trial",
            STUDY_TAG: study_name,
            MLFLOW_PARENT_RUN_ID: cell_run_id,
            MLFLOW_RUN_NAME: f"trial-{number}",
            "optuna.trial_number": str(number),
        }
        run = self.client.create_run(experiment_id, tags=tags, run_name=f"trial-{number}")
        try:
            self.log(run.info.run_id, params=params, metrics={"trial_number": number})
        except BaseException as error:
            interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
            self.finish(run.info.run_id, "KILLED" if interrupted else "FAILED")
            raise
        return run.info.run_id

    def log(
        self,
        run_id: str,
        *,
        metrics: dict | None = None,
        params: dict | None = None,
        tags: dict | None = None,
        step: int = 0,
    ) -> None:
        """Log finite metrics, params and tags in batches of at most 100 entries of each kind,
        one request per batch (each request costs a round trip to a tracking server)."""
        timestamp = int(time.time() * 1000)
        metric_entities = [
            Metric(key, float(value), timestamp, step)
            for key, value in (metrics or {}).items()
            if value is not None and math.isfinite(float(value))
        ]
        param_entities = [Param(key, _text(value)) for key, value in (params or {}).items()]
        tag_entities = [RunTag(key, _text(value)) for key, value in (tags or {}).items()]
        longest = max(len(metric_entities), len(param_entities), len(tag_entities))
        for start in range(0, longest, MAX_BATCH):
            self.client.log_batch(
                run_id,
                metrics=metric_entities[start : start + MAX_BATCH],
                params=param_entities[start : start + MAX_BATCH],
                tags=tag_entities[start : start + MAX_BATCH],
            )

    def log_best(self, cell_run_id: str, params: dict, metrics: dict, step: int) -> None:
        """Copy the best trial onto the cell run: metrics (step = complete trials so far, so the
        history is best-so-far) and its parameters as `best.<name>` tags (tags may change when a
        resumed study finds a better trial; MLflow params may not)."""
        tags = {BEST_PREFIX + key: value for key, value in params.items()}
        self.log(cell_run_id, metrics=metrics, tags=tags, step=step)

    def log_dataset(self, run_id: str, dataset: dict) -> None:
        """Log the run's dataset as an MLflow input (the UI's Dataset column and filters).
        `dataset`: name, digest (full sha256 hex), source, shape ((h, w, c) as stored),
        n_images, and preprocessing (split, limit, color); the last three are input tags too."""
        preprocessing = dataset["preprocessing"]
        profile = {
            "n_images": dataset["n_images"],
            "digest_sha256": dataset["digest"],
            **preprocessing,
        }
        schema = {"images": {"dtype": "uint8", "shape": [-1, *dataset["shape"]]}}
        entity = Dataset(
            name=dataset["name"],
            digest=dataset["digest"][:DIGEST_CHARS],
            source_type="local",
            source=json.dumps({"uri": dataset["source"] or dataset["name"]}),
            schema=json.dumps(schema),
            profile=json.dumps(profile),
        )
        tags = [InputTag("mlflow.data.context", DATASET_CONTEXT)]
        tags += [InputTag(key, _text(value)) for key, value in preprocessing.items()]
        self.client.log_inputs(run_id, datasets=[DatasetInput(entity, tags)])

    def log_model(self, run_id: str, python_model, tags: dict | None = None, **kwargs):
        """Log `python_model` (an mlflow.pyfunc.PythonModel) as the run's pyfunc model named
        "model" in the run's experiment, with `tags`; `kwargs` go to mlflow.pyfunc's save_model
        (artifacts, signature, input_example, pip_requirements, metadata). Returns MLflow's
        ModelInfo (`model_uri`, `model_id`)."""
        import mlflow.pyfunc
        from mlflow.models import Model

        run = self.client.get_run(run_id)
        logged = self.client.create_logged_model(  # in the run's experiment, not the default
            run.info.experiment_id,
            name="model",
            source_run_id=run_id,
            tags={key: _text(value) for key, value in (tags or {}).items()},
            params=dict(run.data.params),
        )
        with using_tracking_uri(self.tracking_uri), _quieter("mlflow.pyfunc"):
            return Model.log(
                artifact_path=None,
                name="model",
                flavor=mlflow.pyfunc,
                run_id=run_id,
                model_id=logged.model_id,
                python_model=python_model,
                **kwargs,
            )

    def log_labels(self, run_id: str, labels: np.ndarray) -> None:
        """Log a trial's cluster labels (n,) as the run's `labels.npy` (int16 when they fit,
        else int32), so label-free criteria can be computed after the fact."""
        labels = np.asarray(labels)
        small = labels.size == 0 or np.abs(labels).max() < np.iinfo(np.int16).max
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / LABELS_ARTIFACT
            np.save(path, labels.astype(np.int16 if small else np.int32))
            self.client.log_artifact(run_id, str(path))

    def log_figure(self, run_id: str, figure, filename: str, artifact_path: str = "") -> None:
        """Save a matplotlib figure as a PNG artifact of the run."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / filename
            figure.savefig(path, dpi=100, bbox_inches="tight")
            self.client.log_artifact(run_id, str(path), artifact_path or None)

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        """End a run with FINISHED, FAILED or KILLED."""
        self.client.set_terminated(run_id, status=status)

    def mark_lost(self, run_id: str, reason: str) -> None:
        """Mark FAILED, with `reason` as its error tag, a trial run whose Optuna trial failed
        without its worker saying so (worker killed, outage); a KILLED or FAILED run is kept."""
        if self.client.get_run(run_id).info.status in ("FAILED", "KILLED"):
            return
        self.log(run_id, tags={"optuna.state": "FAIL", "error": reason})
        self.finish(run_id, "FAILED")

    def find_trial_run(self, cell_run_id: str, number: int) -> str | None:
        """The id of the run of trial `number` under the cell run, None if there is none."""
        experiment_id = self.client.get_run(cell_run_id).info.experiment_id
        query = (
            f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{cell_run_id}' and "
            f"tags.`optuna.trial_number` = '{number}'"
        )
        found = self.client.search_runs([experiment_id], filter_string=query, max_results=1)
        return found[0].info.run_id if found else None

    def trial_runs(self, experiment_id: str, study_name: str) -> list:
        """Every trial run of the study (all pages)."""
        query = f"tags.`{ROLE_TAG}` = 'trial' and tags.`{STUDY_TAG}` = '{study_name}'"
        return search_all_runs(self.client, [experiment_id], query)


def search_all_runs(client, experiment_ids: list, filter_string: str, order_by=None) -> list:
    """Every run matching `filter_string` in the experiments, all pages of 1,000 read."""
    runs, token = [], None
    while True:
        page = client.search_runs(
            experiment_ids,
            filter_string=filter_string,
            order_by=order_by,
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


@contextlib.contextmanager
def using_tracking_uri(tracking_uri: str):
    """MLflow's fluent API (model logging, loading, registering) pointed at `tracking_uri`
    meanwhile; after, the previous URI, or none when none was set (`set_tracking_uri` also
    sets MLFLOW_TRACKING_URI, which would otherwise outlive the block, resolved to an absolute
    path, and be inherited by every later subprocess)."""
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


@contextlib.contextmanager
def _quieter(name: str):
    """The logger `name` at ERROR meanwhile: MLflow warns on every pyfunc model it pickles."""
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _text(value) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."
