"""The report's column lists, derived from the metrics registry, and a cell's parts (the
extractor, the reducer when the runs have one, the clusterer) as read from its run's tags."""

from clustering import tracking
from clustering.config import STAGES
from clustering.metrics import METRICS

METRIC_COLUMNS = METRICS.columns()  # the comparison table's metrics, in registration order
TRIAL_METRICS = METRICS.names()  # every registered metric: trials.csv keeps them all
LOWER_IS_BETTER = tuple(METRICS.lower_is_better())
# The metrics drawn against k: those that move with k by construction (majority accuracy and
# homogeneity rise, inertia falls) whatever the data. The registry has no field for that, so
# they are named here, each checked against the registry (a renamed metric fails on import).
K_SWEEP_METRICS = [
    METRICS.get(name).name for name in ("majority_accuracy", "inertia", "homogeneity")
]

# The label-free scores a trial can be chosen by, judged against the labels' scores in selection.py:
# per trial (each may be the study's --objective), then after the fact, over every trial of a
# dataset (from the trials' kept labels, and the rank combination of the trials table).
SELECTION_CRITERIA = METRICS.names(objective=True, label_free=True)
RANK_COMBINATION = "mean_rank"  # each trial's mean percentile rank under RANK_MEMBERS
RANK_MEMBERS = tuple(
    METRICS.get(name).name for name in ("faithful_asc", "reference_asc", "stability", "consensus")
)
AFTER_THE_FACT_CRITERIA = [*METRICS.names(label_free=True, inputs="labelings"), RANK_COMBINATION]
ALL_SELECTION_CRITERIA = [*SELECTION_CRITERIA, *AFTER_THE_FACT_CRITERIA]
# The criterion the report trusts beside the default objective (config.DEFAULT_OBJECTIVE, the best
# per-trial one): the best worst case over every criterion, after-the-fact ones included, on the
# datasets of results/criteria/criteria.md (benchmarks/criteria_across_datasets.py, the rule in
# report/criteria.py); there it is the default objective itself, so one row per dataset shows.
SELECTION_DEFAULT = METRICS.get("faithful_or_stable_asc").name
# the criteria whose choices, far apart, make a dataset's choice uncertain
UNCERTAIN_MEMBERS = tuple(dict.fromkeys([SELECTION_DEFAULT, *RANK_MEMBERS, RANK_COMBINATION]))
UNCERTAIN_SPAN = 0.1  # the choice is uncertain where UNCERTAIN_MEMBERS' choices span more
# What a criterion's choice is judged by: a short name for the selection table's columns
# (spearman_hungarian, selected_nmi, ...) -> the label score, checked against the registry.
SELECTION_SCORES = {
    "hungarian": METRICS.get("hungarian_accuracy").name,
    "nmi": METRICS.get("nmi").name,
}
DATASET_ROLE = tracking.DATASET_ROLE  # the role of the one run per dataset that the report logs

CELL_PARTS = STAGES  # the cell run's tags, in pipeline order
OPTIONAL_PARTS = {"reducer": "none"}  # a part older runs lack, and the name that means "none"


def primary_objective(objective: str) -> str:
    """The objective a cell's best trial is chosen by: `asc` for a multi-objective study's
    "asc,dunn" (its first), the objective itself otherwise."""
    return str(objective).split(",")[0]


def cell_parts(table) -> list[str]:
    """The CELL_PARTS that are columns of `table` (the reducer only when the runs had one)."""
    return [part for part in CELL_PARTS if part in table.columns]


def cell_label(values) -> str:
    """("raw", "kmeans") -> "raw x kmeans"; ("dense_ae", "umap", "gmm") -> "dense_ae x umap x
    gmm"."""
    return " x ".join(str(value) for value in values)


def cell_folder(values) -> str:
    """("raw", "kmeans") -> "raw-kmeans": the cell's pictures folder beside the report."""
    return "-".join(str(value) for value in values)


def comparison_columns(parts: list[str]) -> list[str]:
    """comparison.csv's columns: the cell's parts, its objective (what chose its best trial), the
    complete trials, the metric columns."""
    return [*parts, "objective", "trials", *METRIC_COLUMNS]


def by_accuracy_columns(parts: list[str]) -> list[str]:
    """comparison_by_accuracy.csv's columns: the cell, its objective and complete trials, the
    trial the labels choose (trial_number) beside the one its objective chose (objective_trial),
    that trial's k and metric columns."""
    return [
        *parts,
        "objective",
        "trials",
        "trial_number",
        "objective_trial",
        "n_clusters",
        *METRIC_COLUMNS,
    ]


def objectives(objective) -> list[str]:
    """ "asc,dunn" -> ["asc", "dunn"]: a multi-objective study's objectives in its order."""
    return [name.strip() for name in str(objective).split(",") if name.strip()]


def trial_columns(parts: list[str]) -> list[str]:
    """trials.csv's columns: one row per trial run."""
    return [
        "dataset",
        *parts,
        "cell",
        "objective",
        "trial_number",
        "state",
        "value",
        "n_clusters",
        *TRIAL_METRICS,
        "run_id",
        "cell_run_id",
    ]
