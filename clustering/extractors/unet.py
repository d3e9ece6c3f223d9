"""`unet`: a U-Net autoencoder; the features are its bottleneck, global-average-pooled."""

from clustering.extractors.base import EXTRACTORS
from clustering.extractors.keras_base import KerasExtractor, check_depth, crop_to, pad_to_multiple
from clustering.space import Space


def build_unet(image_shape, depth: int, base_filters: int):
    """(model, encoder): `depth` levels of two 3x3 convs + MaxPool(2), a bottleneck, and the
    mirrored up-convolutions (Conv2DTranspose 2x2) concatenated with the skip connections.
    Each conv is He-initialised and batch-normalised before its ReLU: without both, the
    MSE-trained sigmoid output went dark after one epoch on MNIST for every seed tried (loss
    stuck at the mean squared pixel, 0.102, no gradient left).

    The encoder maps images to the global average of the bottleneck: `base_filters * 2**depth`
    features whatever the image size.
    """
    import keras
    from keras import layers

    def conv_block(x, n_filters):
        for _ in range(2):
            x = layers.Conv2D(
                n_filters, 3, padding="same", use_bias=False, kernel_initializer="he_uniform"
            )(x)
            x = layers.Activation("relu")(layers.BatchNormalization()(x))
        return x

    inputs = keras.Input(image_shape)
    x = pad_to_multiple(inputs, 2**depth)
    skips = []
    for level in range(depth):
        x = conv_block(x, base_filters * 2**level)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = conv_block(x, base_filters * 2**depth)
    code = layers.GlobalAveragePooling2D()(x)
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(base_filters * 2**level, 2, strides=2, padding="same")(x)
        x = conv_block(layers.Concatenate()([x, skips[level]]), base_filters * 2**level)
    x = layers.Conv2D(image_shape[-1], 1, activation="sigmoid")(x)
    model = keras.Model(inputs, crop_to(x, image_shape), name="unet")
    return model, keras.Model(inputs, code, name="encoder")


@EXTRACTORS.register("unet")
class UNet(KerasExtractor):
    """U-Net autoencoder (Adam, MSE); the code is the bottleneck, global-average-pooled.

    Global average pooling (not flattening) keeps the code small and independent of the image
    size: `base_filters * 2**depth` features (64 by default). The skip connections carry most of
    the detail to the decoder, so the bottleneck need not hold everything; `decode` is therefore
    unavailable (the decoder needs the skips), use `reconstruct`. `depth` halvings must leave at
    least one pixel: depth <= 3 on 8x8 digits.
    """

    version = 2  # 2: batch-normalised, He-initialised convolutions
    decodes = False

    def __init__(
        self,
        depth=2,
        base_filters=16,
        learning_rate=1e-3,
        epochs=20,
        batch_size=32,
        validation_split=0.1,
        patience=3,
        random_state=0,
    ):
        self.depth = depth
        self.base_filters = base_filters
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.patience = patience
        self.random_state = random_state

    @classmethod
    def declare(cls, space: Space) -> dict:
        return {
            "depth": space.int("depth", 1, 3, default=2),
            "base_filters": space.categorical("base_filters", [8, 16, 32], default=16),
            **cls.declare_training(space),
        }

    def _check_params(self, image_shape) -> None:
        self._check_int("depth", 1)
        self._check_int("base_filters", 1)
        check_depth(self.name, "depth", self.depth, image_shape, self.depth)

    def _build(self, image_shape, seed):
        model, encoder = build_unet(image_shape, self.depth, self.base_filters)
        return model, encoder, None

    def decode(self, codes):
        raise NotImplementedError(
            f"{self.name} cannot decode codes alone (its decoder needs the encoder's skip "
            "connections); use reconstruct(X)"
        )
