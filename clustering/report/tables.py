"""MLflow runs -> results/<dataset>/: the comparison table (one row per cell, its best trial) as
CSV and Markdown, the tidy trials table (one row per trial run), the figures drawn from it as PNG
files, each cell's pictures (downloaded from its cell run) and report.html holding them all."""

import io
import logging
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from clustering.errors import BenchError
from clustering.report import figures as plots
from clustering.report import html as html_report
from clustering.tracking import BEST_PREFIX, ROLE_TAG, search_all_runs

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
TRIAL_METRICS = [
    *METRIC_COLUMNS[:-1],
    "homogeneity",
    "inertia",
    "n_clusters_found",
    "fit_seconds",
    "extract_seconds",
    "cluster_seconds",
    "metric_seconds",
]
TRIAL_COLUMNS = ["dataset", "extractor", "clusterer", "cell", "objective", "trial_number", "state",
                 "value", "n_clusters", *TRIAL_METRICS, "run_id", "cell_run_id"]
K_SWEEP_METRICS = ["majority_accuracy", "inertia", "homogeneity"]
PICTURES = "pictures"  # the artifact folder of a cell run holding its pictures
PICTURE_CAPTIONS = {
    "centres.png": "cluster centres as images",
    "cluster_samples.png": "random members of each cluster",
    "confusion.png": "cluster x label counts",
    "reconstructions.png": "originals (top) and reconstructions (bottom)",
    "generated.png": "images generated from z ~ N(0, I)",
}


def cell_runs(client: MlflowClient, dataset: str) -> list:
    """The cell (parent) runs of a dataset across all experiments, newest first."""
    experiment_ids = [
        experiment.experiment_id
        for experiment in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
    ]
    if not experiment_ids:
        return []
    escaped = dataset.replace("'", "\\'")
    filter_string = f"tags.`{ROLE_TAG}` = 'cell' and tags.dataset = '{escaped}'"
    return search_all_runs(
        client, experiment_ids, filter_string, order_by=["attributes.start_time DESC"]
    )


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
            "dataset": tags.get("dataset"),
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "best_params": {
                key[len(BEST_PREFIX):]: value
                for key, value in tags.items()
                if key.startswith(BEST_PREFIX)
            },
            "best_trial": metrics.get("best_trial_number"),
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


def trials_table(client: MlflowClient, cells: pd.DataFrame) -> pd.DataFrame:
    """The tidy trials table: one row per trial (child) run of each cell run in `cells` (the
    comparison table), columns TRIAL_COLUMNS; `value` is the trial's objective metric and
    `state` Optuna's (COMPLETE, PRUNED, FAIL) or the run's status while it has none."""
    rows = []
    for cell in cells.itertuples(index=False):
        query = f"tags.`mlflow.parentRunId` = '{cell.run_id}'"
        for run in search_all_runs(client, [cell.experiment_id], query):
            tags, metrics, params = run.data.tags, run.data.metrics, run.data.params
            if tags.get(ROLE_TAG) != "trial":
                continue
            n_clusters = params.get("n_clusters")
            rows.append({
                "dataset": cell.dataset,
                "extractor": cell.extractor,
                "clusterer": cell.clusterer,
                "cell": f"{cell.extractor} x {cell.clusterer}",
                "objective": cell.objective,
                "trial_number": int(tags.get("optuna.trial_number", -1)),
                "state": tags.get("optuna.state", run.info.status),
                "value": metrics.get(cell.objective),
                "n_clusters": int(n_clusters) if n_clusters else None,
                **{name: metrics.get(name) for name in TRIAL_METRICS},
                "run_id": run.info.run_id,
                "cell_run_id": cell.run_id,
            })
    table = pd.DataFrame(rows, columns=TRIAL_COLUMNS)
    return table.sort_values(["extractor", "clusterer", "trial_number"], ignore_index=True)


def write_report(tracking_uri: str, dataset: str, out: str | Path = "results") -> dict:
    """Write `<out>/<dataset>/`: comparison.csv and .md, trials.csv, the figures as PNG files,
    each cell's pictures under cells/<extractor>-<clusterer>/ and report.html embedding them.
    Returns the paths, the Markdown table, the tables and the seconds it took."""
    started = time.perf_counter()
    client = MlflowClient(tracking_uri=tracking_uri)
    table = comparison_table(client, dataset)
    trials = trials_table(client, table)
    folder = Path(out) / _folder_name(dataset)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_generated(folder)
    csv_path = folder / "comparison.csv"
    md_path = folder / "comparison.md"
    trials_path = folder / "trials.csv"
    table[COLUMNS].to_csv(csv_path, index=False)
    markdown = to_markdown(table)
    md_path.write_text(markdown)
    trials.to_csv(trials_path, index=False)
    sections = draw_figures(trials, folder)
    cells = cell_sections(client, table, folder, tracking_uri)
    html_path = folder / "report.html"
    html_path.write_text(render_page(dataset, table, trials, sections, cells, tracking_uri))
    figures = [folder / f.filename for _, _, group in sections for f in group]
    pictures = [folder / f.filename for cell in cells for f in cell.pictures]
    seconds = time.perf_counter() - started
    logger.info("wrote %s (%d figures, %d cell pictures) in %.1f s", folder, len(figures),
                len(pictures), seconds)
    return {"csv": csv_path, "markdown_path": md_path, "markdown": markdown, "table": table,
            "trials_csv": trials_path, "trials": trials, "html": html_path, "figures": figures,
            "pictures": pictures, "seconds": seconds}


def draw_figures(trials: pd.DataFrame, folder: Path) -> list[tuple]:
    """The report figures from the trials table only, saved as PNG files in `folder`; returns
    html_report sections (heading, note, [Figure])."""
    if plots.complete_trials(trials).empty:
        return []
    bars = [_save(plots.metric_bars(trials, metric), folder, f"bar_{metric}.png",
                  f"{metric} per cell") for metric in METRIC_COLUMNS]
    scatter = _save(plots.asc_vs_hungarian(trials), folder, "asc_vs_hungarian_accuracy.png",
                    "ASC against Hungarian accuracy, every trial")
    history = _save(plots.optimisation_history(trials), folder, "optimisation_history.png",
                    "objective value per trial and best so far, per cell")
    sections = [
        ("Metrics per cell", "Bars: the best trial of each cell (the table's row), the best "
         "cell outlined in red; dots: every complete trial.", bars),
        ("ASC against Hungarian accuracy", "Every complete trial: does the unsupervised score "
         "(silhouette) pick the clusterings that match the labels?", [scatter]),
        ("Optimisation history", "Each cell's objective per trial, and the best so far.",
         [history]),
    ]
    if plots.searched_cells(trials):
        sweeps = [_save(plots.k_sweep(trials, metric), folder, f"k_{metric}.png",
                        f"{metric} against k") for metric in K_SWEEP_METRICS]
        sections.append(("Metrics against k", "Cells whose search covered several k.", sweeps))
    return sections


def cell_sections(client: MlflowClient, table: pd.DataFrame, folder: Path,
                  tracking_uri: str) -> list[html_report.CellSection]:
    """Each cell run's pictures (artifacts under `pictures/`), copied to
    `folder/cells/<extractor>-<clusterer>/`, as html_report sections."""
    sections = []
    order = list(PICTURE_CAPTIONS)
    for row in table.itertuples(index=False):
        name = f"{row.extractor}-{row.clusterer}"
        link = None
        if tracking_uri.startswith(("http://", "https://")):
            link = f"{tracking_uri.rstrip('/')}/#/experiments/{row.experiment_id}/runs/{row.run_id}"
        best = "-" if pd.isna(row.best_trial) else str(int(row.best_trial))
        section = html_report.CellSection(f"{row.extractor} x {row.clusterer}", row.run_id,
                                          row.experiment_id, best, row.best_params, link=link)
        try:
            files = [f for f in client.list_artifacts(row.run_id, PICTURES)
                     if not f.is_dir and f.path.endswith(".png")]
            files.sort(key=lambda f: (order.index(Path(f.path).name)
                                      if Path(f.path).name in order else len(order), f.path))
            with tempfile.TemporaryDirectory() as scratch:
                for info in files:
                    local = Path(client.download_artifacts(row.run_id, info.path, scratch))
                    target = folder / "cells" / name / local.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(local, target)
                    caption = PICTURE_CAPTIONS.get(local.name, local.stem)
                    section.pictures.append(html_report.Figure(
                        str(target.relative_to(folder)), caption, target.read_bytes()))
        except Exception as error:  # a missing artifact store must not lose the tables
            logger.warning("pictures of cell run %s not read: %s", row.run_id, error)
        sections.append(section)
    return sections


def render_page(dataset, table, trials, sections, cells, tracking_uri) -> str:
    from clustering.study.storage import redact

    complete = len(plots.complete_trials(trials))
    objectives = ", ".join(sorted(set(table["objective"].dropna())))
    meta = [
        f"{len(table)} cells, {len(trials)} trial runs ({complete} complete); objective: "
        f"{objectives}; read from MLflow store {redact(tracking_uri)}",
        f"Generated {time.strftime('%Y-%m-%d %H:%M %Z')} by "
        f"`clustering-bench report --dataset {dataset}`; tables: comparison.csv, trials.csv.",
    ]
    table_html = html_report.comparison_html(
        table, COLUMNS, METRIC_COLUMNS, lower_is_better=plots.LOWER_IS_BETTER, link_cells=True
    )
    return html_report.render(title=f"clustering-bench: {dataset}", meta=meta,
                              table_html=table_html, sections=sections, cells=cells)


def _save(figure, folder: Path, filename: str, caption: str) -> html_report.Figure:
    """Save a figure as `folder/filename` (PNG) and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plots.close(figure)
    (folder / filename).write_bytes(buffer.getvalue())
    return html_report.Figure(filename, caption, buffer.getvalue())


def _remove_generated(folder: Path) -> None:
    """Remove the figures and pictures of an earlier report, so none outlives its data."""
    for path in folder.glob("*.png"):
        path.unlink()
    shutil.rmtree(folder / "cells", ignore_errors=True)


def _folder_name(dataset: str) -> str:
    """`npz:/data/x.npz` -> `npz-x`; plain names unchanged."""
    if ":" in dataset:
        kind, _, path = dataset.partition(":")
        return f"{kind}-{Path(path).stem or 'data'}"
    return dataset
