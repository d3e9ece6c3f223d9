"""`conv_ae`: a sparse convolutional autoencoder; the features are its (flattened) code."""

import math

from clustering.extractors.base import EXTRACTORS
from clustering.extractors.keras_base import (
    KerasExtractor,
    chain,
    check_depth,
    crop_to,
    pad_to_multiple,
)
from clustering.space import Space


def build_conv_autoencoder(
    image_shape, filters, kernel_size: int, l1: float, bottleneck: str, code_size: int
):
    """Conv(f, ReLU, L1) -> MaxPool(2) per block = the code; mirrored Conv -> UpSampling decoder.

    With bottleneck "dense", Flatten -> Dense(code_size) sits between the blocks (Dense back and
    reshape in the decoder). Images are zero-padded so the poolings divide them and the output is
    cropped back. ReLU convolutions start from He initialisation: with Keras's default (Glorot)
    the single-filter code of the original design goes dead on 8x8 digits (all codes zero).
    """
    import keras
    from keras import layers

    def conv(n_filters, activation="relu", penalty=0.0):
        regularizer = keras.regularizers.L1(penalty) if penalty else None
        return layers.Conv2D(
            n_filters,
            kernel_size,
            padding="same",
            activation=activation,
            activity_regularizer=regularizer,
            kernel_initializer="he_uniform" if activation == "relu" else "glorot_uniform",
        )

    inputs = keras.Input(image_shape)
    x = pad_to_multiple(inputs, 2 ** len(filters))
    for n_filters in filters:
        x = layers.MaxPooling2D(2)(conv(n_filters, penalty=l1)(x))
    spatial_shape = tuple(x.shape[1:])
    x = layers.Flatten()(x)
    if bottleneck == "dense":
        regularizer = keras.regularizers.L1(l1) if l1 else None
        x = layers.Dense(code_size, activation="relu", activity_regularizer=regularizer)(x)
    encoder = keras.Model(inputs, x, name="encoder")

    code_in = keras.Input((x.shape[-1],))
    x = code_in
    if bottleneck == "dense":
        x = layers.Dense(math.prod(spatial_shape), activation="relu")(x)
    x = layers.Reshape(spatial_shape)(x)
    for n_filters in reversed(filters):
        x = layers.UpSampling2D(2)(conv(n_filters)(x))
    x = conv(image_shape[-1], activation="sigmoid")(x)
    decoder = keras.Model(code_in, crop_to(x, image_shape), name="decoder")
    return encoder, decoder


@EXTRACTORS.register("conv_ae")
class ConvAutoencoder(KerasExtractor):
    """Sparse convolutional autoencoder; Adam, MSE, batch 32.

    The defaults are the original sparse variant: Conv2D(3, 5x5, ReLU, L1 activity) -> MaxPool(2)
    -> Conv2D(1, 5x5, ReLU, L1) -> MaxPool(2) = the code (8x8 = 64 features on 32x32 images,
    2x2 = 4 on 8x8 digits), then Conv2D(1) -> UpSampling(2) -> Conv2D(3) -> UpSampling(2) ->
    Conv2D(channels, sigmoid). `filters` has one entry per block. `l1` weighs the sum of absolute
    code activations per image (Keras divides the batch sum by the batch size); the default 1e-5
    keeps the codes sparse-leaning without driving the ReLUs to zero, 0 disables it.
    `bottleneck="dense"` flattens the last block into a Dense(`code_size`) code; `code_size` is
    ignored for the "spatial" bottleneck.
    """

    def __init__(
        self,
        filters=(3, 1),
        kernel_size=5,
        l1=1e-5,
        bottleneck="spatial",
        code_size=64,
        learning_rate=1e-3,
        epochs=20,
        batch_size=32,
        validation_split=0.1,
        patience=3,
        random_state=0,
    ):
        self.filters = filters
        self.kernel_size = kernel_size
        self.l1 = l1
        self.bottleneck = bottleneck
        self.code_size = code_size
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.patience = patience
        self.random_state = random_state

    @classmethod
    def declare(cls, space: Space) -> dict:
        n_blocks = space.int("n_blocks", 1, 3, default=2)
        default_filters = (3, 1)  # the original sparse variant; deeper blocks default to 1
        filters = tuple(
            space.int(f"filters_{i}", 1, 32, log=True, default=default_filters[min(i, 1)])
            for i in range(n_blocks)
        )
        params = {
            "filters": filters,
            "kernel_size": space.categorical("kernel_size", [3, 5], default=5),
            "l1": space.float("l1", 1e-7, 1e-3, log=True, default=1e-5),
            "bottleneck": space.categorical("bottleneck", ["spatial", "dense"], default="spatial"),
        }
        if params["bottleneck"] == "dense":
            params["code_size"] = space.int("code_size", 8, 128, log=True, default=64)
        return {**params, **cls.declare_training(space)}

    def _check_params(self, image_shape) -> None:
        self._check_widths("filters", allow_empty=False)
        self._check_int("kernel_size", 1)
        self._check_float("l1", 0.0, inclusive=True)
        self._check_choice("bottleneck", ("spatial", "dense"))
        self._check_int("code_size", 1)
        check_depth(self.name, "filters", self.filters, image_shape, len(self.filters))

    def _build(self, image_shape, seed):
        encoder, decoder = build_conv_autoencoder(
            image_shape,
            tuple(self.filters),
            self.kernel_size,
            self.l1,
            self.bottleneck,
            self.code_size,
        )
        return chain(encoder, decoder), encoder, decoder
