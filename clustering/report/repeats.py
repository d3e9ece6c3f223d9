"""Repeats in the report (`run --repeats N`): each cell's best configuration re-run with N seeds,
its metrics' mean and standard deviation as copied onto the cell run. The repeats table
(repeats.csv, .md), and the spread added to the other tables: `_mean`/`_std` columns in their
CSV, `mean ± std` in their Markdown and on the page, and the `unstable` flag where the repeats'
Hungarian accuracy spreads more than UNSTABLE_STD. A table of runs without repeats is left as it
is."""

import pandas as pd

from clustering.report.columns import METRIC_COLUMNS, cell_parts

UNSTABLE_SCORE = "hungarian_accuracy"
UNSTABLE_STD = 0.05  # a cell whose repeats' UNSTABLE_SCORE std exceeds this is flagged unstable
SPREAD_COLUMNS = [f"{name}_{suffix}" for name in METRIC_COLUMNS for suffix in ("mean", "std")]


def has_repeats(table: pd.DataFrame) -> bool:
    """Whether a cell of `table` (the comparison table) has repeats."""
    return "repeats" in table and bool((table["repeats"].fillna(0) > 0).any())


def repeats_table(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the comparison table `table` whose cell has repeats: the cell's parts,
    repeats, and `<metric>_mean`, `<metric>_std` for each metric column (empty when none)."""
    columns = repeats_columns(cell_parts(table))
    if "repeats" not in table:
        return pd.DataFrame(columns=columns)
    rows = table[table["repeats"].fillna(0) > 0]
    return rows[columns].astype({"repeats": int}).reset_index(drop=True)


def repeats_columns(parts: list[str]) -> list[str]:
    """repeats.csv's columns."""
    return [*parts, "repeats", *SPREAD_COLUMNS]


def with_spread(frame: pd.DataFrame, table: pd.DataFrame, same_trial=None) -> pd.DataFrame:
    """`frame` (a table with a row per cell) with each cell's repeats, SPREAD_COLUMNS and
    `unstable` from `table` (the comparison table), matched by the cell's parts; rows where
    `same_trial` (a boolean Series on `frame`'s index) is False get none (their trial is not
    the one repeated). `frame` itself when no cell has repeats."""
    if not has_repeats(table):
        return frame
    parts = cell_parts(table)
    spread = table[[*parts, "repeats", *SPREAD_COLUMNS]]
    kept = frame.drop(columns=["repeats", *SPREAD_COLUMNS], errors="ignore")
    joined = kept.merge(spread, on=parts, how="left").set_axis(frame.index)
    if same_trial is not None:
        joined.loc[~same_trial.fillna(False).astype(bool), ["repeats", *SPREAD_COLUMNS]] = None
    joined["repeats"] = pd.to_numeric(joined["repeats"]).astype("Int64")
    joined.loc[joined["repeats"].fillna(0) == 0, "repeats"] = pd.NA
    joined["unstable"] = joined[f"{UNSTABLE_SCORE}_std"] > UNSTABLE_STD
    return joined


def csv_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """A table's CSV columns: `columns`, then repeats, SPREAD_COLUMNS and unstable when
    `frame` has them (with_spread)."""
    return [*columns, "repeats", *SPREAD_COLUMNS, "unstable"] if "unstable" in frame else columns


def shown_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """A table's columns as Markdown and the page show them: `columns`, then repeats and
    unstable when `frame` has them."""
    return [*columns, "repeats", "unstable"] if "unstable" in frame else columns


def shown(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(values, stds) as a table shows them: where a row has repeats, each metric column holds
    their mean and `stds` their standard deviation (NaN elsewhere), `unstable` reads "yes" or
    empty; (`frame`, None) without repeats."""
    if "unstable" not in frame:
        return frame, None
    values = frame.copy()
    stds = pd.DataFrame(index=frame.index, columns=METRIC_COLUMNS, dtype=float)
    repeated = frame["repeats"].notna()
    for name in METRIC_COLUMNS:
        values.loc[repeated, name] = frame.loc[repeated, f"{name}_mean"]
        stds.loc[repeated, name] = frame.loc[repeated, f"{name}_std"]
    values["unstable"] = ["yes" if flag is True else "" for flag in frame["unstable"]]
    return values, stds


def cell_spread(table: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """Each repeated cell's `metric` mean and std over its repeats, indexed by the cell's label
    ("raw x umap x gmm"), for the bar charts' error bars; None without repeats."""
    if not has_repeats(table):
        return None
    parts = cell_parts(table)
    rows = table[table["repeats"].fillna(0) > 0]
    labels = [" x ".join(str(row[part]) for part in parts) for _, row in rows.iterrows()]
    return pd.DataFrame(
        {"mean": rows[f"{metric}_mean"].to_numpy(), "std": rows[f"{metric}_std"].to_numpy()},
        index=labels,
    )


def repeats_markdown(repeats: pd.DataFrame) -> str:
    """The repeats table as GitHub Markdown, each metric one `mean ± std` column (4 decimals,
    seconds 1)."""
    parts = [column for column in repeats.columns if not column.endswith(("_mean", "_std"))]
    header = [*parts, *METRIC_COLUMNS]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if column in parts else "---:" for column in header) + "|",
    ]
    for _, row in repeats.iterrows():
        spread = [_spread(name, row[f"{name}_mean"], row[f"{name}_std"]) for name in METRIC_COLUMNS]
        lines.append("| " + " | ".join([*(str(row[part]) for part in parts), *spread]) + " |")
    return "\n".join(lines) + "\n"


def _spread(name: str, mean: float, std: float) -> str:
    if pd.isna(mean):
        return ""
    decimals = 1 if name.endswith("seconds") else 4
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"
