"""Datasets: the registry of names and prefixes that `load` dispatches through, the Dataset they
load into, preprocessing, and one reader per file format.

`load("mnist", data_dir=...)` finds the files (data_dir first, then Keras's cache folder), reads
them, optionally takes a class-stratified subset, and returns a Dataset whose `digest` hashes its
content, so caches can key on it. `preprocess` is the one place images become model input.
`DATASETS.choices()` lists what `--dataset` accepts; `describe_sources` where each named dataset
looks for its files. identity.py checks that MNIST's and Fashion-MNIST's files (which share their
names) hold the named set's records. A new source is one file that registers it and one import
line here.

    registry.py    DATASETS, load, describe_sources      dataset.py   Dataset, splits, --limit
    identity.py    official files' md5s, cuts' labels
    sources.py     --data-dir, Keras's cache, missing     preprocess.py  images -> model input
    digits.py idx.py cifar.py npz.py folder.py: a reader per format and the sources using it
"""

from clustering.data.dataset import SPLITS, Dataset, stratified_subset
from clustering.data.preprocess import preprocess
from clustering.data.registry import (
    DATASETS,
    DEFAULT_DATASET,
    DatasetSource,
    Loaded,
    describe_prefixes,
    describe_sources,
    load,
)
from clustering.data.sources import bundled_test_data, keras_datasets_dir

# the import order is the registration order, so the order of the choices
# isort: off
from clustering.data import digits, idx, cifar, npz, folder  # noqa: F401
# isort: on

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "SPLITS",
    "Dataset",
    "DatasetSource",
    "Loaded",
    "bundled_test_data",
    "describe_prefixes",
    "describe_sources",
    "keras_datasets_dir",
    "load",
    "preprocess",
    "stratified_subset",
]
