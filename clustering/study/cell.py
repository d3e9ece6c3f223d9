"""A cell (dataset x extractor x reducer x clusterer) and its Optuna study: what it optimises,
its stable name, the study created with the known-good configurations queued first, and trial
counts."""

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from clustering import data, pipeline
from clustering.cache import FeatureCache
from clustering.clusterers import CLUSTERERS
from clustering.config import STAGES, RunConfig
from clustering.errors import BenchError
from clustering.extractors import EXTRACTORS
from clustering.metrics import METRICS
from clustering.reducers import REDUCERS
from clustering.reference import cached_reference_embedding

logger = logging.getLogger(__name__)


@dataclass
class Cell:
    """What one study optimises: data (X (n, h, w, c) in [0, 1], y_true (n,)) and the three
    stages' registry names; `images` are X as the dataset stores them ((n, h, w, c0) uint8, the
    input of the cell's logged model) and `source` where they were read."""

    dataset_name: str
    digest: str
    preprocessing: dict
    X: np.ndarray
    y_true: np.ndarray
    extractor: str
    reducer: str
    clusterer: str
    n_clusters: list[int]
    objective: str
    seed: int
    reference: np.ndarray | None = None  # (n, d) the dataset's shared reference embedding
    metric_sample_size: int | None = None
    images: np.ndarray | None = None
    source: str = ""
    search: tuple[str, ...] = STAGES  # the stages whose parameters sampled trials draw

    def embed(self, params: dict, cache: FeatureCache | None = None, epoch_callback=None):
        """The first two stages on the cell's images for `params` (keyword arguments by stage):
        (pipeline.Extraction, pipeline.Reduction), each from the cache when it holds them."""
        extraction = pipeline.extract(
            self.X,
            self.extractor,
            params["extractor"],
            seed=self.seed,
            digest=self.digest,
            preprocessing=self.preprocessing,
            cache=cache,
            epoch_callback=epoch_callback,
        )
        reduction = pipeline.reduce(
            extraction.features,
            self.reducer,
            params["reducer"],
            seed=self.seed,
            features_key=extraction.key,
            cache=cache,
        )
        return extraction, reduction

    @property
    def objectives(self) -> list[str]:
        """The metrics the study optimises: one, or several for a multi-objective study."""
        return self.objective.split(",")

    @property
    def label(self) -> str:
        """How logs and run names show the cell: "raw x umap x gmm"."""
        return f"{self.extractor} x {self.reducer} x {self.clusterer}"

    @property
    def study_name(self) -> str:
        """Stable across runs of the same command; differs when anything measured differs."""
        setup = [self.digest, self.preprocessing, self.n_clusters, self.objective, self.seed]
        if not self.searches_every_stage:  # a full search keeps the name it had before --search
            setup.append(list(self.search))
        setup = json.dumps(setup, sort_keys=True)
        key = hashlib.sha256(setup.encode()).hexdigest()[:8]
        return f"{self.dataset_name}.{self.extractor}.{self.reducer}.{self.clusterer}.{key}"

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
    """How a cell's study stands after a run: trial counts, best value (or None), seconds."""

    label: str
    complete: int
    failed: int
    best_value: float | None
    seconds: float


def build_cells(config: RunConfig, cache: FeatureCache | None = None) -> list[Cell]:
    """Load and preprocess the data once, and its reference embedding (through `cache`); one
    Cell per (extractor, reducer, clusterer), extractor-major then reducer-major, so the cache
    serves each embedding's later cells."""
    dataset = data.load(
        config.dataset,
        data_dir=config.data_dir,
        split=config.split,
        limit=config.limit,
        seed=config.seed,
    )
    X = data.preprocess(dataset.images, color=config.color)
    n_clusters = _n_clusters(config.n_clusters, dataset)
    logger.info(
        "dataset %s: %d images of %s, %d classes, digest %s",
        dataset.name,
        len(X),
        "x".join(map(str, X.shape[1:])),
        len(dataset.class_names),
        dataset.digest[:12],
    )
    preprocessing = {"split": config.split, "limit": config.limit, "color": config.color}
    reference = cached_reference_embedding(
        X,
        digest=dataset.digest,
        preprocessing=preprocessing,
        random_state=config.seed,
        cache=cache,
    )
    return [
        Cell(
            dataset_name=dataset.name,
            digest=dataset.digest,
            preprocessing=preprocessing,
            X=X,
            y_true=dataset.labels,
            extractor=extractor,
            reducer=reducer,
            clusterer=clusterer,
            n_clusters=list(n_clusters),
            objective=config.objective,
            seed=config.seed,
            reference=reference,
            metric_sample_size=config.metric_sample_size,
            images=dataset.images,
            source=dataset.source,
            search=tuple(config.search),
        )
        for extractor in config.extractors
        for reducer in config.reducers
        for clusterer in config.clusterers
    ]


def _n_clusters(asked: list[int] | None, dataset) -> list[int]:
    """The k values to try: those asked for, else the number of classes; BenchError when
    that leaves nothing to cluster or a k above the number of images."""
    n_images = len(dataset.labels)
    n_classes = len(np.unique(dataset.labels))
    if asked is None and n_classes < 2:
        raise BenchError(
            f"{dataset.name}: its labels hold a single class, so there is nothing to cluster by "
            "default; pass --n-clusters K (2 or more)"
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


def open_study(cell: Cell, storage, trials: int) -> optuna.Study:
    """Create or load the cell's study with the `sampler` for `trials`; a new study gets the
    known configurations queued."""
    directions = [
        "maximize" if METRICS.get(name).higher_is_better else "minimize" for name in cell.objectives
    ]
    study = optuna.create_study(
        study_name=cell.study_name,
        storage=storage,
        directions=directions,
        sampler=sampler(trials, cell.seed),
        load_if_exists=True,
    )
    if not study.trials:
        with warnings.catch_warnings():  # experimental since Optuna 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(cell.objectives)
        study.set_user_attr("objective", cell.objective)
        for params in cell.known_params():
            study.enqueue_trial(params, skip_if_exists=True)
    return study


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
