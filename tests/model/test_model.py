"""A cell's best pipeline as an MLflow model, on 300 real MNIST images: the logged model,
reloaded, gives the trial's labels (from features trained in the run, from the cache with the
kept fitted stages, and fitted again without them); every run logs its dataset as an input; the
dataset's winner is registered once per winner; `predict` writes the labels; the model served by
`mlflow models serve` answers REST requests, and bad images with HTTP 400."""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from clustering import data
from clustering.cli import main
from clustering.config import DEFAULT_OBJECTIVE
from clustering.metrics.external import ari, hungarian_accuracy, nmi
from clustering.model.pyfunc import check_images
from clustering.tracking import MODEL_TAG, MODEL_URI_TAG, ROLE_TAG, using_tracking_uri
from tests.services import free_port

LIMIT = 300


def run_cells(folder, data_dir, clusterers: str) -> int:
    """`clustering-bench run` of dense_ae x umap x `clusterers`, one trial, in `folder`."""
    return main(
        [
            "--quiet",
            "run",
            "--dataset",
            "mnist",
            "--data-dir",
            str(data_dir),
            "--limit",
            str(LIMIT),
            "--extractors",
            "dense_ae",
            "--reducers",
            "umap",
            "--clusterers",
            clusterers,
            "--trials",
            "1",
            "--tracking-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--storage",
            f"sqlite:///{folder / 'optuna.db'}",
            "--cache-dir",
            str(folder / "cache"),
        ]
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory, test_data):
    """A store where gmm trained the features, kmeans found them and the fitted stages in the
    cache, and minibatch_kmeans found the features but not the fitted stages (removed), which
    its model fitted again and kept."""
    folder = tmp_path_factory.mktemp("model")
    mnist = test_data / "mnist"
    assert run_cells(folder, mnist, "gmm") == 0
    assert run_cells(folder, mnist, "kmeans") == 0
    kept = list((folder / "cache").glob("*.fitted.pkl"))
    assert len(kept) == 4  # the encoder, the fitted UMAP, the gmm and the kmeans
    for path in kept:
        path.unlink()
    assert run_cells(folder, mnist, "minibatch_kmeans") == 0
    kept_again = list((folder / "cache").glob("*.fitted.pkl"))
    assert len(kept_again) == 3  # the encoder and UMAP fitted again for the model, the clusterer
    images = data.load("mnist", data_dir=mnist, limit=LIMIT, seed=0)
    return folder, MlflowClient(f"sqlite:///{folder / 'mlflow.db'}"), images


def cell_runs(client) -> dict:
    experiment = client.get_experiment_by_name("mnist")
    runs = client.search_runs([experiment.experiment_id], f"tags.`{ROLE_TAG}` = 'cell'")
    return {run.data.tags["clusterer"]: run for run in runs}


def trial_run(client, cell_run):
    query = (
        f"tags.`mlflow.parentRunId` = '{cell_run.info.run_id}' and "
        f"tags.`optuna.trial_number` = '{cell_run.data.tags[MODEL_TAG]}'"
    )
    return client.search_runs([cell_run.info.experiment_id], query)[0]


@pytest.mark.slow
@pytest.mark.parametrize("clusterer", ["gmm", "kmeans", "minibatch_kmeans"])
def test_the_reloaded_cell_model_gives_the_trials_labels(store, clusterer):
    """Trained in the run (gmm), from the cache's kept stages (kmeans), fitted again
    (minibatch_kmeans): the label scores of the model's clusters equal the trial's exactly."""
    folder, client, dataset = store
    cell = cell_runs(client)[clusterer]
    trial = trial_run(client, cell)
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model(cell.data.tags[MODEL_URI_TAG])
    table = model.predict(dataset.images)
    labels = table["cluster"].to_numpy()
    assert len(labels) == LIMIT
    for name, score in [("hungarian_accuracy", hungarian_accuracy), ("nmi", nmi), ("ari", ari)]:
        assert score(dataset.labels, labels) == trial.data.metrics[name], name
    if clusterer == "gmm":
        probabilities = table.filter(like="probability_").to_numpy()
        assert probabilities.shape == (LIMIT, 10)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
        assert np.array_equal(probabilities.argmax(axis=1), labels)
    else:
        assert list(table.columns) == ["cluster"]
    (images,) = model.metadata.signature.inputs.inputs  # untyped: the model checks the values
    assert (images.name, images.type, images.shape) == ("images", np.dtype(object), (-1,))
    assert model.metadata.metadata["image_shape"] == [28, 28, 1]
    assert model.metadata.metadata["input"] == "(n, 28, 28, 1) uint8 images, 0..255"


@pytest.mark.slow
def test_cell_and_trial_runs_log_their_dataset_as_an_input(store):
    folder, client, dataset = store
    for cell in cell_runs(client).values():
        for run in (cell, trial_run(client, cell)):
            (entry,) = run.inputs.dataset_inputs
            assert entry.dataset.name == "mnist"
            assert dataset.digest.startswith(entry.dataset.digest)
            assert json.loads(entry.dataset.source)["uri"].endswith("mnist")
            tags = {tag.key: tag.value for tag in entry.tags}
            assert tags == {
                "mlflow.data.context": "test",
                "split": "test",
                "limit": str(LIMIT),
                "color": "False",
            }
            assert json.loads(entry.dataset.profile)["n_images"] == LIMIT


@pytest.mark.slow
def test_register_makes_one_version_per_winner_and_predict_writes_the_labels(
    store, test_data, capsys
):
    folder, client, dataset = store
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    assert main(["register", "--dataset", "mnist", "--tracking-uri", uri]) == 0
    assert main(["register", "--dataset", "mnist", "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert "registered clustering-bench-mnist version 1" in out
    assert "already registered as clustering-bench-mnist version 1" in out
    (version,) = client.search_model_versions("name = 'clustering-bench-mnist'")
    winner = max(cell_runs(client).values(), key=lambda run: run.data.metrics[DEFAULT_OBJECTIVE])
    assert version.tags["criterion"] == DEFAULT_OBJECTIVE
    assert float(version.tags["criterion_value"]) == pytest.approx(
        winner.data.metrics[DEFAULT_OBJECTIVE], rel=1e-5
    )
    assert version.tags["run_id"] == winner.info.run_id
    by = ["register", "--dataset", "mnist", "--by", "hungarian_accuracy", "--tracking-uri", uri]
    assert main(by) == 0
    assert len(client.search_model_versions("name = 'clustering-bench-mnist'")) == 2
    capsys.readouterr()

    labels_csv = folder / "predicted" / "labels.csv"  # its folder is made
    argv = ["--quiet", "predict", "--model", "models:/clustering-bench-mnist/1"]
    argv += ["--dataset", "mnist", "--data-dir", str(test_data / "mnist"), "--limit", str(LIMIT)]
    assert main([*argv, "--tracking-uri", uri, "--out", str(labels_csv)]) == 0
    table = pd.read_csv(labels_csv)
    trial = trial_run(client, winner)
    assert (
        hungarian_accuracy(dataset.labels, table["cluster"])
        == (trial.data.metrics["hungarian_accuracy"])
    )
    assert capsys.readouterr().out == ""
    under_a_file = str(folder / "mlflow.db" / "labels.csv")
    assert main([*argv, "--tracking-uri", uri, "--out", under_a_file]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"clustering-bench: error: cannot write {under_a_file}: File exists;")


@pytest.mark.slow
def test_register_and_predict_reject_bad_input_in_one_line(store, capsys):
    folder, _, _ = store
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    bad = [
        ["register", "--dataset", "mnist", "--by", "accuracy", "--tracking-uri", uri],
        ["register", "--dataset", "cifar10", "--tracking-uri", uri],
        ["predict", "--model", "models:/nothing/1", "--tracking-uri", uri],
        ["predict", "--model", "models:/clustering-bench-mnist/1", "--tracking-uri", uri],
    ]
    for argv in bad:
        assert main(["--quiet", *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("clustering-bench: error: "), err
    assert "got images of shape (1797, 8, 8, 1)" in err[0]  # digits into an MNIST model


def test_check_images_names_the_problem_and_the_fix():
    good = np.arange(128).reshape(2, 8, 8, 1).astype(np.uint8)
    assert check_images(good, (8, 8, 1), "digits") is good
    for same in (good[..., 0].astype(np.int64), good * 1.0, good.astype(object)):
        assert np.array_equal(check_images(same, (8, 8, 1), "digits"), good)  # JSON: object
    nan, inf = good.astype(np.float64), good.astype(object)
    nan[0, 0, 0, 0], inf[1, 0, 0, 0] = np.nan, float("inf")
    text, ragged = good.astype(object), np.empty(2, object)
    text[1, 2, 3, 0], ragged[:] = "12", [[[[0]] * 8] * 8, [[0]] * 7]
    cases = {
        "shape (2, 9, 9, 1)": np.zeros((2, 9, 9, 1), np.uint8),
        "whole numbers 0..255 as the dataset stores them; got 0.00392157": good / 255,
        "NaN pixels": nan,
        "inf pixels": inf,
        "values in [0, 300]": good.astype(np.int64) * 0 + np.arange(2).reshape(2, 1, 1, 1) * 300,
        "got <U1 values": np.full((2, 8, 8, 1), "a"),
        "got a str value ('12')": text,
        "got ragged nested lists": ragged,
        "got a table": pd.DataFrame({"a": [1]}),
    }
    for expected, images in cases.items():
        with pytest.raises(MlflowException, match="send \\(n, 8, 8, 1\\) uint8") as raised:
            check_images(images, (8, 8, 1), "digits")
        assert expected in raised.value.message
        assert raised.value.get_http_status_code() == 400


def post(port: int, body: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.mark.slow
def test_mlflow_models_serve_answers_with_the_trials_labels_and_400_for_bad_images(store):
    folder, client, dataset = store
    cell = cell_runs(client)["gmm"]
    port = free_port()
    mlflow_cli = shutil.which("mlflow", path=os.path.dirname(sys.executable))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    command = [mlflow_cli, "models", "serve", "-m", cell.data.tags[MODEL_URI_TAG]]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    server = subprocess.Popen(command, cwd=folder, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5):
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read()[-2000:]
                assert time.monotonic() < deadline, "mlflow models serve did not answer in 90 s"
                time.sleep(0.5)
        status, answer = post(port, json.dumps({"inputs": dataset.images.tolist()}))
        assert status == 200
        served = np.array([row["cluster"] for row in answer["predictions"]])
        with using_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}"):
            model = mlflow.pyfunc.load_model(cell.data.tags[MODEL_URI_TAG])
        local = model.predict(dataset.images)
        assert np.array_equal(served, local["cluster"].to_numpy())
        status, answer = post(port, json.dumps({"inputs": dataset.images[:5].tolist()}))
        assert status == 200  # five images are new rows to UMAP: its transform, not the fit
        few = model.predict(dataset.images[:5])
        assert [row["cluster"] for row in answer["predictions"]] == few["cluster"].tolist()
        nan = dataset.images[:2].astype(np.float64)
        nan[0, 5, 5, 0] = np.nan
        bad = {
            "got images of shape (2, 8, 8, 1)": np.zeros((2, 8, 8, 1), int).tolist(),
            "NaN pixels": nan.tolist(),
            "pixel values in [0, 510]": (dataset.images[:2] * 2.0).tolist(),
            "got a str value ('a')": [[["a"] * 28] * 28],
            "must be whole numbers 0..255": (dataset.images[:2] / 255).tolist(),
        }
        for problem, inputs in bad.items():
            status, answer = post(port, json.dumps({"inputs": inputs}))
            assert status == 400, (problem, answer)
            assert set(answer) >= {"error_code", "message"} and "stack_trace" not in answer
            # MLflow quotes the request's array first; the model's own words end the message
            reason = answer["message"].rsplit("\nError: ", 1)[-1]
            assert reason.startswith("invalid images: ") and problem in reason, reason
            assert reason.endswith("send (n, 28, 28, 1) uint8 images as mnist stores them")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_pointing_mlflow_at_a_store_leaves_no_tracking_uri_behind(tmp_path, monkeypatch):
    """The block's URI must not leak into MLFLOW_TRACKING_URI: a later `run` subprocess would
    track into it instead of its own folder's store."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(None)
    with using_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}"):
        assert os.environ["MLFLOW_TRACKING_URI"].endswith("mlflow.db")
    assert "MLFLOW_TRACKING_URI" not in os.environ and not mlflow.is_tracking_uri_set()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    with using_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}"):
        pass
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///elsewhere.db"


@pytest.mark.parametrize("color", [False, True])
def test_the_model_takes_stored_rgb_images_and_preprocesses_them_as_the_study(test_data, color):
    """Gray or colour, the model's input is the dataset's (n, 32, 32, 3) uint8 images, and the
    extractor sees the channels the study saw (1 gray, 3 with --color)."""
    from clustering.clusterers import CLUSTERERS
    from clustering.extractors import EXTRACTORS
    from clustering.model.pyfunc import ClusterModel
    from clustering.reducers import REDUCERS

    dataset = data.load("cifar10", data_dir=test_data / "cifar10", limit=60)
    X = data.preprocess(dataset.images, color=color)
    extractor = EXTRACTORS.get("hog")().fit(X)
    reducer = REDUCERS.get("none")()
    embedding = reducer.fit_transform(extractor.transform(X))
    clusterer = CLUSTERERS.get("kmeans")(n_clusters=3, random_state=0).fit(embedding)
    model = ClusterModel(extractor, reducer, clusterer, dataset.images.shape[1:], color, "cifar10")
    predicted = model.predict(None, dataset.images)["cluster"].to_numpy()
    np.testing.assert_array_equal(predicted, clusterer.labels_)
    assert extractor.image_shape_ == (32, 32, 3 if color else 1)
    assert model.metadata()["image_shape"] == [32, 32, 3]
