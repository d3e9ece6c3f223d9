"""The run configuration: one validated dataclass, built from CLI flags or a YAML suite file."""

import os
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from clustering.errors import BenchError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# the label-free criterion that ranks clusterings of real images best (README: selection)
DEFAULT_OBJECTIVE = "faithful_asc"
STAGES = ("extractor", "reducer", "clusterer")  # the pipeline's tunable stages, in order
_TYPE_NAMES = {  # type -> (one value, several values), as a message names them
    str: ("a string", "strings"),
    int: ("a whole number", "whole numbers"),
    bool: ("true or false", "true or false values"),
    type(None): ("null (empty)", "nulls"),
}


@dataclass
class RunConfig:
    """Everything one `clustering-bench run` needs; `validate()` checks it once."""

    dataset: str = "digits"
    data_dir: str | None = None
    split: str = "test"
    limit: int | None = None
    color: bool = False
    # the default grid: raw pixels against N2D's autoencoder, with and without UMAP, K-means
    # against a Gaussian mixture (3 minutes on digits); "all" crosses every registered entry
    extractors: list[str] = field(default_factory=lambda: ["raw", "dense_ae"])
    reducers: list[str] = field(default_factory=lambda: ["none", "umap"])
    clusterers: list[str] = field(default_factory=lambda: ["kmeans", "gmm"])
    trials: int = 3
    objective: str = DEFAULT_OBJECTIVE
    # the stages whose parameters the study samples; the others keep the best trial's so far
    search: list[str] = field(default_factory=lambda: list(STAGES))
    n_clusters: list[int] | None = None
    seed: int = 0
    tracking_uri: str | None = None
    storage: str | None = None
    cache_dir: str = ".feature-cache"
    use_cache: bool = True
    metric_sample_size: int | None = None
    workers: int = 1
    heartbeat_interval: int = 60
    grace_period: int = 120
    retries: int = 5

    def validate(self) -> "RunConfig":
        """Check every field and expand `all`; returns self. Raises BenchError naming the fix."""
        from clustering.clusterers import CLUSTERERS
        from clustering.data import SPLITS
        from clustering.extractors import EXTRACTORS
        from clustering.metrics import METRICS
        from clustering.reducers import REDUCERS

        self.check_types()
        self.extractors = EXTRACTORS.parse(",".join(self.extractors))
        for name in self.extractors:  # an optional extra not installed: say which, now
            EXTRACTORS.get(name).check_available()
        self.reducers = REDUCERS.parse(",".join(self.reducers))
        self.clusterers = CLUSTERERS.parse(",".join(self.clusterers))
        self._validate_objectives(METRICS)
        self._validate_search()
        if self.split not in SPLITS:
            raise BenchError(f"unknown split {self.split!r}; choose from: {', '.join(SPLITS)}")
        if self.trials < 1:
            raise BenchError(f"--trials must be at least 1, got {self.trials}")
        if self.limit is not None and self.limit < 2:
            raise BenchError(f"--limit must be at least 2 images, got {self.limit}")
        if self.n_clusters is not None:
            bad = [k for k in self.n_clusters if k < 2]
            if bad or not self.n_clusters:
                raise BenchError(
                    f"--n-clusters must be integers of at least 2, got {self.n_clusters}"
                )
        if self.metric_sample_size is not None and self.metric_sample_size < 3:
            raise BenchError(
                f"--metric-sample-size must be at least 3, got {self.metric_sample_size}"
            )
        self.tracking_uri = resolve_tracking_uri(self.tracking_uri)
        self.storage = self.storage or default_storage(self.tracking_uri)
        self._validate_scaling()
        return self

    def check_types(self, where: str = "") -> None:
        """Every field holds a value of its annotated type (a YAML file can hold anything);
        BenchError naming the option, its value and the type otherwise, prefixed by `where`."""
        hints = typing.get_type_hints(type(self))
        for option in fields(self):
            value, expected = getattr(self, option.name), hints[option.name]
            if not _is_a(value, expected):
                raise BenchError(
                    f"{where}option {option.name} must be {_type_name(expected)}, got "
                    f"{value!r} ({type(value).__name__})"
                )

    def _validate_objectives(self, metrics) -> None:
        """One objective, or several label-free criteria for a multi-objective study."""
        names = [name.strip() for name in self.objective.split(",")]
        for name in names:
            metrics.check_objective(name)
        needs_labels = [name for name in names if not metrics.get(name).label_free]
        if len(names) > 1 and needs_labels:
            raise BenchError(
                f"--objective {self.objective}: a multi-objective study takes label-free "
                f"criteria only, and {', '.join(needs_labels)} needs the labels; choose from: "
                f"{', '.join(metrics.names(objective=True, label_free=True))}"
            )
        self.objective = ",".join(names)

    def _validate_search(self) -> None:
        names = [name.strip() for name in self.search]
        unknown = [name for name in names if name not in STAGES]
        if unknown or not names:
            raise BenchError(
                f"--search {','.join(self.search)}: choose one or more of {', '.join(STAGES)} "
                "(comma list), e.g. --search reducer,clusterer to fit each extractor once"
            )
        self.search = [stage for stage in STAGES if stage in names]

    def _validate_scaling(self) -> None:
        if self.workers < 1:
            raise BenchError(f"--workers must be at least 1, got {self.workers}")
        if self.heartbeat_interval < 1:
            raise BenchError(
                f"--heartbeat-interval must be at least 1 second, got {self.heartbeat_interval}"
            )
        if self.grace_period <= self.heartbeat_interval:
            raise BenchError(
                f"--grace-period ({self.grace_period} s) must be longer than "
                f"--heartbeat-interval ({self.heartbeat_interval} s); twice as long is usual"
            )
        if self.retries < 0:
            raise BenchError(f"--retries must be 0 or more, got {self.retries}")
        if self.workers > 1 and self.storage.startswith("sqlite"):
            raise BenchError(
                f"--workers {self.workers} needs a storage that several processes share, not "
                f"SQLite: pass --storage journal:optuna.log (one machine) or "
                "postgresql+psycopg2://USER:PASSWORD@HOST/DB (several machines)"
            )

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> "RunConfig":
        """A suite file: a YAML mapping whose keys are this class's fields."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise BenchError(f"cannot read suite file {path}: {error}".splitlines()[0]) from None
        if not isinstance(data, dict):
            raise BenchError(f"suite file {path} must hold a mapping of run options")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BenchError(
                f"suite file {path}: unknown option(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(known))}"
            )
        for key in ("extractors", "reducers", "clusterers", "search"):
            if isinstance(data.get(key), str):
                data[key] = data[key].split(",")
        if type(data.get("n_clusters")) is int:
            data["n_clusters"] = [data["n_clusters"]]
        data.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**data)
        config.check_types(where=f"suite file {path}: ")
        return config


def resolve_tracking_uri(uri: str | None) -> str:
    """`--tracking-uri`, else MLFLOW_TRACKING_URI, else a SQLite file in the working folder."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///") :]).resolve())
    return uri


def default_storage(tracking_uri: str) -> str:
    """The Optuna storage beside the MLflow SQLite database, else `optuna.db` here."""
    if tracking_uri.startswith("sqlite:///"):
        database = Path(tracking_uri[len("sqlite:///") :])
        return f"sqlite:///{database.with_name('optuna.db')}"
    return f"sqlite:///{Path('optuna.db').resolve()}"


def _is_a(value, expected) -> bool:
    """isinstance for the annotations RunConfig uses: X | None, list[X], and int excluding bool."""
    if typing.get_origin(expected) in (types.UnionType, typing.Union):
        return any(_is_a(value, option) for option in typing.get_args(expected))
    if typing.get_origin(expected) is list:
        (item,) = typing.get_args(expected)
        return isinstance(value, list) and all(_is_a(v, item) for v in value)
    if expected is int and isinstance(value, bool):
        return False
    return isinstance(value, expected)


def _type_name(expected, plural: bool = False) -> str:
    """How a message names an annotation: "a whole number or null (empty)", "a list of strings"."""
    if typing.get_origin(expected) in (types.UnionType, typing.Union):
        return " or ".join(_type_name(option, plural) for option in typing.get_args(expected))
    if typing.get_origin(expected) is list:
        return f"a list of {_type_name(typing.get_args(expected)[0], plural=True)}"
    return _TYPE_NAMES[expected][plural]
