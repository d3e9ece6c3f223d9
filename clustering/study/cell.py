"""A cell is shared data plus a per-cell spec. `CellData`: one per run and dataset (the images,
their labels, the preprocessing, the reference embedding), built once. `CellSpec`: a small value
(stage names, k, objective, seed, search) with its study name, label, queued configurations and
`params_of(trial)`; the same spec on other data or with another seed is
`dataclasses.replace(spec, seed=...)` or `specs(config, other_data)`. Also the study opened with
the known-good configurations queued first, and trial counts."""

import dataclasses
import hashlib
import json
import logging
import warnings
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from clustering import data
from clustering.cache import FeatureCache
from clustering.clusterers import CLUSTERERS
from clustering.config import STAGES, RunConfig
from clustering.errors import BenchError
from clustering.extractors import EXTRACTORS
from clustering.metrics import METRICS
from clustering.reducers import REDUCERS
from clustering.reference import cached_reference_embedding

logger = logging.getLogger(__name__)

METRIC_ATTR_PREFIX = "metric."  # a trial's user attribute per score: metric.asc = 0.81
LEGACY_METRICS_ATTR = "metrics"  # where stores made before kept all scores, as one dict


@dataclass(frozen=True)
class CellData:
    """One dataset as every cell of a run sees it: X (n, h, w, c) in [0, 1], y_true (n,),
    `images` as the dataset stores them ((n, h, w, c0) uint8, the input of a cell's logged
    model), where they were read (`source`), the reference embedding (n, d) or None, and the
    images every extractor is fitted on, X_fit (m, h, w, c) in [0, 1], or None to fit on X
    (`preprocessing["fit"]` then names them: split, digest, number of images)."""

    name: str
    digest: str
    preprocessing: dict
    X: np.ndarray
    y_true: np.ndarray
    images: np.ndarray | None = None
    source: str = ""
    reference: np.ndarray | None = None
    X_fit: np.ndarray | None = None

    def description(self) -> dict:
        """What the tracker logs of the data as a run's input: name, digest, source, stored
        image shape (h, w, c), number of images and preprocessing (split, limit, color)."""
        stored = self.images if self.images is not None else self.X
        return {
            "name": self.name,
            "digest": self.digest,
            "source": self.source,
            "shape": list(stored.shape[1:]),
            "n_images": len(self.X),
            "preprocessing": self.preprocessing,
        }


@dataclass(frozen=True)
class CellSpec:
    """What one study optimises on a dataset (named by `dataset`, `digest`, `preprocessing`):
    the three stages' registry names, the k values, the objective, the seed, the stages whose
    parameters sampled trials draw, and the sample size of ASC and Dunn (None: every image)."""

    dataset: str
    digest: str
    preprocessing: dict
    extractor: str
    reducer: str
    clusterer: str
    n_clusters: tuple[int, ...]
    objective: str
    seed: int
    search: tuple[str, ...] = STAGES
    metric_sample_size: int | None = None

    @property
    def objectives(self) -> list[str]:
        """The metrics the study optimises: one, or several for a multi-objective study."""
        return self.objective.split(",")

    @property
    def label(self) -> str:
        """How logs, reports and the study show the cell: "raw x umap x gmm"."""
        return f"{self.extractor} x {self.reducer} x {self.clusterer}"

    @property
    def run_name(self) -> str:
        """How the MLflow UI names the cell's run and its model: "raw-umap-gmm"."""
        return f"{self.extractor}-{self.reducer}-{self.clusterer}"

    @property
    def study_name(self) -> str:
        """`<dataset>.<extractor>.<reducer>.<clusterer>.<hash>`: the hash (8 hex digits of a
        sha256) stands for the data's digest, the preprocessing, k, the objective and the seed
        (and `search` when not every stage is searched), so the same command finds its study
        again and anything measured differently gets another; the study's `setup` attribute
        says it in words (`study_labels`)."""
        setup = [self.digest, self.preprocessing, list(self.n_clusters), self.objective, self.seed]
        if not self.searches_every_stage:  # a full search keeps the name it had before --search
            setup.append(list(self.search))
        setup = json.dumps(setup, sort_keys=True)
        key = hashlib.sha256(setup.encode()).hexdigest()[:8]
        return f"{self.dataset}.{self.extractor}.{self.reducer}.{self.clusterer}.{key}"

    def params_of(self, trial) -> dict[str, dict]:
        """Each stage's `__init__` keyword arguments for `trial` (an Optuna trial, or a
        FixedTrial of a finished trial's parameters), by stage: extractor, reducer, clusterer."""
        if len(self.n_clusters) > 1:
            n_clusters = trial.suggest_categorical("n_clusters", list(self.n_clusters))
        else:
            n_clusters = self.n_clusters[0]
        return {
            "extractor": EXTRACTORS.get(self.extractor).search_space(trial),
            "reducer": REDUCERS.get(self.reducer).search_space(trial, n_clusters=n_clusters),
            "clusterer": CLUSTERERS.get(self.clusterer).search_space(trial, n_clusters=n_clusters),
        }

    def params_of_trial(self, trial: optuna.trial.FrozenTrial) -> dict[str, dict]:
        """`params_of` a finished trial, from its recorded Optuna parameters."""
        return self.params_of(optuna.trial.FixedTrial(trial.params))

    def known_params(self) -> list[dict]:
        """Optuna parameters to queue before sampling: the original experiment's configuration
        first, then each published preset of the extractor with the reducer's and the
        clusterer's defaults (the reducer's are N2D's), then each preset of the clusterer with
        the extractor's and the reducer's defaults."""
        k = {"n_clusters": self.n_clusters[0]}
        reducer = REDUCERS.get(self.reducer).default_params(**k)
        extractors = EXTRACTORS.get(self.extractor).known_params()
        clusterers = CLUSTERERS.get(self.clusterer).known_params(**k)
        pairs = [(extractor, clusterers[0]) for extractor in extractors]
        pairs += [(extractors[0], clusterer) for clusterer in clusterers[1:]]
        queued = [{**extractor, **reducer, **clusterer} for extractor, clusterer in pairs]
        if len(self.n_clusters) > 1:
            for params in queued:
                params["n_clusters"] = self.n_clusters[0]
        return queued

    @property
    def searches_every_stage(self) -> bool:
        return tuple(self.search) == STAGES

    def stage_of(self, param: str) -> str | None:
        """The stage an Optuna parameter belongs to, by its registry-name prefix
        ("umap.n_neighbors" -> "reducer"); None for one they share (n_clusters)."""
        names = {self.extractor: "extractor", self.reducer: "reducer", self.clusterer: "clusterer"}
        return names.get(param.split(".")[0]) if "." in param else None

    def held_params(self, study: optuna.Study) -> dict:
        """What a sampled trial keeps fixed when the cell does not search every stage: the
        parameters of the stages outside `search`, from the best complete trial so far, else
        from the first queued configuration ({} when every stage is searched)."""
        if self.searches_every_stage:
            return {}
        best = best_trial(study)
        params = best.params if best is not None else self.known_params()[0]
        held = [stage for stage in STAGES if stage not in self.search]
        return {name: value for name, value in params.items() if self.stage_of(name) in held}


@dataclass
class CellSummary:
    """How a cell's study stands after a run: trial counts, best value (or None), seconds,
    and the MLflow experiment of its cell run."""

    label: str
    complete: int
    failed: int
    best_value: float | None
    seconds: float
    experiment_id: str = ""


def load_data(config: RunConfig, cache: FeatureCache | None = None) -> CellData:
    """Load and preprocess the config's dataset once, and its reference embedding (through
    `cache`)."""
    dataset = data.load(
        config.dataset,
        data_dir=config.data_dir,
        split=config.split,
        limit=config.limit,
        seed=config.seed,
    )
    X = data.preprocess(dataset.images, color=config.color)
    logger.info(
        "dataset %s: %d images of %s, %d classes, digest %s",
        dataset.name,
        len(X),
        "x".join(map(str, X.shape[1:])),
        len(dataset.class_names),
        dataset.digest[:12],
    )
    _n_clusters(config.n_clusters, dataset.name, dataset.labels)  # before the slow reference
    X_fit, fitted_on = load_fit_images(config, X.shape[1:])
    preprocessing = {"split": config.split, "limit": config.limit, "color": config.color}
    reference = cached_reference_embedding(
        X,
        digest=dataset.digest,
        preprocessing=preprocessing,
        random_state=config.seed,
        cache=cache,
    )
    if fitted_on is not None:  # in every cache key and study name: what the extractors saw
        preprocessing = preprocessing | {"fit": fitted_on}
    return CellData(
        dataset.name,
        dataset.digest,
        preprocessing,
        X,
        dataset.labels,
        dataset.images,
        dataset.source,
        reference,
        X_fit,
    )


def load_fit_images(config: RunConfig, image_shape: tuple) -> tuple[np.ndarray | None, dict | None]:
    """The images the config fits its extractors on (`--fit-data-dir`, `--fit-split`),
    preprocessed as the clustered ones: (X_fit (m, h, w, c) in [0, 1], {"split", "digest",
    "n_images"}), or (None, None) when neither option is set. BenchError when their image
    shape differs from `image_shape` (h, w, c)."""
    if config.fit_data_dir is None and config.fit_split is None:
        return None, None
    split = config.fit_split or config.split
    dataset = data.load(
        config.dataset, data_dir=config.fit_data_dir or config.data_dir, split=split
    )
    X_fit = data.preprocess(dataset.images, color=config.color)
    if X_fit.shape[1:] != tuple(image_shape):
        shapes = "x".join(map(str, X_fit.shape[1:])), "x".join(map(str, image_shape))
        raise BenchError(
            f"--fit-data-dir/--fit-split images are {shapes[0]}, the clustered ones {shapes[1]}; "
            "fit on images of the same dataset"
        )
    logger.info(
        "extractors fitted on %d images of split %s, digest %s",
        len(X_fit),
        split,
        dataset.digest[:12],
    )
    return X_fit, {"split": split, "digest": dataset.digest, "n_images": len(X_fit)}


def specs(config: RunConfig, cell_data: CellData) -> list[CellSpec]:
    """One spec per (extractor, reducer, clusterer) of the config on `cell_data`,
    extractor-major then reducer-major, so the cache serves each embedding's later cells."""
    n_clusters = tuple(_n_clusters(config.n_clusters, cell_data.name, cell_data.y_true))
    first = CellSpec(
        cell_data.name,
        cell_data.digest,
        cell_data.preprocessing,
        config.extractors[0],
        config.reducers[0],
        config.clusterers[0],
        n_clusters,
        config.objective,
        config.seed,
        tuple(config.search),
        config.metric_sample_size,
    )
    return [
        dataclasses.replace(first, extractor=extractor, reducer=reducer, clusterer=clusterer)
        for extractor in config.extractors
        for reducer in config.reducers
        for clusterer in config.clusterers
    ]


def _n_clusters(asked: list[int] | None, name: str, y_true: np.ndarray) -> list[int]:
    """The k values to try on dataset `name` with labels y_true (n,): those asked for, else the
    number of classes; BenchError when that leaves nothing to cluster or a k above n."""
    n_images = len(y_true)
    n_classes = len(np.unique(y_true))
    if asked is None and n_classes < 2:
        raise BenchError(
            f"{name}: its labels hold a single class, so there is nothing to cluster "
            "by default; pass --n-clusters K (2 or more)"
        )
    n_clusters = list(asked or [n_classes])
    too_many = [k for k in n_clusters if k > n_images]
    if too_many:
        raise BenchError(
            f"--n-clusters {too_many[0]} is above the number of images ({n_images}); "
            f"choose 2..{n_images}"
        )
    return n_clusters


def sampler(trials: int, seed: int) -> optuna.samplers.TPESampler:
    """The search for a budget of `trials`: TPE whose random start-up phase is a third of the
    budget (at least one trial), so a small budget still reaches the model-based phase."""
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, trials // 3))


def open_study(spec: CellSpec, storage, trials: int) -> optuna.Study:
    """Create or load the cell's study with the `sampler` for `trials`; a new study gets the
    known configurations queued."""
    directions = [
        "maximize" if METRICS.get(name).higher_is_better else "minimize" for name in spec.objectives
    ]
    study = optuna.create_study(
        study_name=spec.study_name,
        storage=storage,
        directions=directions,
        sampler=sampler(trials, spec.seed),
        load_if_exists=True,
    )
    if not study.trials:
        with warnings.catch_warnings():  # experimental since Optuna 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(spec.objectives)
        study.set_user_attr("objective", spec.objective)
        for params in spec.known_params():
            study.enqueue_trial(params, skip_if_exists=True)
    for key, value in study_labels(spec).items():
        if study.user_attrs.get(key) != value:
            study.set_user_attr(key, value)
    return study


def study_labels(spec: CellSpec) -> dict:
    """The study's readable user attributes: its cell ("raw x umap x gmm") and what the hash
    ending its name stands for (the data, k, objective and seed it was made with)."""
    data = ", ".join(f"{key} {value}" for key, value in spec.preprocessing.items())
    setup = (
        f"{spec.dataset} (digest {spec.digest[:12]}; {data}), k {spec.n_clusters}, "
        f"objective {spec.objective}, seed {spec.seed}"
    )
    if not spec.searches_every_stage:
        setup += f", search {','.join(spec.search)}"
    return {"cell": spec.label, "setup": setup}


def set_metric_attrs(trial: optuna.Trial, scores: dict) -> None:
    """Each score as its own numeric user attribute of the trial (`metric.<name>`), so
    optuna-dashboard lists them."""
    for name, value in scores.items():
        trial.set_user_attr(METRIC_ATTR_PREFIX + name, float(value))


def trial_metrics(trial: optuna.trial.FrozenTrial) -> dict:
    """The scores a trial recorded (`set_metric_attrs`), or those of a store made before, kept
    as one dict."""
    attrs = trial.user_attrs
    prefix = METRIC_ATTR_PREFIX
    scores = {key[len(prefix) :]: value for key, value in attrs.items() if key.startswith(prefix)}
    return scores or dict(attrs.get(LEGACY_METRICS_ATTR, {}))


def count_states(study: optuna.Study) -> dict[TrialState, int]:
    """How many of the study's trials are in each state."""
    counts = dict.fromkeys(TrialState, 0)
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state] += 1
    return counts


def best_trial(study: optuna.Study):
    """The best complete trial by the (first) objective, None if none is complete. In a
    multi-objective study it is chosen among the Pareto-optimal trials."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    candidates = study.best_trials if len(study.directions) > 1 else complete
    sign = 1.0 if study.directions[0] == StudyDirection.MAXIMIZE else -1.0
    return max(candidates, key=lambda trial: sign * trial.values[0])  # ties: the first one
