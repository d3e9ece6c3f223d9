"""The report's tables, read from MLflow with `mlflow.search_runs` as pandas DataFrames: the
comparison table (one row per cell, its best trial as copied onto the cell run) and the tidy
trials table (one row per trial run), plus the comparison table as GitHub Markdown. A store
that cannot be read raises BenchError naming it and the fix."""

import contextlib
import numbers
import re
from pathlib import Path

import pandas as pd

from clustering.errors import BenchError, redact
from clustering.report.columns import (
    CELL_PARTS,
    K_SWEEP_METRICS,
    METRIC_COLUMNS,
    OPTIONAL_PARTS,
    TRIAL_METRICS,
    cell_label,
    cell_parts,
    comparison_columns,
    primary_objective,
    trial_columns,
)
from clustering.tracking import (
    BEST_PREFIX,
    CELL_ROLE,
    DATASET_TAG,
    N_CLUSTERS_PARAM,
    OBJECTIVE_TAG,
    PARENT_TAG,
    PARETO_TAG,
    REPEAT_SUFFIXES,
    ROLE_TAG,
    STATE_TAG,
    TRIAL_NUMBER_TAG,
    TRIAL_ROLE,
    search_runs_frame,
    tag_column,
)

__all__ = [
    "K_SWEEP_METRICS",
    "METRIC_COLUMNS",
    "TRIAL_METRICS",
    "comparison_table",
    "reading",
    "to_markdown",
    "trials_table",
]

TEXT_COLUMNS = {*CELL_PARTS, "cell", "objective", "criterion", "selected_cell"}  # left-aligned


@contextlib.contextmanager
def reading(tracking_uri: str):
    """Any failure to read the store `tracking_uri` inside becomes one BenchError naming it. A
    SQLite file that does not exist is an error, not created."""
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri[len("sqlite:///") :].split("?")[0])
        if not path.is_file():
            raise BenchError(
                f"no MLflow store at {path}: run `clustering-bench run` there first, or pass "
                "--tracking-uri the store it wrote"
            )
    try:
        yield
    except BenchError:
        raise
    except Exception as error:  # connection, schema, a file that is no database: all unreadable
        raise BenchError(_unreadable(tracking_uri, error)) from None


def _unreadable(tracking_uri: str, error: Exception) -> str:
    if tracking_uri.startswith(("http://", "https://")):
        fix = "start the tracking server (mlflow server) or pass another --tracking-uri"
    else:
        fix = "pass --tracking-uri the MLflow database `clustering-bench run` wrote"
    return f"cannot read the MLflow tracking store {redact(tracking_uri)} ({reason(error)}); {fix}"


def reason(error: Exception) -> str:
    """The gist of a store error: the OS error of a failed connection ("[Errno 111] Connection
    refused"; "Not a directory: /path" for a file's), else its text without SQLAlchemy's
    statement and links, at most 200 characters."""
    if isinstance(error, OSError) and error.filename:
        return f"{error.strerror or type(error).__name__}: {error.filename}"
    text = " ".join(str(error).split()) or type(error).__name__
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if errno:
        return errno.group(0).strip()
    text = re.split(r" \[SQL: | \(Background on this error", text)[0]
    return text if len(text) <= 200 else text[:197] + "..."


def _tag(runs: pd.DataFrame, name: str) -> pd.Series:
    """The tag `name` of each run (None where missing)."""
    column = tag_column(name)
    return runs[column] if column in runs else pd.Series(None, index=runs.index, dtype=object)


def _metric(runs: pd.DataFrame, name: str) -> pd.Series:
    """The metric `name` of each run (NaN where missing)."""
    column = f"metrics.{name}"
    return runs[column] if column in runs else pd.Series(float("nan"), index=runs.index)


def comparison_table(tracking_uri: str, dataset: str) -> pd.DataFrame:
    """One row per cell (its parts read from the cell run's tags), from its newest cell run:
    the comparison columns, then dataset, run_id, experiment_id, best_params, best_trial and
    pareto_trials (None unless multi-objective). BenchError when the store has no cell run of
    `dataset`."""
    escaped = run_dataset_name(dataset).replace("'", "\\'")
    with reading(tracking_uri):
        query = f"tags.`{ROLE_TAG}` = '{CELL_ROLE}' and tags.{DATASET_TAG} = '{escaped}'"
        runs = search_runs_frame(tracking_uri, query)
    if runs.empty:
        raise BenchError(
            f"no cell runs for dataset {dataset!r} in the tracking store {redact(tracking_uri)}; "
            f"run `clustering-bench run --dataset {dataset}` first or pass --tracking-uri"
        )
    table = pd.DataFrame(index=runs.index)
    for part in CELL_PARTS:
        values = _tag(runs, part)
        if part in OPTIONAL_PARTS and values.notna().any():
            table[part] = values.fillna(OPTIONAL_PARTS[part])
        elif part not in OPTIONAL_PARTS:
            table[part] = values
    table["trials"] = _metric(runs, "trials_complete").fillna(0).astype(int)
    for name in METRIC_COLUMNS:
        table[name] = _metric(runs, name)
    table["objective"] = _tag(runs, OBJECTIVE_TAG)
    table["dataset"] = _tag(runs, DATASET_TAG)
    table["run_id"] = runs["run_id"]
    table["experiment_id"] = runs["experiment_id"]
    table["best_params"] = [_best_params(run) for _, run in runs.iterrows()]
    table["best_trial"] = _metric(runs, "best_trial_number")
    table["pareto_trials"] = _tag(runs, PARETO_TAG)  # "0,3,5" on a multi-objective cell run
    if "metrics.repeats" in runs:  # the spread over the repeats' seeds (run --repeats)
        table["repeats"] = _metric(runs, "repeats")
        for name in METRIC_COLUMNS:
            for suffix in REPEAT_SUFFIXES:
                table[f"{name}_{suffix}"] = _metric(runs, f"{name}_{suffix}")
    parts = cell_parts(table)
    table = table.drop_duplicates(subset=parts, keep="first")  # newest first: the latest run
    return table.sort_values(parts, ignore_index=True)


def dataset_names(tracking_uri: str) -> list[str]:
    """Every dataset the store has cell runs of (their `dataset` tag), sorted."""
    with reading(tracking_uri):
        runs = search_runs_frame(tracking_uri, f"tags.`{ROLE_TAG}` = '{CELL_ROLE}'")
    return sorted(set(_tag(runs, DATASET_TAG).dropna()))


def run_dataset_name(dataset: str) -> str:
    """The name runs of a --dataset value are tagged with: `flat` for `npz:/data/flat.npz`
    (the datasets registry's short name); a value it does not know is taken as that name."""
    from clustering.data import DATASETS

    try:
        return DATASETS.short_name(dataset)
    except BenchError:
        return dataset


def _best_params(run: pd.Series) -> dict:
    """The best trial's parameters, copied onto the cell run as `best.<name>` tags."""
    prefix = tag_column(BEST_PREFIX)
    return {
        key[len(prefix) :]: value
        for key, value in run.items()
        if key.startswith(prefix) and _present(value)
    }


def to_markdown(
    table: pd.DataFrame, columns: list[str] | None = None, stds: pd.DataFrame | None = None
) -> str:
    """`table`'s `columns` (default the comparison columns) as GitHub Markdown
    (`DataFrame.to_markdown`): text left-aligned, whole numbers as they are, other numbers with
    4 decimals (seconds with 1), `value ± std` where `stds` (a frame on `table`'s index) has a
    column's std, missing values empty, one space around each cell."""
    columns = comparison_columns(cell_parts(table)) if columns is None else list(columns)
    shown = pd.DataFrame(
        {
            column: [
                _markdown_value(column, value, _std(stds, column, index))
                for index, value in table[column].items()
            ]
            for column in columns
        }
    )
    left = [_is_text(column, table[column]) for column in columns]
    markdown = shown.to_markdown(
        index=False,
        tablefmt="pipe",
        disable_numparse=True,
        colalign=["left" if is_left else "right" for is_left in left],
    )
    return _compact(markdown, left)


def _is_text(column: str, values: pd.Series) -> bool:
    """A column of text (a cell's parts, an objective, a criterion), known by name or by its
    values: some present and not all numbers."""
    if column in TEXT_COLUMNS:
        return True
    present = values.dropna()
    return len(present) > 0 and not all(isinstance(v, numbers.Number) for v in present)


def _std(stds: pd.DataFrame | None, column: str, index):
    """The std of `column` at row `index` of `stds`, None where it has none."""
    if stds is None or column not in stds:
        return None
    value = stds.at[index, column]
    return None if pd.isna(value) else value


def _markdown_value(column: str, value, std=None) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, str | numbers.Integral):
        return str(value)
    decimals = 1 if column.endswith("seconds") else 4
    text = f"{value:.{decimals}f}"
    return text if std is None else f"{text} ± {std:.{decimals}f}"


def _compact(markdown: str, left: list[bool]) -> str:
    """tabulate pads every cell to its column's width; drop the padding so rows stay short and
    diff cleanly (`| raw | kmeans |`), with `---` (left) and `---:` (right) rules."""
    lines = markdown.splitlines()
    rows = [[cell.strip() for cell in line.strip()[1:-1].split("|")] for line in lines]
    rule = "|" + "|".join("---" if is_left else "---:" for is_left in left) + "|"
    body = ["| " + " | ".join(cells) + " |" for cells in [rows[0], *rows[2:]]]
    return "\n".join([body[0], rule, *body[1:]]) + "\n"


def trials_table(tracking_uri: str, cells: pd.DataFrame) -> pd.DataFrame:
    """The tidy trials table: one row per trial (child) run of each cell run in `cells` (the
    comparison table); `value` is the trial's objective metric (the first of a multi-objective
    study's, which picks its best trial) and `state` Optuna's (COMPLETE, PRUNED, FAIL) or the
    run's status while it has none."""
    parts = cell_parts(cells)
    experiment_ids = sorted(set(cells["experiment_id"]))
    with reading(tracking_uri):
        runs = search_runs_frame(
            tracking_uri, f"tags.`{ROLE_TAG}` = '{TRIAL_ROLE}'", experiment_ids
        )
    if not runs.empty:
        runs = runs[_tag(runs, PARENT_TAG).isin(set(cells["run_id"]))]
    by_id = {cell.run_id: cell for cell in cells.itertuples(index=False)}
    rows = [
        _trial_row(run, by_id[run[tag_column(PARENT_TAG)]], parts) for _, run in runs.iterrows()
    ]
    table = pd.DataFrame(rows, columns=trial_columns(parts))
    return table.sort_values([*parts, "trial_number"], ignore_index=True)


def _trial_row(run: pd.Series, cell, parts: list[str]) -> dict:
    """One trials-table row from a trial run (a row of mlflow.search_runs) and its cell."""

    def metric(name):
        value = run.get(f"metrics.{name}")
        return value if _present(value) else None

    number = run.get(tag_column(TRIAL_NUMBER_TAG))
    n_clusters = run.get(f"params.{N_CLUSTERS_PARAM}")
    return {
        "dataset": cell.dataset,
        **{part: getattr(cell, part) for part in parts},
        "cell": cell_label(getattr(cell, part) for part in parts),
        "objective": cell.objective,
        "trial_number": int(number) if _present(number) else -1,
        "state": run.get(tag_column(STATE_TAG)) or run["status"],
        "value": metric(primary_objective(cell.objective)),
        "n_clusters": int(n_clusters) if _present(n_clusters) else None,
        **{name: metric(name) for name in TRIAL_METRICS},
        "run_id": run["run_id"],
        "cell_run_id": cell.run_id,
    }


def _present(value) -> bool:
    """Not missing: neither None, NaN nor an empty string."""
    return value is not None and value == value and value != ""
