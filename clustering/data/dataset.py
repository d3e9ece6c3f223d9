"""The Dataset every loader returns (read-only arrays and a content digest), the splits a loader
may be asked for, and the class-stratified subset behind `--limit`."""

import hashlib
from dataclasses import dataclass

import numpy as np

from clustering.errors import BenchError

SPLITS = ("test", "train", "all")
SPLIT_PARTS = {"test": ("test",), "train": ("train",), "all": ("train", "test")}
"""The files' parts each split reads, in order ("all" is train then test)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Labelled images. `images` (n, h, w, c) uint8 in 0..255, c 1 (gray) or 3 (RGB); `labels`
    (n,) int64 class indices into `class_names`; `name` a short name for experiment, study and
    run names (a registered name, or the file or folder name of an npz: or folder: path);
    `digest` the hex sha256 of shape, pixels and labels (equal content gives an equal digest,
    whatever file it came from); `source` where the images were read (a full file or folder
    path). Arrays are read-only, so the digest stays true."""

    images: np.ndarray
    labels: np.ndarray
    name: str
    class_names: list[str]
    digest: str
    source: str = ""

    @classmethod
    def from_arrays(
        cls,
        images: np.ndarray,
        labels: np.ndarray,
        name: str,
        class_names: list[str],
        source: str = "",
    ) -> "Dataset":
        """Validate the arrays, make read-only views of them and compute the digest."""
        images = np.ascontiguousarray(images).view()
        labels = np.ascontiguousarray(labels, dtype=np.int64).view()
        if images.dtype != np.uint8 or images.ndim != 4 or labels.shape != (len(images),):
            raise BenchError(
                f"{name}: need images (n, h, w, c) uint8 and labels (n,), got images "
                f"{images.shape} {images.dtype} and labels {labels.shape}"
            )
        images.flags.writeable = False
        labels.flags.writeable = False
        return cls(images, labels, name, list(class_names), _digest(images, labels), source)

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, images={self.images.shape} uint8, "
            f"classes={len(self.class_names)}, digest={self.digest[:12]!r})"
        )


def _digest(images: np.ndarray, labels: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(repr(tuple(images.shape)).encode())
    h.update(images.tobytes())
    h.update(labels.astype("<i8").tobytes())
    return h.hexdigest()


def stratified_subset(labels: np.ndarray, limit: int, seed: int, name: str) -> np.ndarray:
    """Sorted indices of `limit` images, each class getting its share (largest remainder, at
    least one each), drawn at random with `seed`. `name` names the dataset in errors."""
    classes, counts = np.unique(labels, return_counts=True)
    if not len(classes) <= limit <= len(labels):
        raise BenchError(
            f"{name}: limit {limit} must be between the number of classes ({len(classes)}) and "
            f"the number of images ({len(labels)}); pass a limit in that range or none"
        )
    exact = limit * counts / len(labels)
    quota = np.floor(exact).astype(int)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: limit - quota.sum()]] += 1
    while (quota == 0).any():  # give every class one image, taken from the largest share
        quota[np.argmax(quota)] -= 1
        quota[np.argmin(quota)] += 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=q, replace=False)
        for c, q in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(chosen))
