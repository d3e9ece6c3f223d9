"""`vae`: a variational autoencoder (as in the keras-io VAE example); the features are z_mean."""

import functools
import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from clustering.extractors.base import EXTRACTORS
from clustering.extractors.keras_base import KerasExtractor, check_depth, crop_to, pad_to_multiple
from clustering.space import Space


@functools.cache
def _keras_classes():
    """The Sampling layer and the VAE model, defined on first use so Keras loads lazily.
    Two Keras classes defined together, on first use, so importing the module stays cheap."""
    import keras
    import tensorflow as tf
    from keras import ops

    class Sampling(keras.layers.Layer):
        """z = z_mean + exp(z_log_var / 2) * epsilon, epsilon ~ N(0, I) from a seeded generator."""

        def __init__(self, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    class VAEModel(keras.Model):
        """Encoder (z_mean, z_log_var, z) and decoder; loss = reconstruction + beta * KL.

        The reconstruction term is the binary crossentropy summed over all pixels and channels,
        averaged over the batch (the keras-io choice; pixels are in [0, 1]). Calling the model
        reconstructs deterministically from z_mean.
        """

        def __init__(self, encoder, decoder, beta=1.0, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.beta = beta
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.kl_tracker = keras.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

        def call(self, inputs, training=False):
            z_mean, _, _ = self.encoder(inputs, training=training)
            return self.decoder(z_mean, training=training)

        def _loss_terms(self, x, training):
            z_mean, z_log_var, z = self.encoder(x, training=training)
            reconstruction = self.decoder(z, training=training)
            pixel_losses = ops.binary_crossentropy(x, reconstruction)
            reconstruction_loss = ops.mean(ops.sum(pixel_losses, axis=(1, 2, 3)))
            kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl, axis=1))
            return reconstruction_loss + self.beta * kl_loss, reconstruction_loss, kl_loss

        def _record(self, loss, reconstruction_loss, kl_loss):
            self.loss_tracker.update_state(loss)
            self.reconstruction_tracker.update_state(reconstruction_loss)
            self.kl_tracker.update_state(kl_loss)
            return {m.name: m.result() for m in self.metrics}

        def train_step(self, data):
            x = keras.utils.unpack_x_y_sample_weight(data)[0]
            with tf.GradientTape() as tape:
                losses = self._loss_terms(x, training=True)
            grads = tape.gradient(losses[0], self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
            return self._record(*losses)

        def test_step(self, data):
            x = keras.utils.unpack_x_y_sample_weight(data)[0]
            return self._record(*self._loss_terms(x, training=False))

    return Sampling, VAEModel


def build_vae(image_shape, encoder_kind, latent_dim, filters, hidden_units, beta, seed):
    """(vae, encoder -> (z_mean, z_log_var, z), decoder z -> images).

    "conv": Conv2D(f, 3x3, stride 2, ReLU) per entry of `filters` -> Flatten -> Dense(hidden)
    and the mirrored Conv2DTranspose decoder (keras-io); "dense": Flatten -> Dense(hidden) and
    Dense(hidden) -> Dense(pixels). Images are zero-padded for the strides, outputs cropped back.
    """
    import keras
    from keras import layers

    Sampling, VAEModel = _keras_classes()

    inputs = keras.Input(image_shape)
    if encoder_kind == "conv":
        x = pad_to_multiple(inputs, 2 ** len(filters))
        for n_filters in filters:
            x = layers.Conv2D(n_filters, 3, strides=2, padding="same", activation="relu")(x)
        spatial_shape = tuple(x.shape[1:])
    else:
        x = inputs
    x = layers.Dense(hidden_units, activation="relu")(layers.Flatten()(x))
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling(seed=seed)([z_mean, z_log_var])
    encoder = keras.Model(inputs, [z_mean, z_log_var, z], name="encoder")

    latent = keras.Input((latent_dim,))
    if encoder_kind == "conv":
        x = layers.Dense(math.prod(spatial_shape), activation="relu")(latent)
        x = layers.Reshape(spatial_shape)(x)
        for n_filters in reversed(filters):
            up = layers.Conv2DTranspose(n_filters, 3, strides=2, padding="same", activation="relu")
            x = up(x)
        x = layers.Conv2DTranspose(image_shape[-1], 3, padding="same", activation="sigmoid")(x)
        outputs = crop_to(x, image_shape)
    else:
        x = layers.Dense(hidden_units, activation="relu")(latent)
        x = layers.Dense(math.prod(image_shape), activation="sigmoid")(x)
        outputs = layers.Reshape(image_shape)(x)
    decoder = keras.Model(latent, outputs, name="decoder")
    return VAEModel(encoder, decoder, beta=beta, name="vae"), encoder, decoder


@EXTRACTORS.register("vae")
class VariationalAutoencoder(KerasExtractor):
    """Variational autoencoder: the features are z_mean; `decode(z)` and `sample(n)` give images.

    Loss per image: binary crossentropy summed over pixels and channels + `beta` * KL(q(z|x) ||
    N(0, I)), trained with a custom `train_step` (GradientTape) and a `test_step` (so `val_loss`
    exists for early stopping and pruning); the validation loss samples z like training, from
    its own seeded generator. `encoder="conv"` uses strided convolutions with `filters` (the
    keras-io architecture, `filters` halvings of the image), `"dense"` one hidden layer of
    `hidden_units` (`filters` is then ignored).
    """

    samples = True

    def __init__(
        self,
        latent_dim=16,
        encoder="conv",
        filters=(32, 64),
        hidden_units=64,
        beta=1.0,
        learning_rate=1e-3,
        epochs=20,
        batch_size=32,
        validation_split=0.1,
        patience=3,
        random_state=0,
    ):
        self.latent_dim = latent_dim
        self.encoder = encoder
        self.filters = filters
        self.hidden_units = hidden_units
        self.beta = beta
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.patience = patience
        self.random_state = random_state

    @classmethod
    def declare(cls, space: Space) -> dict:
        params = {"encoder": space.categorical("encoder", ["conv", "dense"], default="conv")}
        if params["encoder"] == "conv":
            n_conv = space.int("conv_layers", 1, 3, default=2)
            base = space.categorical("base_filters", [16, 32], default=32)
            params["filters"] = tuple(base * 2**i for i in range(n_conv))
        return {
            **params,
            "latent_dim": space.int("latent_dim", 2, 64, log=True, default=16),
            "hidden_units": space.int("hidden_units", 16, 256, log=True, default=64),
            "beta": space.float("beta", 0.1, 4.0, log=True, default=1.0),
            **cls.declare_training(space),
        }

    def _check_params(self, image_shape) -> None:
        self._check_int("latent_dim", 1)
        self._check_choice("encoder", ("conv", "dense"))
        self._check_int("hidden_units", 1)
        self._check_float("beta", 0.0, inclusive=True)
        if self.encoder == "conv":
            self._check_widths("filters", allow_empty=False)
            check_depth(self.name, "filters", self.filters, image_shape, len(self.filters))

    def _build(self, image_shape, seed):
        import keras

        vae, encoder, decoder = build_vae(
            image_shape,
            self.encoder,
            self.latent_dim,
            tuple(self.filters),
            self.hidden_units,
            self.beta,
            seed,
        )
        # the features are z_mean; (z_log_var, z) serve training only
        return vae, keras.Model(encoder.input, encoder.outputs[0], name="z_mean"), decoder

    def _compile(self, model) -> None:
        import keras

        model.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            steps_per_execution=self.steps_per_execution,
        )

    def sample(self, n: int, random_state=0) -> np.ndarray:
        """`n` new images (n, h, w, c) decoded from z ~ N(0, I) drawn with `random_state`."""
        check_is_fitted(self, "image_shape_")
        rng = np.random.default_rng(random_state)
        return self.decode(rng.standard_normal((n, self.latent_dim)).astype(np.float32))
