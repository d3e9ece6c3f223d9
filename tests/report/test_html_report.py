"""`report` on real small runs: tables, figures as PNG files, each cell's pictures logged on its
cell run and copied beside them, and report.html, one self-contained page opened in Chromium."""

import base64
import contextlib
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from clustering.cli import main
from clustering.config import DEFAULT_OBJECTIVE
from clustering.report.columns import (
    ALL_SELECTION_CRITERIA,
    DATASET_ROLE,
    K_SWEEP_METRICS,
    METRIC_COLUMNS,
)
from clustering.report.write import TABLE_FILES
from clustering.tracking import ROLE_TAG

pytestmark = pytest.mark.slow  # see pyproject.toml's markers

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"  # kept after the run (gitignored)
FIGURES = [
    *[f"bar_{metric}.png" for metric in METRIC_COLUMNS],
    "asc_vs_hungarian_accuracy.png",
    "optimisation_history.png",
]
K_FIGURES = [f"k_{metric}.png" for metric in K_SWEEP_METRICS]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_and_report(folder: Path, flags: list[str]) -> Path:
    """`run` with `flags` into fresh stores in `folder`, then `report` into folder/results."""
    stores = [
        "--tracking-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--storage",
        f"sqlite:///{folder / 'optuna.db'}",
        "--cache-dir",
        str(folder / "cache"),
    ]
    with contextlib.chdir(folder):  # the SQLite store's artifacts go to ./mlruns
        assert main(["--quiet", "run", "--limit", "240", *flags, *stores]) == 0
    assert (
        main(
            [
                "--quiet",
                "report",
                "--dataset",
                "digits",
                "--tracking-uri",
                f"sqlite:///{folder / 'mlflow.db'}",
                "--out",
                str(folder / "results"),
            ]
        )
        == 0
    )
    return folder / "results" / "digits"


@pytest.fixture(scope="module")
def k_report(tmp_path_factory) -> Path:
    """raw x none x kmeans and minibatch_kmeans, 2 trials each, k searched over 10 and 16
    (trial 0 takes 10; which k the sampler gives trial 1 is its business: the k figures are
    drawn exactly when a cell's trials cover both, and test_report_tables.py proves them
    on runs whose k is known)."""
    return run_and_report(
        tmp_path_factory.mktemp("k_report"),
        [
            "--extractors",
            "raw",
            "--reducers",
            "none",
            "--clusterers",
            "kmeans,minibatch_kmeans",
            "--trials",
            "2",
            "--n-clusters",
            "10,16",
        ],
    )


@pytest.fixture(scope="module")
def ae_report(tmp_path_factory) -> Path:
    """dense_ae x none x kmeans and minibatch_kmeans, 1 trial each (the default
    configuration): the second cell's features and decoder come from the feature cache."""
    return run_and_report(
        tmp_path_factory.mktemp("ae_report"),
        [
            "--extractors",
            "dense_ae",
            "--reducers",
            "none",
            "--clusterers",
            "kmeans,minibatch_kmeans",
            "--trials",
            "1",
        ],
    )


class PageParser(HTMLParser):
    """The img sources, the comparison table's cells (text, classes) and every URL attribute."""

    def __init__(self):
        super().__init__()
        self.images, self.urls, self.rows, self.header = [], [], [], []
        self._in_table = self._in_cell = False
        self._cell_class = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href", "data", "poster", "srcset"):
            if attrs.get(name):
                self.urls.append((tag, name, attrs[name]))
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "table" and "comparison" in attrs.get("class", ""):
            self._in_table = True
        if self._in_table and tag == "tr":
            self.rows.append([])
        if self._in_table and tag in ("td", "th"):
            self._in_cell, self._cell_class = True, attrs.get("class", "")
            self.rows[-1].append(["", self._cell_class])

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_table and self._in_cell:
            self.rows[-1][-1][0] += data.strip()


def parse(page: Path) -> PageParser:
    parser = PageParser()
    parser.feed(page.read_text())
    return parser


def k_figures(report: Path) -> list[str]:
    """The k figures the report must hold: all of them when some cell's complete trials cover
    several k, else none."""
    trials = pd.read_csv(report / "trials.csv")
    done = trials[trials["state"] == "COMPLETE"]
    return K_FIGURES if (done.groupby("cell")["n_clusters"].nunique() > 1).any() else []


def cell_folder(tags: dict) -> str:
    """A cell's pictures folder beside the report, from its run's tags: raw-none-kmeans."""
    return "-".join(tags[part] for part in ("extractor", "reducer", "clusterer") if part in tags)


def test_report_writes_tables_every_figure_and_k_plots_when_k_was_searched(k_report):
    drawn = k_figures(k_report)
    for name in [*TABLE_FILES, "report.html", *FIGURES, *drawn]:
        assert (k_report / name).is_file(), name
    for name in [*FIGURES, *drawn]:
        assert (k_report / name).read_bytes().startswith(PNG_MAGIC), name
    assert sorted(path.name for path in k_report.glob("k_*.png")) == sorted(drawn)
    trials = pd.read_csv(k_report / "trials.csv")
    assert len(trials) == 4
    assert set(trials["state"]) == {"COMPLETE"}
    assert sorted(trials["trial_number"]) == [0, 0, 1, 1]
    assert set(trials["n_clusters"]) <= {10, 16}
    assert set(trials.loc[trials["trial_number"] == 0, "n_clusters"]) == {10}
    assert sorted(set(trials["cell"])) == ["raw x none x kmeans", "raw x none x minibatch_kmeans"]
    for column in [
        "extractor",
        "clusterer",
        "value",
        "asc",
        "hungarian_accuracy",
        "inertia",
        "homogeneity",
        "majority_accuracy",
        "run_id",
        "cell_run_id",
    ]:
        assert trials[column].notna().all(), column
    assert (trials["value"] == trials[DEFAULT_OBJECTIVE]).all()


def test_each_cell_run_carries_its_best_trials_pictures_copied_beside_the_report(k_report):
    client = MlflowClient(f"sqlite:///{k_report.parent.parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digits")
    cells = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = 'cell'"
    )
    assert len(cells) == 2
    for cell in cells:
        names = sorted(
            Path(f.path).name for f in client.list_artifacts(cell.info.run_id, "pictures")
        )
        assert names == ["centres.png", "cluster_samples.png", "confusion.png"]
        best = int(cell.data.metrics["best_trial_number"])
        assert cell.data.tags["pictures.trial_number"] == str(best)
        folder = k_report / "cells" / cell_folder(cell.data.tags)
        assert sorted(path.name for path in folder.iterdir()) == names


def test_every_trial_logs_every_criterion_and_the_report_logs_one_dataset_run(k_report):
    selection = pd.read_csv(k_report / "selection.csv")
    assert list(selection["criterion"]) == ALL_SELECTION_CRITERIA
    assert set(selection["trials"]) == {4}  # the consensus too: every trial kept its labels
    assert selection[["spearman_hungarian", "selected_hungarian"]].notna().all().all()
    oracle = pd.read_csv(k_report / "comparison_by_accuracy.csv")["hungarian_accuracy"].max()
    assert (selection["selected_hungarian"] <= oracle).all()
    assert (selection["oracle_hungarian"] == oracle).all()
    client = MlflowClient(f"sqlite:///{k_report.parent.parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digits")
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = '{DATASET_ROLE}'"
    )
    assert len(runs) == 1
    assert runs[0].data.metrics["oracle_hungarian"] == pytest.approx(oracle)


def test_report_html_is_self_contained_and_embeds_every_png_beside_it(k_report):
    page = (k_report / "report.html").read_text()
    parsed = parse(k_report / "report.html")
    fetched = [
        (tag, name, url)
        for tag, name, url in parsed.urls
        if not (url.startswith("data:image/png;base64,") or url.startswith("#"))
    ]
    assert fetched == []
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", page, re.IGNORECASE)
    assert not re.search(r"url\(|@import|<link|<iframe", page, re.IGNORECASE)
    pngs = sorted(k_report.glob("*.png")) + sorted(k_report.glob("cells/*/*.png"))
    assert len(parsed.images) == len(pngs) == len(FIGURES) + len(k_figures(k_report)) + 2 * 3
    embedded = {base64.b64decode(src.split(",", 1)[1]) for src in parsed.images}
    for png in pngs:
        assert png.read_bytes() in embedded, png.name


def test_report_table_marks_the_best_value_of_each_column(k_report):
    table = pd.read_csv(k_report / "comparison.csv")
    rows = parse(k_report / "report.html").rows
    header = [text for text, _ in rows[0]]
    body = rows[1:]
    assert len(body) == len(table) == 2
    for column in METRIC_COLUMNS:
        index = header.index(column)
        best = table[column].min() if column == "fit_seconds" else table[column].max()
        for row, (_, expected) in zip(body, table.iterrows(), strict=True):
            text, classes = row[index]
            digits = 1 if column == "fit_seconds" else 4
            assert text == f"{expected[column]:.{digits}f}"
            assert ("best" in classes.split()) == (expected[column] == best), column


def test_autoencoder_cells_get_decoded_centres_and_reconstructions_without_k_plots(ae_report):
    client = MlflowClient(f"sqlite:///{ae_report.parent.parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digits")
    trials = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = 'trial'"
    )
    assert sorted(run.data.tags["feature_cache"] for run in trials) == ["hit", "miss"]
    for clusterer in ("kmeans", "minibatch_kmeans"):
        folder = ae_report / "cells" / f"dense_ae-none-{clusterer}"
        assert sorted(path.name for path in folder.iterdir()) == [
            "centres.png",
            "cluster_samples.png",
            "confusion.png",
            "reconstructions.png",
        ]
    for name in FIGURES:
        assert (ae_report / name).is_file()
    assert not any((ae_report / name).exists() for name in K_FIGURES)
    assert "Metrics against k" not in (ae_report / "report.html").read_text()


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.services
def test_report_opens_in_headless_chromium_with_every_image_loaded(k_report, tmp_path):
    browser = chromium()
    if browser is None:
        message = "chromium not found: install it (apt-get install -y chromium; .ci/run does)"
        print(f"SKIPPED: {message}")
        pytest.skip(message)
    page = (k_report / "report.html").resolve().as_uri()
    dumped = headless(browser, tmp_path / "profile-dom", "--dump-dom", page)
    body = re.search(r"<body[^>]*>", dumped.stdout)
    assert body, dumped.stderr[-2000:]
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(0)))
    expected_images = len(parse(k_report / "report.html").images)
    assert attributes.get("data-images") == str(expected_images), attributes
    assert attributes.get("data-broken-images") == "0", attributes
    assert attributes.get("data-table-rows") == "2", attributes
    assert attributes.get("data-report-ready") == "ok", attributes
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    shot = headless(
        browser,
        tmp_path / "profile-shot",
        "--window-size=1280,3000",
        f"--screenshot={screenshot}",
        page,
    )
    assert screenshot.is_file(), shot.stderr[-2000:]
    assert screenshot.read_bytes().startswith(PNG_MAGIC)
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_report_of_cells_without_a_complete_trial_has_the_table_and_no_figures(k_report, tmp_path):
    np.savez(tmp_path / "flat.npz", x=np.zeros((30, 4, 4), np.uint8), y=np.arange(30) % 2)
    dataset = f"npz:{tmp_path / 'flat.npz'}"
    store = f"sqlite:///{k_report.parent.parent / 'mlflow.db'}"  # its own experiment there
    with contextlib.chdir(tmp_path):
        assert (
            main(
                [
                    "--quiet",
                    "run",
                    "--dataset",
                    dataset,
                    "--extractors",
                    "raw",
                    "--reducers",
                    "none",
                    "--clusterers",
                    "kmeans",
                    "--trials",
                    "1",
                    "--tracking-uri",
                    store,
                    "--storage",
                    f"sqlite:///{tmp_path / 'optuna.db'}",
                ]
            )
            == 0
        )
    assert (
        main(
            [
                "--quiet",
                "report",
                "--dataset",
                dataset,
                "--tracking-uri",
                store,
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    folder = tmp_path / "out" / "npz-flat"
    trials = pd.read_csv(folder / "trials.csv")
    assert list(trials["state"]) == ["FAIL"]
    assert list(folder.glob("*.png")) == []
    parsed = parse(folder / "report.html")
    assert parsed.images == []
    assert len(parsed.rows) == 2  # header and the one cell
    assert "No pictures logged" in (folder / "report.html").read_text()


def test_readme_front_page_shows_the_committed_digits_table_and_a_picture():
    readme = (REPO_ROOT / "README.md").read_text()
    results = REPO_ROOT / "results"
    assert (results / "digits" / "comparison.md").read_text() in readme
    pictures = re.findall(r"!\[[^\]]*\]\((results/[^)]+\.png)\)", readme)
    assert pictures and all((REPO_ROOT / picture).is_file() for picture in pictures)
    for dataset in ("digits", "mnist"):
        for name in ["report.html", "comparison.csv", "trials.csv", *FIGURES]:
            assert (results / dataset / name).is_file(), f"{dataset}/{name}"
    assert "clustering-bench report --dataset mnist" in (results / "README.md").read_text()
