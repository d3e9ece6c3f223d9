"""Features that need no pretrained weights on CIFAR-10, fitted on training images and applied to
test images (the honest protocol) or fitted on the test images themselves (what a study does):
`python -m benchmarks.natural_images --test-dir DIR --train-dir DIR [--color]`, printing a
Markdown table of Hungarian accuracy (K-means, k = 10, mean over seeds) and fit seconds.

`--time-n N` also times one fit + transform of `patch_kmeans` on N images (the training and test
images tiled), the cost of one trial of the CIFAR-10 grid at that size.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

from clustering import data
from clustering.data.cifar import read_cifar_pickle
from clustering.extractors import EXTRACTORS
from clustering.metrics.external import hungarian_accuracy

EXTRACTOR_NAMES = ("raw", "hog", "patch_kmeans")


def training_images(train_dir: Path) -> np.ndarray:
    """The images (n, 32, 32, 3) uint8 of the first training batch under `train_dir`."""
    paths = sorted(Path(train_dir).rglob("data_batch_1"))
    if not paths:
        raise SystemExit(f"no data_batch_1 under {train_dir}; pass the training images' folder")
    return read_cifar_pickle(paths[0])[0]


def accuracy(features: np.ndarray, y_true: np.ndarray, seeds: int) -> float:
    """Mean Hungarian accuracy of K-means (k = 10, 3 starts) over `seeds` seeds."""
    scores = [
        hungarian_accuracy(y_true, KMeans(10, n_init=3, random_state=seed).fit_predict(features))
        for seed in range(seeds)
    ]
    return float(np.mean(scores))


def measure(name: str, X_fit: np.ndarray, X_test: np.ndarray, y_test, seeds: int):
    """(accuracy, fit + transform seconds) of extractor `name` fitted on X_fit."""
    started = time.perf_counter()
    extractor = EXTRACTORS.get(name)(random_state=0).fit(X_fit)
    features = extractor.transform(X_test)
    seconds = time.perf_counter() - started
    return accuracy(features, y_test, seeds), seconds


def time_large(X: np.ndarray, n: int) -> float:
    """Seconds of one patch_kmeans fit + transform (its defaults) on X tiled to n images."""
    tiled = np.concatenate([X] * (n // len(X) + 1))[:n]
    started = time.perf_counter()
    EXTRACTORS.get("patch_kmeans")(random_state=0).fit_transform(tiled)
    return time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-dir", required=True, help="CIFAR-10 test images (python batches)")
    parser.add_argument("--train-dir", required=True, help="holds data_batch_1")
    parser.add_argument("--color", action="store_true", help="keep RGB (default gray)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--extractors", default=",".join(EXTRACTOR_NAMES))
    parser.add_argument("--time-n", type=int, default=0, help="time patch_kmeans on N images")
    args = parser.parse_args(argv)
    test = data.load("cifar10", data_dir=args.test_dir)
    X_test = data.preprocess(test.images, color=args.color)
    X_train = data.preprocess(training_images(Path(args.train_dir)), color=args.color)
    print(f"{len(X_train)} training, {len(X_test)} test images, color={args.color}")
    print("| extractor | fitted on | hungarian_accuracy | seconds |\n|---|---|---:|---:|")
    for name in args.extractors.split(","):
        fits = {"train": X_train, "test": X_test} if EXTRACTORS.get(name).learned else {"-": X_test}
        for fitted_on, X_fit in fits.items():
            score, seconds = measure(name, X_fit, X_test, test.labels, args.seeds)
            print(f"| {name} | {fitted_on} | {score:.4f} | {seconds:.1f} |", flush=True)
    if args.time_n:
        seconds = time_large(np.concatenate([X_train, X_test]), args.time_n)
        print(f"patch_kmeans fit + transform on {args.time_n} images: {seconds:.1f} s")


if __name__ == "__main__":
    main()
