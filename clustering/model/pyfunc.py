"""The cell's best pipeline as an MLflow pyfunc model: images as the dataset stores them in
((n, h, w, c) uint8), preprocessed as in the study, through the fitted extractor, reducer and
clusterer; a table out (`cluster`, and `probability_<j>` per cluster where the clusterer gives
probabilities). The signature's input is an untyped tensor, so a served request's JSON numbers
reach the model as sent (a uint8 signature would make MLflow cast 0.5 to 0 before the model sees
it) and `check_images` judges them; the image shape and dtype are in the model's metadata and
its input example. Bad input raises MlflowException(INVALID_PARAMETER_VALUE): HTTP 400 when
served."""

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema, TensorSpec

from clustering.data import preprocess
from clustering.model.fitted import attach_encoder, without_keras

ENCODER_ARTIFACT = "encoder"  # the Keras encoder's `.keras` file, for learned extractors


class ClusterModel(PythonModel):
    """Fitted extractor, reducer and clusterer of one configuration, for images shaped
    `image_shape` ((h, w, c) uint8 as stored) of `dataset`, preprocessed with `color`."""

    def __init__(self, extractor, reducer, clusterer, image_shape, color: bool, dataset: str):
        self.extractor = extractor
        self.reducer = reducer
        self.clusterer = clusterer
        self.image_shape = tuple(int(size) for size in image_shape)
        self.color = bool(color)
        self.dataset = dataset

    def __getstate__(self) -> dict:
        """Pickled without Keras models: the encoder travels as an artifact."""
        return {**self.__dict__, "extractor": without_keras(self.extractor)}

    def load_context(self, context) -> None:
        path = context.artifacts.get(ENCODER_ARTIFACT)
        if path:
            with open(path, "rb") as stream:
                attach_encoder(self.extractor, stream.read())

    def predict(self, context, model_input: np.ndarray, params=None) -> pd.DataFrame:
        """A table of n rows: `cluster` (int64) and, for probabilistic clusterers,
        `probability_<j>` (float64, each row summing to 1) for images (n, h, w, c) uint8."""
        images = check_images(model_input, self.image_shape, self.dataset)
        embedding = self.embed(images)
        table = pd.DataFrame({"cluster": self.clusterer.predict(embedding).astype(np.int64)})
        if self.clusterer.probabilistic:
            probabilities = self.clusterer.predict_proba(embedding)
            for j in range(probabilities.shape[1]):
                table[f"probability_{j}"] = probabilities[:, j].astype(np.float64)
        return table

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Stored images (n, h, w, c) uint8 -> the clusterer's input (n, d) float32."""
        X = preprocess(images, color=self.color)
        return self.reducer.transform(self.extractor.transform(X))

    def signature(self) -> ModelSignature:
        """Images in as an untyped tensor (checked by the model, see the module docstring);
        `cluster` (and `probability_<j>`) columns out."""
        inputs = Schema([TensorSpec(np.dtype(object), (-1,), "images")])
        columns = [ColSpec("long", "cluster")]
        if self.clusterer.probabilistic:
            n_clusters = len(self.clusterer.cluster_centers_)
            columns += [ColSpec("double", f"probability_{j}") for j in range(n_clusters)]
        return ModelSignature(inputs=inputs, outputs=Schema(columns))

    def metadata(self) -> dict:
        """What the signature does not say: the images the model takes."""
        return {
            "dataset": self.dataset,
            "image_shape": list(self.image_shape),
            "input": f"(n, {', '.join(map(str, self.image_shape))}) uint8 images, 0..255",
        }


def check_images(model_input, image_shape: tuple, dataset: str) -> np.ndarray:
    """`model_input` as uint8 images (n, *image_shape); one MlflowException naming the problem
    and the fix for anything else (a table, non-numbers, a wrong shape, NaN, fractions, values
    off 0..255). Whole numbers of any dtype are taken, as are JSON numbers (an object array)."""
    expected = f"(n, {', '.join(map(str, image_shape))}) uint8 images as {dataset} stores them"
    images = _numeric_array(model_input, expected)
    if images.ndim == len(image_shape) and image_shape[-1] == 1:
        images = images[..., np.newaxis]
    if images.shape[1:] != image_shape or images.ndim != len(image_shape) + 1:
        _invalid(f"got images of shape {images.shape}; send {expected}")
    if images.dtype == np.uint8:
        return images
    if images.dtype.kind == "f":
        _whole(images, expected)
    if images.size and (images.min() < 0 or images.max() > 255):
        _invalid(f"got pixel values in [{images.min():g}, {images.max():g}]; send {expected}")
    return images.astype(np.uint8)


def _numeric_array(model_input, expected: str) -> np.ndarray:
    """The input (a tensor, a one-entry dict of one, JSON lists) as an array of numbers of any
    shape; MlflowException for a table, ragged lists or values that are not numbers."""
    if isinstance(model_input, dict) and len(model_input) == 1:
        model_input = next(iter(model_input.values()))
    if isinstance(model_input, pd.DataFrame):
        _invalid(f'got a table; send {expected} as a tensor (JSON: {{"inputs": [...]}})')
    try:
        images = np.asarray(model_input)
    except ValueError:
        _invalid(f"got ragged nested lists; send {expected}")
    if images.dtype == object:
        images = _numbers(images, expected)
    if images.dtype.kind not in "biuf":
        _invalid(f"got {images.dtype} values; send {expected}")
    return images


def _numbers(images: np.ndarray, expected: str) -> np.ndarray:
    """An object array (JSON numbers as parsed by MLflow's scoring server) as float64."""
    for value in images.flat:
        if isinstance(value, list | tuple | np.ndarray):
            _invalid(f"got ragged nested lists; send {expected}")
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            _invalid(f"got a {type(value).__name__} value ({value!r:.20}); send {expected}")
    return images.astype(np.float64)


def _whole(images: np.ndarray, expected: str) -> None:
    """Float pixels must be finite whole numbers (not images scaled to [0, 1])."""
    finite = np.isfinite(images)
    if not finite.all():
        value = images[~finite].flat[0]
        name = "NaN" if np.isnan(value) else f"{value:g}"
        _invalid(f"the images contain {name} pixels; send {expected}")
    fractional = images != np.round(images)
    if fractional.any():
        _invalid(
            "pixel values must be whole numbers 0..255 as the dataset stores them; got "
            f"{images[fractional].flat[0]:g} (images scaled to [0, 1]?); send {expected}"
        )


def _invalid(message: str):
    raise MlflowException(f"invalid images: {message}", error_code=INVALID_PARAMETER_VALUE)
