"""Shared Keras machinery for the learned extractors: seeding, the training loop, padding helpers.

TensorFlow and Keras are imported inside functions only, so `import clustering.extractors` stays
fast and registering an extractor costs nothing.
"""

import functools
import logging
import math
import os
import sys

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from clustering.checks import check_int
from clustering.errors import BenchError
from clustering.extractors.base import Extractor, check_images
from clustering.space import Space

logger = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the message names the learning rate to lower."""


@functools.cache
def import_tensorflow() -> None:
    """Import TensorFlow once. Unless TF_CPP_MIN_LOG_LEVEL asks for its C++ info lines (0 or
    1), the process's native stderr is silenced meanwhile: absl's banner and oneDNN's notice
    are printed there before any log level applies. Python errors still raise as usual."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("0", "1"):
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@functools.cache
def _enable_op_determinism() -> None:
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def set_seed(seed: int) -> None:
    """The one place that seeds globally: Python, NumPy, TensorFlow and Keras, deterministic ops."""
    import_tensorflow()
    import keras

    keras.utils.set_random_seed(int(seed))
    _enable_op_determinism()


# --- padding: pooling needs sizes it divides; pad with zeros going in, crop coming out ---


def check_depth(name: str, param: str, value, image_shape, n_halvings: int) -> None:
    """BenchError when halving the image `n_halvings` times would leave less than one pixel."""
    h, w = image_shape[:2]
    if min(h, w) < 2**n_halvings:
        most = int(math.floor(math.log2(min(h, w))))
        raise BenchError(
            f"{name}.{param}={value!r} halves the {h}x{w} images {n_halvings} times, below one "
            f"pixel; choose {param} so they are halved at most {most} times"
        )


def pad_to_multiple(x, factor: int):
    """Zero-pad a (batch, h, w, c) tensor so `factor` divides h and w (split evenly both sides)."""
    import keras

    h, w = x.shape[1:3]
    extra_h, extra_w = -h % factor, -w % factor
    if not extra_h and not extra_w:
        return x
    return keras.layers.ZeroPadding2D(
        ((extra_h // 2, extra_h - extra_h // 2), (extra_w // 2, extra_w - extra_w // 2))
    )(x)


def crop_to(x, image_shape):
    """Undo `pad_to_multiple`: crop a (batch, H, W, c) tensor back to `image_shape[:2]`."""
    import keras

    extra_h, extra_w = x.shape[1] - image_shape[0], x.shape[2] - image_shape[1]
    if not extra_h and not extra_w:
        return x
    return keras.layers.Cropping2D(
        ((extra_h // 2, extra_h - extra_h // 2), (extra_w // 2, extra_w - extra_w // 2))
    )(x)


def chain(encoder, decoder, name: str = "autoencoder"):
    """The autoencoder image -> code -> image from an encoder and a decoder model."""
    import keras

    inputs = keras.Input(encoder.input_shape[1:])
    return keras.Model(inputs, decoder(encoder(inputs)), name=name)


def epoch_hooks(name: str, epoch_callback):
    """A Keras callback: stop on a NaN or infinite epoch loss, forward epoch logs to the caller.

    The loss is checked once per epoch (a NaN batch makes the epoch mean NaN): a per-batch hook
    would cost a host sync per step, about a third of the training time of these small models.
    """
    import keras

    class EpochHooks(keras.callbacks.Callback):
        epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_epoch_end(self, epoch, logs=None):
            logs = {key: float(value) for key, value in (logs or {}).items()}
            for key in ("loss", "val_loss"):
                self._check(key, logs.get(key))
            if epoch_callback is not None:
                epoch_callback(epoch, logs)

        def _check(self, key, value):
            if value is not None and not math.isfinite(float(value)):
                kind = "NaN" if math.isnan(float(value)) else "infinite"
                which = "training" if key == "loss" else "validation"
                raise TrainingDiverged(
                    f"{name}: {which} loss became {kind} at epoch {self.epoch + 1}; "
                    f"lower {name}.learning_rate"
                )

    return EpochHooks()


class KerasExtractor(Extractor):
    """A trained Keras model whose encoder gives the features; subclasses only build the model.

    Subclasses define their `__init__` keyword arguments (including the training ones checked
    here: learning_rate, epochs, batch_size, validation_split, patience, random_state) and
    implement `_check_params(image_shape)` and `_build(image_shape, seed)`, which returns
    `(model, encoder, decoder or None)`: `model` (compiled and trained here) maps images to
    reconstructions of the same shape, `encoder` maps images to code vectors (the features),
    `decoder` maps codes to images. `fit` does the rest: clear the Keras session, seed, split off
    a seeded validation set, compile (Adam, mean squared error), train with early stopping on the
    validation loss (best weights restored), forward each epoch's logs.
    """

    learned = True
    reconstructs = True
    decodes = True  # subclasses without a decoder (U-Net) set False and override `decode`
    predict_batch_size = 256  # inference only: does not change the codes
    # training steps per call into the compiled train function: the same batches and updates in
    # the same order (bit-identical losses), with Python's per-step work paid once per 16 steps
    steps_per_execution = 16

    # --- the training part of the search space, shared by the Keras extractors ---

    @classmethod
    def declare_training(cls, space: Space, *, max_epochs: int = 30, batch_sizes=(32, 64, 128)):
        """learning_rate (Adam, log 1e-4..1e-2, default 1e-3), epochs (5..max_epochs, default
        20), batch_size (one of `batch_sizes`, default 32): the original experiments' values."""
        return {
            "learning_rate": space.float("learning_rate", 1e-4, 1e-2, log=True, default=1e-3),
            "epochs": space.int("epochs", 5, max_epochs, default=20),
            "batch_size": space.categorical("batch_size", list(batch_sizes), default=32),
        }

    # --- parameter checks ---

    def _bad(self, param: str, rule: str) -> BenchError:
        return BenchError(f"{self.name}.{param}={getattr(self, param)!r} is invalid; use {rule}")

    def _check_int(self, param: str, low: int) -> None:
        check_int(getattr(self, param), f"{self.name}.{param}", low=low)

    def _check_float(self, param: str, low: float, *, inclusive: bool = False) -> None:
        value = getattr(self, param)
        ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
        ok = ok and math.isfinite(value) and (value >= low if inclusive else value > low)
        if not ok:
            raise self._bad(param, f"a number {'>=' if inclusive else '>'} {low}")

    def _check_choice(self, param: str, choices) -> None:
        if getattr(self, param) not in choices:
            raise self._bad(param, f"one of {', '.join(map(repr, choices))}")

    def _check_widths(self, param: str, *, allow_empty: bool) -> None:
        value = getattr(self, param)
        ok = isinstance(value, tuple | list) and (allow_empty or len(value) > 0)
        ok = ok and all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1 for v in value
        )
        if not ok:
            empty = "" if allow_empty else "non-empty "
            raise self._bad(param, f"a {empty}tuple of integers >= 1")

    def _check_training_params(self, n_samples: int) -> None:
        self._check_float("learning_rate", 0.0)
        self._check_int("epochs", 1)
        self._check_int("batch_size", 1)
        self._check_int("patience", 0)
        value = self.validation_split
        if not isinstance(value, int | float | np.number) or not 0.0 <= value < 1.0:
            raise self._bad("validation_split", "a fraction in [0, 1)")
        if value > 0 and int(n_samples * value) == 0:
            raise BenchError(
                f"{self.name}.validation_split={value} leaves no validation image out of "
                f"{n_samples}; use more images or a larger validation_split (0 disables it)"
            )
        rs = self.random_state
        if rs is not None and not isinstance(rs, int | np.integer | np.random.RandomState):
            raise self._bad("random_state", "an integer, a numpy RandomState or None")

    # --- subclass hooks ---

    def _check_params(self, image_shape) -> None:
        """Raise BenchError for a parameter out of range or an image size the model cannot take."""

    def _build(self, image_shape, seed: int):
        raise NotImplementedError

    def _compile(self, model) -> None:
        import keras

        model.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss="mse",
            steps_per_execution=self.steps_per_execution,
        )

    # --- the sklearn contract ---

    def fit(self, X, y=None, epoch_callback=None):
        """Train on images (n, h, w, c) in [0, 1]; returns self.

        `epoch_callback(epoch, logs)`, when given, is called after every epoch with the 0-based
        epoch number and a dict of floats (`loss`, and `val_loss` when validation_split > 0). It
        may raise (e.g. to prune a trial): training stops and the exception propagates.
        Raises BenchError for bad parameters (before training) and TrainingDiverged when the
        loss becomes NaN or infinite.
        The training recipe (checks, seeding, split, callbacks, fit, fitted state) in order.
        """
        import_tensorflow()
        import keras

        X = check_images(X, f"{self.name}.fit")
        self._check_training_params(len(X))
        self._check_params(X.shape[1:])

        keras.backend.clear_session()  # flat memory across many trials in one process
        seed = self._seed()
        set_seed(seed)
        order = np.random.default_rng(seed).permutation(len(X))
        n_val = int(len(X) * self.validation_split)
        X_train, X_val = X[order[n_val:]], X[order[:n_val]]

        model, encoder, decoder = self._build(X.shape[1:], seed)
        self._compile(model)
        # slot variables made eagerly here, not inside the traced train step: halves the trace
        model.optimizer.build(model.trainable_variables)
        callbacks = [
            epoch_hooks(self.name, epoch_callback),
            keras.callbacks.EarlyStopping(
                monitor="val_loss" if n_val else "loss",
                patience=self.patience,
                restore_best_weights=True,
            ),
        ]
        history = self._train(model, X_train, X_val, callbacks)
        self.model_, self.encoder_, self.decoder_ = model, encoder, decoder
        self.history_ = {key: [float(v) for v in values] for key, values in history.history.items()}
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        self.n_features_out_ = int(encoder.output_shape[-1])
        logger.info(
            "%s: %d epochs, final loss %.4g",
            self.name,
            len(self.history_["loss"]),
            self.history_["loss"][-1],
        )
        return self

    def transform(self, X) -> np.ndarray:
        """Codes (n, n_features_out_) float32 of images shaped like the training images."""
        X = self._check_fitted_images(X, "transform")
        return self._predict(self.encoder_, X).reshape(len(X), -1)

    def reconstruct(self, X) -> np.ndarray:
        """The model's reconstructions, float32 with the shape of X."""
        shape = np.shape(X)
        X = self._check_fitted_images(X, "reconstruct")
        return self._predict(self.model_, X).reshape(shape)

    def decode(self, codes) -> np.ndarray:
        """Images (n, h, w, c) float32 in [0, 1] from codes (n, n_features_out_)."""
        check_is_fitted(self, "image_shape_")
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[1] != self.n_features_out_ or not len(codes):
            raise BenchError(
                f"{self.name}.decode expects codes of shape (n, {self.n_features_out_}), "
                f"got {codes.shape}"
            )
        return self._predict(self.decoder_, codes)

    # --- helpers ---

    def _train(self, model, X_train, X_val, callbacks):
        """Keras's fit on the images (n, h, w, c) as inputs and targets, shuffled every epoch,
        validated on X_val when it holds any; returns the History."""
        return model.fit(
            X_train,
            X_train,
            validation_data=(X_val, X_val) if len(X_val) else None,
            epochs=self.epochs,
            batch_size=self.batch_size,
            shuffle=True,
            callbacks=callbacks,
            verbose=0,
        )

    def _predict(self, model, X) -> np.ndarray:
        """Eager batched inference: no tf.function to trace per model, so no retracing warnings."""
        step = self.predict_batch_size
        batches = [model(X[i : i + step], training=False) for i in range(0, len(X), step)]
        return np.concatenate([np.asarray(b, dtype=np.float32) for b in batches])

    def _seed(self) -> int:
        """The int seed: random_state itself, one drawn from a RandomState, or fresh for None."""
        if isinstance(self.random_state, int | np.integer):
            return int(self.random_state)
        if self.random_state is None:  # not the global NumPy state, which set_seed resets
            return int(np.random.default_rng().integers(np.iinfo(np.int32).max))
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
