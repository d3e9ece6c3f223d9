"""MLflow runs -> comparison tables: one row per cell (its best trial), as CSV and Markdown."""

import logging
from pathlib import Path

import pandas as pd
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from clustering.errors import BenchError
from clustering.tracking import ROLE_TAG

logger = logging.getLogger(__name__)

METRIC_COLUMNS = [
    "asc",
    "dunn",
    "majority_accuracy",
    "hungarian_accuracy",
    "nmi",
    "ari",
    "fit_seconds",
]
COLUMNS = ["extractor", "clusterer", "trials", *METRIC_COLUMNS]


def cell_runs(client: MlflowClient, dataset: str) -> list:
    """The cell (parent) runs of a dataset across all experiments, newest first."""
    experiment_ids = [
        experiment.experiment_id
        for experiment in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
    ]
    if not experiment_ids:
        return []
    runs = []
    escaped = dataset.replace("'", "\\'")
    filter_string = f"tags.`{ROLE_TAG}` = 'cell' and tags.dataset = '{escaped}'"
    page_token = None
    while True:
        page = client.search_runs(
            experiment_ids,
            filter_string=filter_string,
            order_by=["attributes.start_time DESC"],
            max_results=1000,
            page_token=page_token,
        )
        runs.extend(page)
        page_token = page.token
        if not page_token:
            return runs


def comparison_table(client: MlflowClient, dataset: str) -> pd.DataFrame:
    """One row per (extractor, clusterer), from its newest cell run; columns = COLUMNS."""
    rows = {}
    for run in cell_runs(client, dataset):
        tags, metrics = run.data.tags, run.data.metrics
        key = (tags.get("extractor"), tags.get("clusterer"))
        if key in rows:
            continue
        rows[key] = {
            "extractor": key[0],
            "clusterer": key[1],
            "trials": int(metrics.get("trials_complete", 0)),
            **{name: metrics.get(name) for name in METRIC_COLUMNS},
            "objective": tags.get("objective"),
            "run_id": run.info.run_id,
        }
    if not rows:
        raise BenchError(
            f"no cell runs for dataset {dataset!r} in this tracking store; "
            f"run `clustering-bench run --dataset {dataset}` first or pass --tracking-uri"
        )
    table = pd.DataFrame(rows.values())
    return table.sort_values(["extractor", "clusterer"], ignore_index=True)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub Markdown table of COLUMNS; floats with 4 decimals (seconds with 1)."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" if c in ("extractor", "clusterer") else "---:" for c in COLUMNS) + "|",
    ]
    for _, row in table.iterrows():
        cells = []
        for column in COLUMNS:
            value = row[column]
            if column in ("extractor", "clusterer", "trials"):
                cells.append(str(value))
            elif value is None or pd.isna(value):
                cells.append("")
            else:
                cells.append(f"{value:.1f}" if column == "fit_seconds" else f"{value:.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(tracking_uri: str, dataset: str, out: str | Path = "results") -> dict:
    """Write `<out>/<dataset>/comparison.csv` and `comparison.md`; returns paths and Markdown."""
    client = MlflowClient(tracking_uri=tracking_uri)
    table = comparison_table(client, dataset)
    folder = Path(out) / _folder_name(dataset)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "comparison.csv"
    md_path = folder / "comparison.md"
    table[COLUMNS].to_csv(csv_path, index=False)
    markdown = to_markdown(table)
    md_path.write_text(markdown)
    logger.info("wrote %s and %s", csv_path, md_path)
    return {"csv": csv_path, "markdown_path": md_path, "markdown": markdown, "table": table}


def _folder_name(dataset: str) -> str:
    """`npz:/data/x.npz` -> `npz-x`; plain names unchanged."""
    if ":" in dataset:
        kind, _, path = dataset.partition(":")
        return f"{kind}-{Path(path).stem or 'data'}"
    return dataset
