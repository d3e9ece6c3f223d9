"""benchmarks: the runner's --quick smoke run writes the Markdown and JSON records with every field
(timing values are not checked here: speed belongs to the benchmark, not to the tests)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # see pyproject.toml's markers

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_writes_markdown_and_json(test_data, tmp_path):
    """On tests/data's 1,000 MNIST images: --quick uses the first 400, and its memory run tiles
    them to 2,000 rows."""
    data = ["--data-dir", str(test_data / "mnist")]
    command = [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path), *data]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| n | asc s |" in done.stdout  # the scaling table is printed

    record = json.loads((tmp_path / "benchmarks.json").read_text())
    assert {
        "command",
        "started",
        "seconds",
        "machine",
        "load_average",
        "settings",
        "kmeans",
        "metrics",
        "scaling",
        "memory",
        "targets",
    } <= set(record)
    assert {"cpu", "usable_cpus", "numpy_blas", "versions", "gemm_gflops"} <= set(record["machine"])
    assert [(r["data"].split()[0], r["dtype"]) for r in record["kmeans"]] == [
        ("MNIST", "float64"),
        ("MNIST", "float32"),
        ("synthetic", "float64"),
        ("synthetic", "float32"),
    ]
    for row in record["kmeans"]:
        assert {
            "ours",
            "reference",
            "ratio",
            "labels_identical",
            "n_iter",
            "reference_n_iter",
            "inertia_rel_diff",
            "met",
        } <= set(row)
        assert row["labels_identical"] and row["n_iter"] == row["reference_n_iter"]
        assert {"median_s", "min_s", "max_s", "seconds"} <= set(row["ours"])
    assert [r["metric"] for r in record["metrics"]] == ["asc", "dunn", "asc", "dunn"]
    for row in record["metrics"]:
        assert {
            "ours",
            "reference",
            "floor",
            "ratio",
            "floor_ratio",
            "reference_floor_ratio",
            "gemm_bound_s",
            "pairs_computed",
            "rel_diff",
            "exact",
            "met",
        } <= set(row)
        assert 0 < row["pairs_computed"] <= 1  # asc below 6,000 rows takes the full pass: 1
        assert row["exact"]  # equal to scikit-learn / validclust to 1e-9
    assert [r["n"] for r in record["scaling"]] == [200, 400, 800]
    assert record["scaling"][-1]["silhouette_score_s"] is None  # above the reference limit
    assert record["scaling"][0]["floor_s"] is not None
    (peak,) = record["memory"]
    assert peak["metric"] == "dunn" and peak["peak_rss_mib"] >= peak["rss_before_call_mib"] > 0
    assert all({"claim", "measured", "met"} <= set(t) for t in record["targets"])

    markdown = (tmp_path / "benchmarks.md").read_text()
    for heading in (
        "## Targets",
        "## K-means",
        "## Silhouette and Dunn",
        "## Scaling",
        "## Peak memory",
    ):
        assert heading in markdown
    assert record["machine"]["cpu"] in markdown


def test_training_benchmark_prints_every_variant_with_its_ratio(test_data, capsys):
    """A run on 200 real images: one row per variant (the thread pools' in child processes),
    the baseline at 1.00x, the shipped steps per execution ending at the baseline's very loss
    (the same updates, fewer calls), an arithmetic rate on every row."""
    from benchmarks import training

    training.main(["--data-dir", str(test_data / "mnist"), "--images", "200", "--epochs", "2",
                   "--only", "dense_ae"])  # fmt: skip
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| dense_ae")]
    assert [row.split("|")[2].strip() for row in rows] == [*training.VARIANTS, *training.THREADS]
    assert rows[0].split("|")[4].strip() == "1.00x"
    loss = {row.split("|")[2].strip(): row.split("|")[9].strip() for row in rows}
    assert loss["as shipped"] == loss[training.BASELINE]
    assert all(float(row.split("|")[10]) > 0 for row in rows)  # GFLOP/s


def test_search_benchmark_compares_the_study_search_with_random_search(capsys):
    """A run on 300 digits: one row per budget, random search's best never falls as its budget
    grows (its budgets are prefixes of one sequence), every value a finite objective."""
    from benchmarks import search

    search.main(["--limit", "300", "--cells", "raw:pca:kmeans", "--budgets", "2,4", "--seeds", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| raw")]
    assert [row.split("|")[2].strip() for row in rows] == ["2", "4"]
    ours = [float(row.split("|")[3]) for row in rows]
    theirs = [float(row.split("|")[4]) for row in rows]
    assert theirs[1] >= theirs[0]
    assert all(-1.0 <= value <= 1.0 for value in ours + theirs)


def test_devices_benchmark_times_each_case_on_every_device_tensorflow_sees(test_data, capsys):
    """A run on 32 real CIFAR-10 images, the pretrained extractor and the dense autoencoder:
    one row per case and device, the CPU's first at 1.00x,
    positive rates, and a header that names the GPUs or says there is none."""
    from benchmarks import devices

    devices.main(["--data-dir", str(test_data / "cifar10"), "--images", "32", "--epochs", "2",
                  "--only", f"{devices.PRETRAINED},dense_ae"])  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    cells = [line.split("|")[1:-1] for line in lines if line.startswith("| ")]
    rows = [r for r in cells if r[1].strip().startswith("/")]
    found = devices.devices()
    cases = [f"{devices.PRETRAINED} features", "dense_ae epoch"]
    assert [(r[0].strip(), r[1].strip()) for r in rows] == [(c, d) for c in cases for d in found]
    assert all(float(r[3]) > 0 for r in rows)
    assert all(r[4].strip() == "1.00x" for r in rows if r[1].strip() == "/CPU:0")
    gpus = [device for device in found if device.startswith("/GPU")]
    assert ("no GPU visible to TensorFlow" in lines[0]) == (not gpus)


def test_grid_time_builds_enough_images_from_the_real_ones_in_a_fixed_order(test_data):
    """200 shipped CIFAR-10 images to 700: the originals, their mirrors, then the originals
    moved 2 rows down (the top row repeated), each with its image's label; more than 18 copies
    of each image is refused."""
    from benchmarks import grid_time

    images, labels = grid_time.cifar_images([test_data / "cifar10"])
    out, out_labels = grid_time.enough_images(images, labels, 700)
    n = len(images)
    assert out.shape == (700, 32, 32, 3) and n == 200
    np.testing.assert_array_equal(out[:n], images)
    np.testing.assert_array_equal(out[n : 2 * n], images[:, :, ::-1])
    np.testing.assert_array_equal(out[2 * n : 3 * n, 2:], images[:, :-2])
    np.testing.assert_array_equal(out[2 * n : 3 * n, :2], images[:, :1].repeat(2, axis=1))
    np.testing.assert_array_equal(out_labels, np.tile(labels, 4)[:700])
    with pytest.raises(SystemExit, match="at most 3600"):
        grid_time.enough_images(images, labels, 3601)
