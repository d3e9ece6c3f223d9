"""What the MLflow UI shows, without setup: a real `mlflow server` on 127.0.0.1, a small benchmark
logged through it, then the REST API the UI itself calls: every cell's parent run with its best
metrics and parameters, every trial run nested under it, the cell's pictures as artifacts."""

import json
import re
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from clustering.cli import main
from clustering.config import DEFAULT_OBJECTIVE
from clustering.experiment_view import VIEW_KEY, view_url
from clustering.report.columns import METRIC_COLUMNS
from clustering.tracking import ROLE_TAG
from tests.report.test_html_report import chromium, headless

pytestmark = pytest.mark.slow  # see pyproject.toml's markers

TRIALS = 2
CLUSTERERS = ["kmeans", "minibatch_kmeans"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A fresh server (tests/services.py) with raw x none x both clusterers logged into it."""
    from tests.services import MlflowServer

    server = MlflowServer().wait()
    folder = tmp_path_factory.mktemp("mlflow_ui")
    try:
        code = main(
            [
                "--quiet",
                "run",
                "--limit",
                "200",
                "--extractors",
                "raw",
                "--reducers",
                "none",
                "--clusterers",
                ",".join(CLUSTERERS),
                "--trials",
                str(TRIALS),
                "--tracking-uri",
                server.uri,
                "--storage",
                f"sqlite:///{folder / 'optuna.db'}",
                "--cache-dir",
                str(folder / "cache"),
            ]
        )
        assert code == 0
        yield server
    finally:
        server.close()


def call(server, path: str, body: dict | None = None, api: str = "api") -> dict:
    """GET (no body) or POST JSON to the server's REST API; the parsed JSON answer."""
    request = urllib.request.Request(
        f"{server.uri}/{api}/2.0/mlflow/{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def search(server, experiment_id: str, filter_string: str = "") -> list[dict]:
    """Every run of the experiment matching the filter, all pages, as the UI's table gets them
    (through the UI's own `ajax-api` prefix)."""
    runs, token = [], None
    while True:
        body = {
            "experiment_ids": [experiment_id],
            "filter": filter_string,
            "max_results": 100,
            "order_by": ["attributes.start_time DESC"],
        }
        if token:
            body["page_token"] = token
        answer = call(server, "runs/search", body, api="ajax-api")
        runs.extend(answer.get("runs", []))
        token = answer.get("next_page_token")
        if not token:
            return runs


def as_dict(entries: list[dict] | None) -> dict:
    return {entry["key"]: entry["value"] for entry in entries or []}


@pytest.fixture(scope="module")
def experiment_id(server) -> str:
    query = urllib.parse.urlencode({"experiment_name": "digits"})
    return call(server, f"experiments/get-by-name?{query}")["experiment"]["experiment_id"]


def test_ui_page_is_served(server):
    with urllib.request.urlopen(server.uri + "/", timeout=30) as answer:
        assert answer.status == 200
        assert "<html" in answer.read().decode(errors="replace").lower()


def test_every_cell_parent_run_carries_the_same_best_metrics_and_its_parameters(
    server, experiment_id
):
    cells = search(server, experiment_id, f"tags.`{ROLE_TAG}` = 'cell'")
    assert sorted(as_dict(run["data"]["tags"])["clusterer"] for run in cells) == CLUSTERERS
    metric_names = []
    for run in cells:
        info, data = run["info"], run["data"]
        tags, params = as_dict(data.get("tags")), as_dict(data.get("params"))
        metrics = as_dict(data.get("metrics"))
        assert info["status"] == "FINISHED"
        name = f"raw-none-{tags['clusterer']}"  # the cell's parts, as its tags name them
        assert tags["extractor"] == "raw" and tags["reducer"] == "none"
        assert tags["mlflow.runName"] == name == info["run_name"]
        for name in ("dataset", "extractor", "clusterer", "objective", "n_clusters", "seed"):
            assert params[name], name
        for name in [
            *METRIC_COLUMNS,
            "homogeneity",
            "inertia",
            "best_trial_number",
            "trials_complete",
        ]:
            assert name in metrics, name
        assert metrics["trials_complete"] == TRIALS
        assert any(key.startswith("best.") for key in tags)  # the best trial's parameters
        metric_names.append(sorted(metrics))
        # the compare view fetches each run by id
        fetched = call(server, f"runs/get?run_id={info['run_id']}", api="ajax-api")["run"]
        assert as_dict(fetched["data"]["metrics"]) == metrics
    assert metric_names[0] == metric_names[1]  # same columns side by side in the compare view


def test_every_trial_run_is_nested_under_its_cell_run(server, experiment_id):
    runs = search(server, experiment_id)  # the UI's unfiltered table, nested by parentRunId
    by_id = {run["info"]["run_id"]: run for run in runs}
    cells = [run for run in runs if as_dict(run["data"]["tags"])[ROLE_TAG] == "cell"]
    trials = [run for run in runs if as_dict(run["data"]["tags"])[ROLE_TAG] == "trial"]
    assert len(cells) == len(CLUSTERERS)
    assert len(trials) == len(CLUSTERERS) * TRIALS
    for trial in trials:
        tags = as_dict(trial["data"]["tags"])
        parent = by_id[tags["mlflow.parentRunId"]]
        assert as_dict(parent["data"]["tags"])[ROLE_TAG] == "cell"
        assert trial["info"]["status"] == "FINISHED"
        assert "asc" in as_dict(trial["data"]["metrics"])
    for cell in cells:
        children = [
            trial
            for trial in trials
            if as_dict(trial["data"]["tags"])["mlflow.parentRunId"] == cell["info"]["run_id"]
        ]
        numbers = sorted(int(as_dict(t["data"]["tags"])["optuna.trial_number"]) for t in children)
        assert numbers == list(range(TRIALS))


def test_cell_pictures_are_artifacts_the_ui_can_show(server, experiment_id):
    for cell in search(server, experiment_id, f"tags.`{ROLE_TAG}` = 'cell'"):
        run_id = cell["info"]["run_id"]
        listed = call(server, f"artifacts/list?run_id={run_id}&path=pictures")
        names = sorted(Path(entry["path"]).name for entry in listed.get("files", []))
        assert names == ["centres.png", "cluster_samples.png", "confusion.png"]
        query = urllib.parse.urlencode({"path": "pictures/centres.png", "run_uuid": run_id})
        with urllib.request.urlopen(f"{server.uri}/get-artifact?{query}", timeout=30) as answer:
            assert answer.read(8) == b"\x89PNG\r\n\x1a\n"


def test_report_through_the_server_embeds_the_cell_pictures(server, tmp_path):
    assert (
        main(
            [
                "--quiet",
                "report",
                "--dataset",
                "digits",
                "--tracking-uri",
                server.uri,
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    page = (tmp_path / "digits" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= len(CLUSTERERS) * 3
    assert len(list((tmp_path / "digits" / "cells").glob("*/*.png"))) == len(CLUSTERERS) * 3
    assert f'href="{server.uri}/#/experiments/' in page  # links to each cell run's page


def test_every_run_shows_its_dataset_in_the_dataset_column(server, experiment_id):
    """The runs table's Dataset column and filters read each run's dataset inputs."""
    runs = [
        run
        for run in search(server, experiment_id)
        if as_dict(run["data"]["tags"])[ROLE_TAG] in ("cell", "trial")
    ]
    assert len(runs) == len(CLUSTERERS) * (TRIALS + 1)
    for run in runs:
        (entry,) = run["inputs"]["dataset_inputs"]
        assert entry["dataset"]["name"] == "digits"
        assert len(entry["dataset"]["digest"]) == 12
        tags = as_dict(entry["tags"])
        assert tags["mlflow.data.context"] == "test" and tags["limit"] == "200"
    filtered = search(server, experiment_id, "dataset.name = 'digits'")
    assert {run["info"]["run_id"] for run in filtered} == {run["info"]["run_id"] for run in runs}


def test_each_cell_model_and_the_registered_winner_have_their_pages(
    server, experiment_id, tmp_path
):
    """Every cell run logged a model (the Models column); `register` makes the winner's page in
    the registry, which the UI renders in headless Chromium."""
    for cell in search(server, experiment_id, f"tags.`{ROLE_TAG}` = 'cell'"):
        (output,) = cell["outputs"]["model_outputs"]
        assert as_dict(cell["data"]["tags"])["model.uri"] == f"models:/{output['model_id']}"
    assert main(["--quiet", "register", "--dataset", "digits", "--tracking-uri", server.uri]) == 0
    name = "clustering-bench-digits"
    model = call(server, f"registered-models/get?name={name}")["registered_model"]
    (version,) = model["latest_versions"]
    assert as_dict(version["tags"])["criterion"] == DEFAULT_OBJECTIVE
    browser = chromium()
    if browser is None:
        pytest.skip("chromium not found: install it (apt-get install -y chromium; .ci/run does)")
    page = headless(browser, tmp_path / "profile", "--dump-dom", f"{server.uri}/#/models/{name}")
    assert name in page.stdout, page.stderr[-2000:]
    assert "Version 1" in page.stdout


def test_the_experiment_says_it_holds_model_training_runs_and_what_they_are(server, experiment_id):
    experiment = call(server, f"experiments/get?experiment_id={experiment_id}")["experiment"]
    tags = as_dict(experiment["tags"])
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    assert "hungarian_accuracy" in tags["mlflow.note.content"]
    saved = json.loads(tags[f"mlflow.sharedViewState.{VIEW_KEY}"])
    assert saved["name"] == "Benchmark cells"
    assert f"metrics.`{DEFAULT_OBJECTIVE}`" in json.loads(saved["state"])["selectedColumns"]


def test_the_printed_view_url_lands_on_the_cells_with_the_score_columns(
    server, experiment_id, tmp_path
):
    """The page `run` prints, rendered in headless Chromium: the cell runs, and the objective,
    Hungarian accuracy and NMI as column headers; a screenshot is left in tmp_path."""
    browser = chromium()
    if browser is None:
        pytest.skip("chromium not found: install it (apt-get install -y chromium; .ci/run does)")
    url = view_url(experiment_id, server.uri)
    size = "--window-size=1600,900"
    page = headless(browser, tmp_path / "profile", size, "--dump-dom", url)
    shown = re.findall(r'role="columnheader"[^>]*col-id="([^"]+)"', page.stdout)
    assert shown, page.stderr[-2000:]
    for column in (DEFAULT_OBJECTIVE, "hungarian_accuracy", "nmi"):
        assert f"metrics.`{column}`" in shown, (column, shown)
    names = re.findall(
        r'href="#/experiments/[^"]+/runs/[^"]+"><span[^>]*>([^<]+)</span>', page.stdout
    )
    assert sorted(names) == sorted(f"raw-none-{name}" for name in CLUSTERERS)
    shot = tmp_path / "landing.png"
    headless(browser, tmp_path / "profile", size, f"--screenshot={shot}", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
