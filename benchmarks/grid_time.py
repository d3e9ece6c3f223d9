"""The whole CIFAR-10 grid at scale: `python -m benchmarks.grid_time --data-dir DIR [DIR ...]`.

Builds `--images` colour images (default 10,000) from the CIFAR-10 python batches found under the
folders given: every image read, then their mirror images, then copies shifted by a few pixels
(edges repeated), in that order, until there are enough; saves them as an `npz:` dataset in a
temporary folder; runs `clustering-bench run` on it with the grid below into fresh stores and an
empty cache; and prints a Markdown table of each cell's wall seconds (its MLflow run's start to
end) and the command's total. The copies are there for the timing only: the run's accuracies are
printed, but on repeated images they are not CIFAR-10 results.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.timing import load_average, machine
from clustering import tracking
from clustering.data.cifar import read_cifar_pickle

GRID = (
    "--color",
    "--extractors",
    "raw,patch_kmeans,efficientnet",
    "--reducers",
    "none,umap",
    "--clusterers",
    "kmeans,gmm",
    "--search",
    "reducer,clusterer",
)
SHIFTS = ((2, 0), (0, 2), (-2, 0), (0, -2), (2, 2), (-2, -2), (2, -2), (-2, 2))


def cifar_images(folders: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Every image (n, 32, 32, 3) uint8 and label (n,) of the python batches under `folders`."""
    paths = sorted({p for f in folders for p in Path(f).rglob("*_batch*") if p.suffix == ""})
    if not paths:
        raise SystemExit(
            f"no CIFAR-10 python batches (test_batch, data_batch_1, ...) under {folders}"
        )
    parts = [read_cifar_pickle(path)[:2] for path in paths]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def shifted(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """`images` (n, h, w, c) moved by dy rows and dx columns, the edge pixels repeated."""
    pad = ((0, 0), (abs(dy),) * 2, (abs(dx),) * 2, (0, 0))
    padded = np.pad(images, pad, mode="edge")
    h, w = images.shape[1:3]
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[:, top : top + h, left : left + w]


def enough_images(images: np.ndarray, labels: np.ndarray, n: int):
    """(n, 32, 32, 3) images and (n,) labels: the originals, their mirrors, then shifted copies."""
    variants = [images, images[:, :, ::-1]]
    variants += [shifted(variant, dy, dx) for dy, dx in SHIFTS for variant in variants[:2]]
    needed = -(-n // len(images))
    if needed > len(variants):
        raise SystemExit(
            f"{len(images)} images give at most {len(variants) * len(images)}; pass more"
        )
    return np.concatenate(variants[:needed])[:n], np.concatenate([labels] * needed)[:n]


def cell_seconds(tracking_uri: str) -> list[tuple[str, float, float]]:
    """(cell, wall seconds, hungarian_accuracy) of every cell run of the store, by start time."""
    runs = tracking.search_runs_frame(
        tracking_uri, f"tags.`{tracking.ROLE_TAG}` = '{tracking.CELL_ROLE}'"
    )
    rows = []
    for _, run in runs.sort_values("start_time").iterrows():
        seconds = (run["end_time"] - run["start_time"]).total_seconds()
        cell = run[f"tags.{tracking.RUN_NAME_TAG}"]
        rows.append((cell, seconds, run.get("metrics.hungarian_accuracy", float("nan"))))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", nargs="+", type=Path, required=True, help="CIFAR-10 folders")
    parser.add_argument("--images", type=int, default=10_000, help="images (default 10,000)")
    parser.add_argument("--trials", type=int, default=3, help="trials per cell (default 3)")
    args = parser.parse_args(argv)
    images, labels = enough_images(*cifar_images(args.data_dir), args.images)
    with tempfile.TemporaryDirectory(prefix="grid-time-") as folder:
        path = Path(folder) / f"cifar10_{args.images}.npz"
        np.savez(path, x=images, y=labels)
        uri = f"sqlite:///{folder}/mlflow.db"
        command = [
            *(sys.executable, "-m", "clustering.cli", "--quiet", "run"),
            *("--dataset", f"npz:{path}", *GRID, "--trials", str(args.trials)),
            *("--tracking-uri", uri, "--storage", f"sqlite:///{folder}/optuna.db"),
            *("--cache-dir", f"{folder}/cache"),
        ]
        load_before = load_average()
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=folder)
        total = time.perf_counter() - started
        rows = cell_seconds(uri)
    shown = shlex.join(["clustering-bench", "run", "--dataset", path.name, *GRID])
    cpu = machine()
    print(f"Machine: {cpu['cpu']}, {cpu['usable_cpus']} cores usable.")
    print(f"Load average before {load_before}, after {load_average()}.")
    print(f"`{shown} --trials {args.trials}` on {args.images:,} images, fresh stores and cache.\n")
    print("| cell | seconds | hungarian_accuracy (copies included) |\n|---|---:|---:|")
    for cell, seconds, accuracy in rows:
        print(f"| {cell} | {seconds:.0f} | {accuracy:.4f} |")
    print(f"| **total (the command)** | **{total:.0f}** | |")


if __name__ == "__main__":
    main()
