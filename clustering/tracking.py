"""The MLflow gateway: every read and write of runs, tags, inputs, artifacts and models, and the
schema, every tag and attribute key the project writes or reads, as a named constant. One
experiment per dataset, one parent run per cell, one child run per trial, one dataset run the
report logs; each run's dataset as an MLflow input, and a cell's best pipeline as a logged model.

Writes go through an explicit `MlflowClient`, so no global active-run stack is involved and
several processes can log into the same store; the report's tables are read with
`mlflow.search_runs` (pandas DataFrames). No other module imports `mlflow.tracking`.
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

from clustering import experiment_view
from clustering.config import STAGES
from clustering.errors import BenchError, first_line

logger = logging.getLogger(__name__)

# every run
ROLE_TAG = "clustering_bench.role"  # what a run is: one of the roles below
CELL_ROLE, TRIAL_ROLE, DATASET_ROLE, REPEAT_ROLE = "cell", "trial", "dataset", "repeat"
STUDY_TAG = "clustering_bench.study"  # the Optuna study of a cell or trial run
PARENT_TAG = MLFLOW_PARENT_RUN_ID  # a trial run's cell run (a cell run's `mlflow run` run)
RUN_NAME_TAG = MLFLOW_RUN_NAME
# a cell run: its parts (also its params), and what the study copied onto it
STAGE_TAGS = STAGES  # "extractor", "reducer", "clusterer": each the stage's registry name
DATASET_TAG = "dataset"  # the dataset's short name (a cell run and the dataset run)
OBJECTIVE_TAG = "objective"
STUDY_NAME_TAG = "study_name"
SEED_TAG = "seed"
DIGEST_TAG = "dataset_digest"
BEST_PREFIX = "best."  # best.<param>: the best trial's parameters
PARETO_TAG = "pareto_trials"  # on a multi-objective cell run: its Pareto-optimal trial numbers
PICTURES_TAG = "pictures.trial_number"  # the trial its pictures/ show
PICTURES_FOLDER = "pictures"  # the artifact folder of a cell run holding its pictures
MODEL_TAG = "model.trial_number"  # the trial its logged model is
MODEL_URI_TAG = "model.uri"
EXPERIMENT_TAG = "clustering_bench.experiment"  # on a parent run: where its cell runs went
REPEATS_TAG = "repeats.trial_number"  # the trial its repeats re-ran
REPEAT_SEED_TAG = "repeat.seed"  # on a repeat run: the seed of the stages it re-seeds
REPEAT_STAGES_TAG = "repeat.stages"  # on a repeat run: those stages (the others keep --seed)
# on a repeat run with the study's seed for every stage: the trial whose scores it carries (the same
# configuration and seeds are that trial, so nothing is re-fitted)
REPEAT_REUSED_TAG = "repeat.reused_trial"
REPEAT_SUFFIXES = ("mean", "std", "min", "max")  # <metric>_<suffix> on a cell run with repeats
# a trial run
TRIAL_NUMBER_TAG = "optuna.trial_number"
STATE_TAG = "optuna.state"  # COMPLETE or FAIL
ERROR_TAG = "error"  # why a trial failed
WORKER_TAG = "clustering_bench.worker"  # host:pid of the process that ran it
FEATURE_CACHE_TAG, EMBEDDING_CACHE_TAG = "feature_cache", "embedding_cache"  # hit or miss
SAMPLE_SIZE_TAG, SAMPLE_SEED_TAG = "metric_sample_size", "metric_random_state"
N_CLUSTERS_PARAM = "n_clusters"
# a registered model version: what chose it
CRITERION_TAG, VALUE_TAG = "criterion", "criterion_value"
CELL_TAG, VERSION_TRIAL_TAG, VERSION_RUN_TAG = "cell", "trial_number", "run_id"
# search_runs' attribute keys and DataFrame columns
START_TIME = "attributes.start_time"
STATUS = "attributes.status"
MAX_BATCH = 100
DIGEST_CHARS = 12  # of the dataset's sha256, as the logs show it (MLflow keeps at most 36)
CONTEXT_TAG = "mlflow.data.context"  # an input's split: test, train or all
LABELS_ARTIFACT = "labels.npy"  # a trial run's cluster labels (n,), int16 or int32
# an experiment: what the UI opens it on, its description, the saved view of its cells
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
NOTE_TAG = "mlflow.note.content"
SAVED_VIEW_PREFIX = "mlflow.sharedViewState."


class Tracker:
    """Reads and writes the runs of one tracking store (`tracking_uri`, e.g.
    sqlite:///mlflow.db)."""

    def __init__(self, tracking_uri: str):
        self.tracking_uri = tracking_uri

    @functools.cached_property
    def client(self) -> MlflowClient:
        """Created on first use: for a new SQLite store it runs MLflow's migrations (seconds)."""
        return MlflowClient(tracking_uri=self.tracking_uri)

    def probe(self) -> None:
        """Raise if the store cannot be read right now."""
        self.client.search_experiments(max_results=1)

    def check_reachable(self) -> None:
        """Raise BenchError naming the URI if the store cannot be read."""
        try:
            self.probe()
        except Exception as error:  # connection, auth, schema: all mean "cannot use this store"
            raise BenchError(
                f"cannot reach the MLflow tracking store {self.tracking_uri}: "
                f"{first_line(error)}; "
                "start it or pass another --tracking-uri"
            ) from None

    def experiment_id(self, name: str) -> str:
        """The id of the experiment called `name`, created if missing (restored if deleted),
        tagged as the UI should show it (`describe_experiment`)."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                experiment_id = self.client.create_experiment(name)
            except MlflowException:  # created meanwhile by another process
                experiment = self.client.get_experiment_by_name(name)
            else:
                self.describe_experiment(experiment_id)
                return experiment_id
        if experiment.lifecycle_stage == "deleted":
            self.client.restore_experiment(experiment.experiment_id)
        self.describe_experiment(experiment.experiment_id)
        return experiment.experiment_id

    def describe_experiment(self, experiment_id: str) -> None:
        """Tag the experiment a model-training one (the UI opens it on its runs), give it its
        description and the saved view of its cell runs (`experiment_view`)."""
        state = experiment_view.view_state(ROLE_TAG, CELL_ROLE)
        tags = {
            EXPERIMENT_KIND_TAG: experiment_view.EXPERIMENT_KIND,
            NOTE_TAG: experiment_view.DESCRIPTION,
            SAVED_VIEW_PREFIX + experiment_view.VIEW_KEY: experiment_view.saved_view(state),
        }
        for key, value in tags.items():
            self.client.set_experiment_tag(experiment_id, key, value)

    def open_cell_run(self, experiment_id: str, spec, parent_run_id: str | None = None) -> str:
        """The parent run of the cell `spec` (a study.cell.CellSpec) for its study: the existing
        one (set RUNNING again) or new, named by its label, with its parts as params and tags."""
        study_name, run_name = spec.study_name, spec.run_name
        params = {
            DATASET_TAG: spec.dataset,
            **{stage: getattr(spec, stage) for stage in STAGE_TAGS},
            OBJECTIVE_TAG: spec.objective,
            SEED_TAG: spec.seed,
            N_CLUSTERS_PARAM: ",".join(map(str, spec.n_clusters)),
            **{f"preprocessing.{key}": value for key, value in spec.preprocessing.items()},
        }
        tags = {
            DATASET_TAG: spec.dataset,
            **{stage: getattr(spec, stage) for stage in STAGE_TAGS},
            OBJECTIVE_TAG: spec.objective,
            STUDY_NAME_TAG: study_name,
            SEED_TAG: spec.seed,
            DIGEST_TAG: spec.digest,
        }
        existing = self.client.search_runs(
            [experiment_id],
            filter_string=_role_query(CELL_ROLE, study_name),
            max_results=1,
        )
        if existing:
            run_id = existing[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        all_tags = {**tags, ROLE_TAG: CELL_ROLE, STUDY_TAG: study_name, RUN_NAME_TAG: run_name}
        if parent_run_id:
            all_tags[PARENT_TAG] = parent_run_id
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
            ROLE_TAG: TRIAL_ROLE,
            STUDY_TAG: study_name,
            PARENT_TAG: cell_run_id,
            RUN_NAME_TAG: f"trial-{number}",
            TRIAL_NUMBER_TAG: str(number),
        }
        run = self.client.create_run(experiment_id, tags=tags, run_name=f"trial-{number}")
        try:
            self.log(run.info.run_id, params=params, metrics={"trial_number": number})
        except BaseException as error:
            interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
            self.finish(run.info.run_id, "KILLED" if interrupted else "FAILED")
            raise
        return run.info.run_id

    def start_repeat_run(self, cell_run_id: str, study_name: str, seed: int, params: dict) -> str:
        """A run for the repeat with `seed` of the cell's best configuration, nested under the
        cell run (in its experiment), with the configuration's `params`."""
        tags = {
            ROLE_TAG: REPEAT_ROLE,
            STUDY_TAG: study_name,
            PARENT_TAG: cell_run_id,
            RUN_NAME_TAG: f"repeat-seed-{seed}",
            REPEAT_SEED_TAG: str(seed),
        }
        experiment_id = self.experiment_of(cell_run_id)
        run = self.client.create_run(experiment_id, tags=tags, run_name=tags[RUN_NAME_TAG])
        self.log(run.info.run_id, params=params)
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
        n_images, and preprocessing (split, limit, color); the last three are input tags too,
        and the split is the input's context (the UI's badge: test, train or all)."""
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
        tags = [InputTag(CONTEXT_TAG, preprocessing["split"])]
        tags += [InputTag(key, _text(value)) for key, value in preprocessing.items()]
        self.client.log_inputs(run_id, datasets=[DatasetInput(entity, tags)])

    def log_model(self, run_id: str, python_model, name: str, tags: dict | None = None, **kwargs):
        """Log `python_model` (an mlflow.pyfunc.PythonModel) as the run's pyfunc model called
        `name` in the run's experiment, with `tags`; `kwargs` go to mlflow.pyfunc's save_model
        (artifacts, signature, input_example, pip_requirements, metadata). Returns MLflow's
        ModelInfo (`model_uri`, `model_id`)."""
        import mlflow.pyfunc
        from mlflow.models import Model

        run = self.client.get_run(run_id)
        logged = self.client.create_logged_model(  # in the run's experiment, not the default
            run.info.experiment_id,
            name=name,
            source_run_id=run_id,
            tags={key: _text(value) for key, value in (tags or {}).items()},
            params=dict(run.data.params),
        )
        with using_tracking_uri(self.tracking_uri), _quieter("mlflow.pyfunc"):
            return Model.log(
                artifact_path=None,
                name=name,
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

    def read_labels(self, run_id: str) -> np.ndarray | None:
        """A trial run's cluster labels (n,) int64 (`log_labels`); None when it logged none or
        they cannot be read (logged as a warning)."""
        with tempfile.TemporaryDirectory() as folder:
            try:
                path = self.download_artifact(run_id, LABELS_ARTIFACT, folder)
                return None if path is None else np.load(path, allow_pickle=False).astype(np.int64)
            except (MlflowException, OSError, ValueError) as error:
                logger.warning("trial run %s: its labels could not be read (%s)", run_id, error)
                return None

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
        self.log(run_id, tags={STATE_TAG: "FAIL", ERROR_TAG: reason})
        self.finish(run_id, "FAILED")

    def find_trial_run(self, cell_run_id: str, number: int) -> str | None:
        """The id of the run of trial `number` under the cell run, None if there is none."""
        experiment_id = self.client.get_run(cell_run_id).info.experiment_id
        query = f"tags.`{PARENT_TAG}` = '{cell_run_id}' and tags.`{TRIAL_NUMBER_TAG}` = '{number}'"
        found = self.client.search_runs([experiment_id], filter_string=query, max_results=1)
        return found[0].info.run_id if found else None

    def trial_runs(self, experiment_id: str, study_name: str) -> list:
        """Every trial run of the study (all pages)."""
        return self._search_all([experiment_id], _role_query(TRIAL_ROLE, study_name))

    def cell_runs(self, experiment_id: str, status: str | None = None) -> list:
        """Every cell run of the experiment (all pages), those with `status` only when given."""
        query = f"tags.`{ROLE_TAG}` = '{CELL_ROLE}'"
        if status:
            query += f" and {STATUS} = '{status}'"
        return self._search_all([experiment_id], query)

    def experiment_of(self, run_id: str) -> str:
        """The id of the experiment the run lives in."""
        return self.client.get_run(run_id).info.experiment_id

    def tags(self, run_id: str) -> dict:
        """The run's tags."""
        return dict(self.client.get_run(run_id).data.tags)

    def metrics(self, run_id: str) -> dict:
        """The run's metrics, each at its latest value."""
        return dict(self.client.get_run(run_id).data.metrics)

    def experiment_by_name(self, name: str):
        """The experiment called `name` (an mlflow Experiment), None when there is none."""
        return self.client.get_experiment_by_name(name)

    def log_artifact(self, run_id: str, path: str | Path, artifact_path: str | None = None):
        """Upload the file at `path` as an artifact of the run (under `artifact_path`)."""
        self.client.log_artifact(run_id, str(path), artifact_path)

    def download_artifact(self, run_id: str, path: str, folder: str | Path) -> Path | None:
        """The run's artifact at `path` (top level) downloaded into `folder`; None when the run
        has none there."""
        if not any(info.path == path for info in self.client.list_artifacts(run_id)):
            return None
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(self.client.download_artifacts(run_id, path, str(folder)))

    def download_pngs(self, run_id: str, artifact_path: str, folder: str | Path) -> list[Path]:
        """The run's PNG artifacts directly under `artifact_path`, downloaded into `folder`,
        sorted by path."""
        files = [
            info
            for info in self.client.list_artifacts(run_id, artifact_path)
            if not info.is_dir and info.path.endswith(".png")
        ]
        files.sort(key=lambda info: info.path)
        return [Path(self.client.download_artifacts(run_id, f.path, str(folder))) for f in files]

    def log_dataset_run(
        self, name: str, experiment_ids: list, experiment_id: str, metrics: dict, step: int, files
    ) -> str:
        """The dataset `name`'s run (role DATASET_ROLE; the newest one in `experiment_ids`,
        else created in `experiment_id`) gets `metrics` at `step` and `files` as artifacts, and
        ends FINISHED. Returns its id."""
        escaped = name.replace("'", "\\'")
        query = f"tags.`{ROLE_TAG}` = '{DATASET_ROLE}' and tags.{DATASET_TAG} = '{escaped}'"
        found = self.client.search_runs(
            experiment_ids, query, order_by=[f"{START_TIME} DESC"], max_results=1
        )
        if found:
            run_id = found[0].info.run_id
        else:
            tags = {ROLE_TAG: DATASET_ROLE, DATASET_TAG: name, RUN_NAME_TAG: f"{name} (dataset)"}
            run_id = self.client.create_run(experiment_id, tags=tags).info.run_id
        timestamp = int(time.time() * 1000)
        entities = [Metric(key, value, timestamp, step) for key, value in metrics.items()]
        self.client.log_batch(run_id, metrics=entities)
        for path in files:
            self.log_artifact(run_id, path)
        self.client.set_terminated(run_id)
        return run_id

    def latest_model_version(self, name: str):
        """The registered model `name`'s newest version (an mlflow ModelVersion), None if none."""
        versions = self.client.search_model_versions(f"name = '{name}'")
        return max(versions, key=lambda version: int(version.version), default=None)

    def register_model_version(self, name: str, model_uri: str, run_id: str, **described):
        """A new version of the registered model `name` (created, with
        `described["model_description"]`, if missing) for the logged model at `model_uri`
        (models:/m-...) of `run_id`, with `described["tags"]` and `described["description"]`."""
        if not self.client.search_registered_models(f"name = '{name}'"):
            self.client.create_registered_model(name, description=described["model_description"])
        with using_tracking_uri(self.tracking_uri):  # MLflow resolves the models:/ source there
            return self.client.create_model_version(
                name,
                source=model_uri,
                run_id=run_id,
                tags=described["tags"],
                description=described["description"],
                model_id=model_uri.removeprefix("models:/"),
            )

    def _search_all(self, experiment_ids: list, filter_string: str, order_by=None) -> list:
        """Every run matching `filter_string` in the experiments, all pages of 1,000 read."""
        runs, token = [], None
        while True:
            page = self.client.search_runs(
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


def search_runs_frame(tracking_uri: str, filter_string: str, experiment_ids=None):
    """Every run of `tracking_uri` matching the filter as a pandas DataFrame
    (`mlflow.search_runs`: columns run_id, experiment_id, status, tags.<key>, params.<key>,
    metrics.<key>), newest first; all active experiments when no ids are given."""
    with using_tracking_uri(tracking_uri):
        return mlflow.search_runs(
            experiment_ids=experiment_ids,
            filter_string=filter_string,
            search_all_experiments=experiment_ids is None,
            order_by=[f"{START_TIME} DESC"],
        )


def load_pyfunc(model_uri: str, tracking_uri: str):
    """The pyfunc model at `model_uri` (runs:/..., models:/NAME/VERSION, models:/m-..., a
    folder), resolved against `tracking_uri`."""
    import mlflow.pyfunc

    with using_tracking_uri(tracking_uri):
        return mlflow.pyfunc.load_model(model_uri)


def tag_column(key: str) -> str:
    """The search_runs DataFrame column of the tag `key`."""
    return f"tags.{key}"


def _role_query(role: str, study_name: str) -> str:
    return f"tags.`{ROLE_TAG}` = '{role}' and tags.`{STUDY_TAG}` = '{study_name}'"


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
