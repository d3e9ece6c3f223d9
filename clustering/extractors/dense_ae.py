"""`dense_ae`: a fully connected autoencoder; the features are its code layer."""

import math

from clustering.extractors.base import EXTRACTORS
from clustering.extractors.keras_base import KerasExtractor, chain
from clustering.space import Space


def build_dense_autoencoder(image_shape, code_size: int, hidden_layers=()):
    """Flatten -> Dense(hidden...) -> Dense(code_size) and the mirrored decoder (sigmoid pixels)."""
    import keras
    from keras import layers

    inputs = keras.Input(image_shape)
    x = layers.Flatten()(inputs)
    for width in hidden_layers:
        x = layers.Dense(width, activation="relu")(x)
    code = layers.Dense(code_size, activation="relu")(x)
    encoder = keras.Model(inputs, code, name="encoder")

    code_in = keras.Input((code_size,))
    x = code_in
    for width in reversed(hidden_layers):
        x = layers.Dense(width, activation="relu")(x)
    x = layers.Dense(math.prod(image_shape), activation="sigmoid")(x)
    decoder = keras.Model(code_in, layers.Reshape(image_shape)(x), name="decoder")
    return encoder, decoder


@EXTRACTORS.register("dense_ae")
class DenseAutoencoder(KerasExtractor):
    """Flatten, dense encoder to a `code_size` ReLU code, mirrored decoder; Adam, MSE.

    The defaults are the original experiment: pixels -> 64 -> pixels (1024 -> 64 -> 1024 on 32x32
    gray images), no hidden layer. `hidden_layers` adds ReLU layers of those widths between the
    pixels and the code (mirrored in the decoder).
    """

    def __init__(
        self,
        code_size=64,
        hidden_layers=(),
        learning_rate=1e-3,
        epochs=20,
        batch_size=32,
        validation_split=0.1,
        patience=3,
        random_state=0,
    ):
        self.code_size = code_size
        self.hidden_layers = hidden_layers
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.patience = patience
        self.random_state = random_state

    @classmethod
    def declare(cls, space: Space) -> dict:
        n_hidden = space.int("n_hidden", 0, 2, default=0)
        width = space.categorical("hidden_width", [128, 256, 512], default=256) if n_hidden else 0
        return {
            "code_size": space.int("code_size", 8, 128, log=True, default=64),
            "hidden_layers": tuple(width // 2**i for i in range(n_hidden)),  # narrowing to code
            **cls.declare_training(space),
        }

    def _check_params(self, image_shape) -> None:
        self._check_int("code_size", 1)
        self._check_widths("hidden_layers", allow_empty=True)

    def _build(self, image_shape, seed):
        encoder, decoder = build_dense_autoencoder(
            image_shape, self.code_size, tuple(self.hidden_layers)
        )
        return chain(encoder, decoder), encoder, decoder
