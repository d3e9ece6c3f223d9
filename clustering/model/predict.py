"""Clusters for new images from a logged or registered model: a dataset loaded as the study
loads it, its stored images through the model, one CSV row per image."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from clustering import data
from clustering.errors import BenchError, first_line
from clustering.extractors.keras_base import import_tensorflow
from clustering.metrics.external import hungarian_accuracy, nmi
from clustering.tracking import using_tracking_uri

logger = logging.getLogger(__name__)


def load_model(model_uri: str, tracking_uri: str):
    """The pyfunc model at `model_uri` (runs:/..., models:/NAME/VERSION, models:/m-..., a
    folder); BenchError naming the URI when it cannot be loaded."""
    import mlflow.pyfunc

    import_tensorflow()  # quietly: unpickling the reducer may import it
    try:
        with using_tracking_uri(tracking_uri):
            return mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError) as error:
        raise BenchError(
            f"cannot load the model {model_uri} from {tracking_uri}: {first_line(error)}; pass "
            "a model URI such as models:/clustering-bench-digits/1 and the --tracking-uri that "
            "holds it"
        ) from None


def predict_images(model, images: np.ndarray) -> pd.DataFrame:
    """The model's table (`cluster`, `probability_<j>`) for images (n, h, w, c) uint8;
    BenchError with the model's one-line reason when it rejects them (the model checks them)."""
    try:
        return model.predict(images)
    except MlflowException as error:
        reason = str(error.message).rsplit("Error: ", 1)[-1].strip()
        raise BenchError(f"the model rejects these images: {reason}") from None


def predict_dataset(model_uri: str, tracking_uri: str, out: str | Path, **load) -> dict:
    """Write `out` (CSV: index, label, cluster, probability_<j>...; its folder is created) for
    the dataset `load` names (data.load's keyword arguments); returns n_images, n_clusters,
    the path and, from the dataset's labels, the Hungarian accuracy and NMI of the clusters."""
    model = load_model(model_uri, tracking_uri)
    dataset = data.load(**load)
    table = predict_images(model, dataset.images)
    table.insert(0, "label", dataset.labels)
    table.insert(0, "index", np.arange(len(table)))
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)
    except OSError as error:
        reason = error.strerror or str(error)
        raise BenchError(f"cannot write {path}: {reason}; pass another --out") from None
    labels = table["cluster"].to_numpy()
    return {
        "path": path,
        "n_images": len(table),
        "n_clusters": int(len(np.unique(labels))),
        "hungarian_accuracy": hungarian_accuracy(dataset.labels, labels),
        "nmi": nmi(dataset.labels, labels),
    }
