"""The datasets registry: each name (`mnist`) or prefix (`npz:` + PATH) with its loader, a
one-line description and where it looks for files; `load` and `describe_sources` go through it,
and every list of dataset choices derives from it."""

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from clustering.checks import check_int, check_seed
from clustering.data.dataset import SPLITS, Dataset, stratified_subset
from clustering.errors import BenchError
from clustering.registry import Registry, choose_from

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "digits"
DataDir = str | os.PathLike | None


@dataclass(frozen=True)
class Loaded:
    """What a loader returns: images (n, h, w, c) uint8, labels (n,) int64, the class names, the
    dataset's short name and its source (the full path of the file or folder it was read from)."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    name: str
    source: str


@dataclass(frozen=True)
class DatasetSource:
    """One registered way to name a dataset.

    name: a dataset name (`mnist`), or a prefix ending in ":" (`npz:`) that a PATH follows.
    load(argument, data_dir, split) -> Loaded: argument is the name itself, or the PATH after the
    prefix; data_dir the user's --data-dir or None; split one of SPLITS. description: one line.
    where(data_dir) -> the places it looks for files, in order. found(data_dir) -> whether its
    test split is there (None for prefixes: the PATH is the place). name_of(PATH) -> the short
    name of the dataset at PATH, for prefixes (`faces` for `npz:/data/faces.npz`).
    """

    name: str
    load: Callable[[str, DataDir, str], Loaded]
    description: str
    where: Callable[[DataDir], list[str]]
    found: Callable[[DataDir], bool] | None = None
    name_of: Callable[[str], str] | None = None

    @property
    def is_prefix(self) -> bool:
        return self.name.endswith(":")

    @property
    def usage(self) -> str:
        """How a user writes it: `mnist`, or `npz:PATH`."""
        return f"{self.name}PATH" if self.is_prefix else self.name


class DatasetRegistry(Registry[DatasetSource]):
    """Dataset sources by name or prefix, in registration order (names before prefixes when
    listed)."""

    def __init__(self):
        super().__init__("dataset")

    def register(self, source: DatasetSource) -> DatasetSource:
        if source.is_prefix and source.name_of is None:
            raise ValueError(f"dataset prefix {source.name!r} needs `name_of`")
        if not source.is_prefix and source.found is None:
            raise ValueError(f"dataset {source.name!r} needs `found` (a prefix ends in ':')")
        return self.insert(source.name, source)

    def __iter__(self) -> Iterator[DatasetSource]:
        """Named sources, then prefixes, each in registration order."""
        entries = list(self._entries.values())
        return iter([s for s in entries if not s.is_prefix] + [s for s in entries if s.is_prefix])

    def names(self) -> list[str]:
        """The dataset names (no prefixes)."""
        return [source.name for source in self if not source.is_prefix]

    def choices(self) -> list[str]:
        """Everything a user may pass as --dataset: the names, then `npz:PATH`-style prefixes."""
        return [source.usage for source in self]

    def resolve(self, dataset: str) -> tuple[DatasetSource, str]:
        """(source, argument) for a --dataset value: the name itself, or the PATH after a
        prefix. BenchError listing the choices if none matches."""
        if dataset in self._entries and not self._entries[dataset].is_prefix:
            return self._entries[dataset], dataset
        for source in self:
            if source.is_prefix and dataset.startswith(source.name):
                if not dataset[len(source.name) :]:
                    raise BenchError(
                        f"dataset {dataset!r} lacks its path; write it as {source.usage}"
                    )
                return source, dataset[len(source.name) :]
        raise self.unknown(dataset)

    def short_name(self, dataset: str) -> str:
        """The name a --dataset value loads under, without loading it: `mnist` for `mnist`,
        `faces` for `npz:/data/faces.npz` (experiment, study and run names use it)."""
        source, argument = self.resolve(dataset)
        return source.name_of(argument) if source.is_prefix else source.name


DATASETS = DatasetRegistry()


def load(
    name: str = DEFAULT_DATASET,
    data_dir: DataDir = None,
    split: str = "test",
    limit: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a dataset by name or prefix (`DATASETS.choices()`: digits, mnist, fashion_mnist,
    cifar10, npz:PATH, folder:PATH).

    split: "test", "train" or "all" (train then test). limit: a class-stratified subset of that
    many images, chosen with `seed`, in original order. Bad input raises BenchError.
    """
    if split not in SPLITS:
        raise choose_from("split", split, list(SPLITS))
    if limit is not None:
        check_int(limit, "limit", low=1)
    check_seed(seed)
    source, argument = DATASETS.resolve(name)
    loaded = source.load(argument, data_dir, split)
    images, labels = loaded.images, loaded.labels
    if limit is not None and limit != len(labels):
        keep = stratified_subset(labels, int(limit), seed, loaded.name)
        images, labels = images[keep], labels[keep]
    dataset = Dataset.from_arrays(images, labels, loaded.name, loaded.class_names, loaded.source)
    logger.info("loaded %r split %s from %s: %s", name, split, loaded.source, dataset)
    return dataset


def describe_sources(data_dir: DataDir = None) -> list[dict]:
    """One row per named dataset: name, description, where (the places it looks, in order) and
    found (whether its test split is there)."""
    return [
        {
            "name": source.name,
            "description": source.description,
            "where": ", ".join(source.where(data_dir)),
            "found": source.found(data_dir),
        }
        for source in DATASETS
        if not source.is_prefix
    ]


def describe_prefixes() -> list[dict]:
    """One row per prefix: usage (`npz:PATH`) and description; their data are taken as given."""
    return [
        {"usage": source.usage, "description": source.description}
        for source in DATASETS
        if source.is_prefix
    ]
