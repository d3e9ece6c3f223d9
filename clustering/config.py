"""The run configuration: one validated dataclass, built from CLI flags or a YAML suite file.

Every run option is declared once, here, as a `RunConfig` field made by `option(...)`: its type
(the annotation), default, help text and range. The CLI's flags and the MLproject's parameters
are derived from these fields (`OPTIONS`, `mlproject_main`)."""

import os
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

from clustering.checks import SEED_MAX, check_int
from clustering.errors import BenchError, first_line
from clustering.registry import choose_from

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# the label-free criterion that ranks clusterings of real images best (README: selection)
DEFAULT_OBJECTIVE = "faithful_or_stable_asc"
STAGES = ("extractor", "reducer", "clusterer")  # the pipeline's tunable stages, in order
RUN_COMMANDS = ("run", "worker")
_TYPE_NAMES = {  # type -> (one value, several values), as a message names them
    str: ("a string", "strings"),
    int: ("a whole number", "whole numbers"),
    bool: ("true or false", "true or false values"),
    type(None): ("null (empty)", "nulls"),
}


@dataclass(frozen=True)
class Option:
    """How a RunConfig field meets the user. help: one line, or a callable giving it (for
    lists read from a registry); low/high: the range of a whole number (of each item of a
    list); flag: the CLI flag if not `--` + the name with dashes (a bool flag turns its default
    around: `--color` sets True, `--no-cache` sets False); aliases: more flags; default_text:
    what the help calls the default where the value is not it (None: the value, "": nothing);
    commands: the subcommands that take it; mlproject: an MLproject parameter of `main`."""

    help: str | Callable[[], str]
    low: int | None = None
    high: int | None = None
    flag: str | None = None
    aliases: tuple[str, ...] = ()
    default_text: str | None = None
    commands: tuple[str, ...] = RUN_COMMANDS
    mlproject: bool = False


def option(default, help: str | Callable[[], str], **how):
    """A RunConfig field with its Option (`how` as in Option); a list default is copied."""
    metadata = {"option": Option(help, **how)}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _dataset_help() -> str:
    from clustering.data import DATASETS

    return f"one of {', '.join(DATASETS.choices())}, or several separated by commas"


def _split_help() -> str:
    from clustering.data import SPLITS

    return f"the dataset's part, one of {', '.join(SPLITS)} (all is train then test)"


def _objective_help() -> str:
    from clustering.metrics import METRICS

    return (
        f"one of {', '.join(METRICS.objectives())}, or several label-free ones separated by commas"
    )


@dataclass
class RunConfig:
    """Everything one `clustering-bench run` needs; `validate()` checks it once."""

    dataset: str = option("digits", _dataset_help, mlproject=True)
    data_dir: str | None = option(
        None,
        "folder holding the dataset's files, or each dataset's in a subfolder named after it",
    )
    split: str = option("test", _split_help)
    limit: int | None = option(None, "class-stratified subset of N images", low=2)
    color: bool = option(False, "keep RGB channels", default_text="")
    fit_data_dir: str | None = option(
        None,
        "folder of other images of the same dataset to fit every extractor on (e.g. its "
        "training images); the clustered images are only transformed (default: fit on them)",
    )
    fit_split: str | None = option(
        None,
        "the dataset's part to fit every extractor on, read from --fit-data-dir or else "
        "--data-dir, e.g. train (default --split when --fit-data-dir is given)",
    )
    # the default grid: raw pixels against N2D's autoencoder, with and without UMAP, K-means
    # against a Gaussian mixture (3 minutes on digits); "all" crosses every registered entry
    extractors: list[str] = option(
        ["raw", "dense_ae"], "comma list or 'all'", aliases=("--extractor",), mlproject=True
    )
    reducers: list[str] = option(
        ["none", "umap"], "comma list or 'all'", aliases=("--reducer",), mlproject=True
    )
    clusterers: list[str] = option(
        ["kmeans", "gmm"], "comma list or 'all'", aliases=("--clusterer",), mlproject=True
    )
    trials: int = option(3, "complete trials per cell", low=1, mlproject=True)
    objective: str = option(DEFAULT_OBJECTIVE, _objective_help, mlproject=True)
    # the stages whose parameters the study samples; the others keep the best trial's so far
    search: list[str] = option(
        list(STAGES),
        "the stages whose parameters each study samples, a comma list of extractor, reducer, "
        "clusterer; the others keep their queued configurations and then the best trial's, so "
        "e.g. 'reducer,clusterer' fits each extractor once per configuration and sweeps the "
        "cheap stages over it",
        default_text="all",
        mlproject=True,
    )
    n_clusters: list[int] | None = option(
        None,
        "k, or a comma list to search over",
        low=2,
        default_text="the number of classes",
    )
    seed: int = option(0, "random seed", low=0, high=SEED_MAX, mlproject=True)
    repeats: int = option(
        0,
        "re-run each cell's best configuration with seeds seed, seed+1, ... (N runs nested "
        "under the cell run, summarised as <metric>_mean, _std, _min, _max)",
        low=0,
    )
    seeds: list[int] | None = option(
        None,
        "the repeats' seeds as a comma list, e.g. 0,1,2, instead of --repeats N",
        low=0,
        high=SEED_MAX,
        default_text="",
    )
    # the stages whose seed a repeat changes; the others keep the study's, so the cache serves them
    repeat_stages: list[str] = option(
        list(STAGES),
        "the stages whose seed each repeat changes, a comma list of extractor, reducer, "
        "clusterer; the others keep --seed, so e.g. 'reducer,clusterer' re-uses the best "
        "trial's cached features and re-runs only the cheap stages",
        default_text="all",
    )
    tracking_uri: str | None = option(
        None, "MLflow tracking URI", default_text=f"MLFLOW_TRACKING_URI or {DEFAULT_TRACKING_URI}"
    )
    storage: str | None = option(
        None,
        "Optuna storage: sqlite:///PATH, journal:PATH (processes on one machine) or "
        "postgresql+psycopg2://USER:PASSWORD@HOST/DB (several machines)",
        default_text="optuna.db beside the MLflow database",
    )
    cache_dir: str = option(".feature-cache", "feature cache folder")
    use_cache: bool = option(
        True, "do not read or write the cache", flag="--no-cache", default_text=""
    )
    metric_sample_size: int | None = option(
        None, "estimate ASC and Dunn on a random sample of this many images", low=3
    )
    workers: int = option(
        1, "worker processes on this machine sharing one storage", low=1, commands=("run",)
    )
    heartbeat_interval: int = option(60, "seconds between a running trial's heartbeats", low=1)
    grace_period: int = option(
        120,
        "seconds without a heartbeat before a trial counts as lost and is run again",
        low=1,
    )
    retries: int = option(5, "retries, 2 s doubling, while a store is unreachable", low=0)

    def validate(self) -> "RunConfig":
        """Check every field and expand `all`; returns self. Raises BenchError naming the fix."""
        from clustering.clusterers import CLUSTERERS
        from clustering.data import SPLITS
        from clustering.extractors import EXTRACTORS
        from clustering.metrics import METRICS
        from clustering.reducers import REDUCERS

        self.check_types()
        self.check_ranges()
        self.extractors = EXTRACTORS.parse(",".join(self.extractors))
        for name in self.extractors:  # an optional extra not installed: say which, now
            EXTRACTORS.get(name).check_available()
        self.reducers = REDUCERS.parse(",".join(self.reducers))
        self.clusterers = CLUSTERERS.parse(",".join(self.clusterers))
        self._validate_objectives(METRICS)
        self._validate_search()
        self._validate_repeats()
        self._validate_datasets()
        if self.split not in SPLITS:
            raise choose_from("split", self.split, list(SPLITS))
        if self.fit_split is not None and self.fit_split not in SPLITS:
            raise choose_from("fit_split", self.fit_split, list(SPLITS))
        if self.n_clusters == []:
            raise BenchError("--n-clusters needs at least one k, e.g. --n-clusters 10")
        self.tracking_uri = resolve_tracking_uri(self.tracking_uri)
        self.storage = self.storage or default_storage(self.tracking_uri)
        self._validate_scaling()
        self._validate_store_folders()
        return self

    def check_ranges(self) -> None:
        """Every whole number (and every item of a list of them) within its option's range;
        BenchError naming the flag, the range and the value otherwise."""
        for name, how in OPTIONS.items():
            if how.low is None and how.high is None:
                continue
            value = getattr(self, name)
            for item in value if isinstance(value, list) else [value]:
                if item is not None:
                    check_int(item, flag_of(name), how.low, how.high)

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

    def _validate_repeats(self) -> None:
        """--seeds and --repeats agree (--seeds sets the count), --repeat-stages names stages."""
        if self.seeds is not None:
            if not self.seeds or len(set(self.seeds)) != len(self.seeds):
                raise BenchError(
                    f"--seeds {','.join(map(str, self.seeds))}: give distinct seeds, e.g. "
                    "--seeds 0,1,2"
                )
            if self.repeats not in (0, len(self.seeds)):
                raise BenchError(
                    f"--repeats {self.repeats} and --seeds {','.join(map(str, self.seeds))} "
                    f"disagree; give one of them (--seeds makes {len(self.seeds)} repeats)"
                )
        names = [name.strip() for name in self.repeat_stages]
        if not names or any(name not in STAGES for name in names):
            raise BenchError(
                f"--repeat-stages {','.join(self.repeat_stages)}: choose one or more of "
                f"{', '.join(STAGES)} (comma list), e.g. --repeat-stages reducer,clusterer to "
                "keep the cached features"
            )
        self.repeat_stages = [stage for stage in STAGES if stage in names]

    def _validate_datasets(self) -> None:
        """--dataset a,b: distinct datasets, each name known before any of them runs."""
        from clustering.data import DATASETS

        names = self.datasets()
        if not names or len(set(names)) != len(names):
            raise BenchError(
                f"--dataset {self.dataset}: give one dataset or several distinct ones separated "
                "by commas, e.g. --dataset digits,mnist"
            )
        if len(names) > 1:
            for name in names:
                DATASETS.short_name(name)
        self.dataset = ",".join(names)

    def datasets(self) -> list[str]:
        """The datasets of `--dataset`, a comma list: ["digits", "mnist"] for "digits,mnist"."""
        return [name.strip() for name in self.dataset.split(",") if name.strip()]

    def per_dataset(self) -> list["RunConfig"]:
        """One config per dataset of `--dataset`, in order, the same options else; each one's
        data_dir is `data_dir/<dataset>` where that folder exists, else `data_dir`."""
        configs = []
        for name in self.datasets():
            data_dir = self.data_dir
            if data_dir is not None and (Path(data_dir).expanduser() / name).is_dir():
                data_dir = str(Path(data_dir) / name)
            configs.append(replace(self, dataset=name, data_dir=data_dir))
        return configs

    def repeat_seeds(self) -> list[int]:
        """The repeats' seeds: --seeds, else --repeats N's seed, seed + 1, ... ([] for none)."""
        if self.seeds is not None:
            return list(self.seeds)
        return [self.seed + offset for offset in range(self.repeats)]

    def _validate_store_folders(self) -> None:
        """The folder of a SQLite database or journal file exists, so a mistyped path stops
        before any data is read instead of after."""
        for flag, url in (("--tracking-uri", self.tracking_uri), ("--storage", self.storage)):
            path = store_file(url)
            if path is not None and not path.parent.is_dir():
                raise BenchError(
                    f"{flag} {url}: the folder {path.parent} does not exist; create it "
                    f"(mkdir -p {path.parent}) or pass another {flag}"
                )

    def _validate_scaling(self) -> None:
        if self.grace_period <= self.heartbeat_interval:
            raise BenchError(
                f"--grace-period ({self.grace_period} s) must be longer than "
                f"--heartbeat-interval ({self.heartbeat_interval} s); twice as long is usual"
            )
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
            raise BenchError(f"cannot read suite file {path}: {first_line(error)}") from None
        if not isinstance(data, dict):
            raise BenchError(f"suite file {path} must hold a mapping of run options")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BenchError(
                f"suite file {path}: unknown option(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(known))}"
            )
        if isinstance(data.get("dataset"), list):  # several datasets as a YAML list
            data["dataset"] = ",".join(map(str, data["dataset"]))
        for key, item in _list_items(cls).items():  # a YAML scalar where a list is expected
            if item is str and isinstance(data.get(key), str):
                data[key] = data[key].split(",")
            if item is int and type(data.get(key)) is int:
                data[key] = [data[key]]
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


def store_file(url: str) -> Path | None:
    """The file of a SQLite URL (`sqlite:///PATH`) or an Optuna journal (`journal:PATH`,
    `*.log`); None for a server or an in-memory database."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        return None if path in ("", ":memory:") else Path(path)
    if url.startswith("journal:") or url.endswith(".log"):
        return Path(url.removeprefix("journal:"))
    return None


def default_storage(tracking_uri: str) -> str:
    """The Optuna storage beside the MLflow SQLite database, else `optuna.db` here."""
    if tracking_uri.startswith("sqlite:///"):
        database = Path(tracking_uri[len("sqlite:///") :])
        return f"sqlite:///{database.with_name('optuna.db')}"
    return f"sqlite:///{Path('optuna.db').resolve()}"


def _list_items(cls) -> dict[str, type]:
    """The fields annotated list[X] (or list[X] | None) -> X."""
    items = {}
    for name, hint in typing.get_type_hints(cls).items():
        union = typing.get_origin(hint) in (types.UnionType, typing.Union)
        for option in typing.get_args(hint) if union else (hint,):
            if typing.get_origin(option) is list:
                items[name] = typing.get_args(option)[0]
    return items


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


OPTIONS: dict[str, Option] = {f.name: f.metadata["option"] for f in fields(RunConfig)}
"""Every run option by field name, in declaration order: what the CLI and MLproject derive."""


def flag_of(name: str) -> str:
    """The CLI flag of option `name`: `--n-clusters` for n_clusters, `--no-cache` for use_cache."""
    return OPTIONS[name].flag or "--" + name.replace("_", "-")


def help_of(name: str) -> str:
    """The option's help line with its default: "complete trials per cell (default 3)"."""
    how = OPTIONS[name]
    text = how.help() if callable(how.help) else how.help
    default = how.default_text
    if default is None:
        default = _as_text(_default_of(name))
    return f"{text} (default {default})" if default else text


def mlproject_main() -> dict:
    """The MLproject's `main` entry point as the options declare it: one string parameter per
    option marked `mlproject` (its default as the CLI reads it), `workdir`, and the command."""
    names = [name for name, how in OPTIONS.items() if how.mlproject]
    parameters = {
        name: {"type": "string", "default": _as_text(_default_of(name))} for name in names
    }
    parameters["workdir"] = {"type": "path", "default": "."}
    flags = " ".join(f"{flag_of(name)} {{{name}}}" for name in names)
    return {"parameters": parameters, "command": f"cd {{workdir}} && clustering-bench run {flags}"}


def _default_of(name: str):
    (option_field,) = [f for f in fields(RunConfig) if f.name == name]
    if callable(option_field.default_factory):
        return option_field.default_factory()
    return option_field.default


def _as_text(value) -> str:
    """A default as it is typed on the command line: 3, raw,dense_ae; None as ''."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)
