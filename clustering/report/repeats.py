"""The repeats table (`run --repeats N`): one row per cell that has repeats, each metric's mean
and standard deviation over the repeats' seeds, as copied onto the cell run."""

import pandas as pd

from clustering.report.columns import METRIC_COLUMNS, cell_parts


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
    spread = [f"{name}_{suffix}" for name in METRIC_COLUMNS for suffix in ("mean", "std")]
    return [*parts, "repeats", *spread]


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
