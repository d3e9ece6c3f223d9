"""What optuna-dashboard shows of a run's studies: a real `optuna-dashboard` on 127.0.0.1 over
a small run's Optuna store, rendered in headless Chromium: the study list (one study per cell,
with its readable user attributes), one study's history with its objective named, and each
trial's scores as numeric user attributes."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from clustering.cli import main
from clustering.config import DEFAULT_OBJECTIVE
from tests.report.test_html_report import chromium, headless
from tests.services import free_port

pytestmark = [pytest.mark.slow, pytest.mark.services]

CLUSTERERS = ["kmeans", "minibatch_kmeans"]


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    """raw x none x both clusterers, 2 trials each, on 200 digits."""
    folder = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{folder / 'optuna.db'}"
    args = ["--quiet", "run", "--limit", "200", "--trials", "2", "--extractors", "raw"]
    args += ["--reducers", "none", "--clusterers", ",".join(CLUSTERERS), "--storage", url]
    args += ["--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    assert main([*args, "--cache-dir", str(folder / "cache")]) == 0
    return url


@pytest.fixture(scope="module")
def dashboard(storage):
    """`optuna-dashboard STORAGE --host 127.0.0.1 --port N`, its address once it answers."""
    program = Path(sys.executable).parent / "optuna-dashboard"
    if not program.exists():
        pytest.skip("optuna-dashboard not installed: pip install -e '.[dev]'")
    port = free_port()
    command = [str(program), storage, "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{address}/api/studies", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        yield address
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def test_each_trial_s_scores_are_numeric_user_attributes(storage):
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        assert study.user_attrs["cell"].startswith("raw x none x ")
        assert f"objective {DEFAULT_OBJECTIVE}," in study.user_attrs["setup"]
        for trial in study.trials:
            attrs = trial.user_attrs
            assert isinstance(attrs["metric.hungarian_accuracy"], float)
            assert attrs[f"metric.{DEFAULT_OBJECTIVE}"] == pytest.approx(trial.values[0])
            assert "metrics" not in attrs


def test_the_study_list_and_a_study_s_history_name_the_cells_and_the_objective(dashboard, tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("chromium not found: install it (apt-get install -y chromium; .ci/run does)")
    with urllib.request.urlopen(f"{dashboard}/api/studies", timeout=30) as answer:
        studies = json.load(answer)["study_summaries"]
    assert len(studies) == len(CLUSTERERS)
    size = "--window-size=1400,900"
    listing = headless(browser, tmp_path / "profile", size, "--dump-dom", f"{dashboard}/dashboard")
    for clusterer in CLUSTERERS:
        assert f"digits.raw.none.{clusterer}." in listing.stdout, listing.stderr[-2000:]
    study_id = studies[0]["study_id"]
    page = f"{dashboard}/dashboard/studies/{study_id}"
    history = headless(browser, tmp_path / "profile", size, "--dump-dom", page)
    assert DEFAULT_OBJECTIVE in history.stdout, history.stderr[-2000:]
    for name, url in (("studies.png", f"{dashboard}/dashboard"), ("history.png", page)):
        headless(browser, tmp_path / "profile", size, f"--screenshot={tmp_path / name}", url)
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
