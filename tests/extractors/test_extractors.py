"""The extractor contract, run over every registered extractor, plus the Keras training loop.

Trainings are tiny (a few hundred real images, 1-2 epochs): these tests prove shapes, plumbing
and determinism, not feature quality.
"""

import math
import subprocess
import sys

import numpy as np
import optuna
import pytest
from sklearn.exceptions import NotFittedError

from clustering import data as datasets
from clustering.errors import BenchError
from clustering.extractors import EXTRACTORS, KerasExtractor, TrainingDiverged
from clustering.extractors.keras_base import epoch_hooks
from tests.space_checks import assert_known_params_enqueue, assert_params_in_space

pytestmark = pytest.mark.slow  # see pyproject.toml's markers

NAMES = EXTRACTORS.names()
LEARNED = [name for name in NAMES if issubclass(EXTRACTORS.get(name), KerasExtractor)]
CONVOLUTIONAL = [name for name in LEARNED if name != "dense_ae"]
TINY = {"epochs": 2, "batch_size": 64}
CHECKED = ["patch_kmeans", "hog"]  # extractors outside Keras that check their parameters
TINY_BY_NAME = {"patch_kmeans": {"n_atoms": 16, "n_patches": 2000, "n_components": 8}}


def make(name: str, **params):
    cls = EXTRACTORS.get(name)
    tiny = TINY if name in LEARNED else TINY_BY_NAME.get(name, {})
    return cls(**{**tiny, **params})


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """300 real 8x8 digits, (300, 8, 8, 1) float32 in [0, 1]."""
    return datasets.preprocess(datasets.load("digits", limit=300).images)


@pytest.fixture(scope="module")
def fitted(digits):
    """Each extractor fitted once on the digits (2 epochs), with the epoch logs it reported."""
    cache = {}

    def get(name):
        if name not in cache:
            calls = []
            extractor = make(name)
            extractor.fit(digits, epoch_callback=lambda e, logs: calls.append((e, logs)))
            cache[name] = (extractor, extractor.transform(digits), calls)
        return cache[name]

    return get


# --- the contract, for every registered extractor ---


@pytest.mark.parametrize("name", NAMES)
def test_transform_gives_float32_codes_one_row_per_image(fitted, digits, name):
    extractor, codes, _ = fitted(name)
    assert codes.dtype == np.float32
    assert codes.ndim == 2 and codes.shape[0] == len(digits) and codes.shape[1] >= 1
    assert np.isfinite(codes).all()


@pytest.mark.parametrize("name", NAMES)
def test_same_random_state_gives_same_codes(fitted, digits, name):
    first, codes, _ = fitted(name)
    again = make(name)
    again.fit(digits)
    np.testing.assert_allclose(again.transform(digits), codes, rtol=0, atol=1e-6)
    # the earlier model still works after the refit cleared the Keras session
    np.testing.assert_allclose(first.transform(digits), codes, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_default_params_trial_gives_init_defaults(name):
    cls = EXTRACTORS.get(name)
    defaults = cls.default_params()
    assert all(key.startswith(f"{name}.") for key in defaults)
    trial = optuna.trial.FixedTrial(defaults)
    params = cls.search_space(trial)
    assert cls(**params).get_params() == cls().get_params()
    assert set(trial.params) == set(defaults)  # every default is a parameter the space asks for


@pytest.mark.parametrize("name", NAMES)
def test_search_space_proposes_valid_configurations_for_digits(name):
    cls = EXTRACTORS.get(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        params = cls.search_space(trial)
        assert all(key.startswith(f"{name}.") for key in trial.params)
        if name in LEARNED:
            extractor = cls(**params)
            extractor._check_training_params(300)
            extractor._check_params((8, 8, 1))
            assert 5 <= params["epochs"] <= 60
        elif name in CHECKED:  # the spaces of the patch and gradient features: CIFAR-sized
            cls(**params)._check_params((32, 32, 3))


@pytest.mark.parametrize("name", NAMES)
def test_defaults_and_presets_lie_in_the_space(name):
    assert_params_in_space(EXTRACTORS.get(name))


@pytest.mark.parametrize("name", NAMES)
def test_known_params_can_be_enqueued(name):
    assert_known_params_enqueue(EXTRACTORS.get(name))


@pytest.mark.parametrize("name", NAMES)
def test_every_extractor_takes_a_random_state(name):
    assert EXTRACTORS.get(name)(random_state=3).get_params()["random_state"] == 3


@pytest.mark.parametrize("name", NAMES)
def test_abilities_work_where_flagged_and_raise_elsewhere(fitted, digits, name):
    extractor, codes, _ = fitted(name)
    abilities = {
        "reconstructs": (lambda: extractor.reconstruct(digits[:4]), (4, 8, 8, 1)),
        "decodes": (lambda: extractor.decode(codes[:4]), (4, 8, 8, 1)),
        "samples": (lambda: extractor.sample(4, random_state=0), (4, 8, 8, 1)),
    }
    for flag, (call, shape) in abilities.items():
        if getattr(type(extractor), flag):
            images = call()
            assert images.shape == shape and images.dtype == np.float32, flag
        else:
            with pytest.raises(NotImplementedError):
                call()


@pytest.mark.parametrize("name", NAMES)
def test_reconstruct_has_the_input_shape(fitted, digits, name):
    extractor, _, _ = fitted(name)
    if not extractor.reconstructs:
        pytest.skip(f"{name} does not reconstruct")
    images = extractor.reconstruct(digits[:7])
    assert images.shape == digits[:7].shape and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1


@pytest.mark.parametrize("name", LEARNED)
def test_learned_extractors_are_flagged_and_record_history(fitted, name):
    extractor, _, _ = fitted(name)
    assert type(extractor).learned is True
    assert len(extractor.history_["loss"]) == len(extractor.history_["val_loss"]) == 2


@pytest.mark.parametrize("name", LEARNED)
def test_epoch_callback_gets_loss_and_val_loss_once_per_epoch(fitted, name):
    _, _, calls = fitted(name)
    assert [epoch for epoch, _ in calls] == [0, 1]
    for _, logs in calls:
        assert {"loss", "val_loss"} <= set(logs)
        assert all(isinstance(v, float) and math.isfinite(v) for v in logs.values())


@pytest.mark.parametrize("name", LEARNED)
def test_raising_from_epoch_callback_stops_training(digits, name):
    class Stop(Exception):
        pass

    epochs = []

    def stop(epoch, logs):
        epochs.append(epoch)
        raise Stop("pruned")

    with pytest.raises(Stop, match="pruned"):
        make(name, epochs=5, validation_split=0).fit(digits, epoch_callback=stop)
    assert epochs == [0]


@pytest.mark.parametrize("name", LEARNED)
def test_several_steps_per_call_train_exactly_as_one(fitted, digits, name):
    """The shipped steps_per_execution only batches calls: the same codes as one training
    step per call (Keras's default), and the same epoch losses up to float32 rounding of the
    running means that log them."""
    shipped, codes, _ = fitted(name)
    assert type(shipped).steps_per_execution > 1
    one = make(name)
    one.steps_per_execution = 1
    one.fit(digits)
    np.testing.assert_array_equal(one.transform(digits), codes)
    assert one.history_.keys() == shipped.history_.keys()
    for key, values in one.history_.items():
        np.testing.assert_allclose(values, shipped.history_[key], rtol=1e-6)


# --- sizes, colour and padding ---


@pytest.fixture(scope="module")
def mnist(test_data):
    return datasets.preprocess(datasets.load("mnist", data_dir=test_data, limit=60).images)


@pytest.fixture(scope="module")
def cifar_color(test_data):
    dataset = datasets.load("cifar10", data_dir=test_data / "cifar10", limit=60)
    return datasets.preprocess(dataset.images, color=True)


@pytest.mark.parametrize("name", NAMES)
def test_every_extractor_keeps_colour(cifar_color, name):
    """RGB images (60, 32, 32, 3) go through every extractor: codes one row per image, and
    images that come back (reconstructions, decoded codes) keep their three channels."""
    extractor = make(name, **({"epochs": 1, "validation_split": 0} if name in LEARNED else {}))
    codes = extractor.fit(cifar_color).transform(cifar_color)
    assert codes.shape[0] == len(cifar_color) and codes.dtype == np.float32
    assert extractor.image_shape_ == (32, 32, 3)
    if extractor.reconstructs:
        assert extractor.reconstruct(cifar_color[:2]).shape == (2, 32, 32, 3)
    if extractor.decodes:
        assert extractor.decode(codes[:2]).shape == (2, 32, 32, 3)
    with pytest.raises(BenchError, match="fitted on images of shape"):
        extractor.transform(cifar_color[..., :1])  # gray images to a colour model


def test_colour_codes_differ_from_gray_codes(cifar_color):
    """Colour is used, not dropped: hog and patch_kmeans codes of RGB and gray images differ."""
    gray = np.repeat(cifar_color.mean(axis=-1, keepdims=True), 3, axis=-1)
    for name in CHECKED:
        extractor = make(name).fit(cifar_color)
        assert not np.allclose(extractor.transform(cifar_color), extractor.transform(gray))


def test_unet_keeps_learning_on_mnist(test_data):
    """The U-Net once went dark after its first epoch on these images (loss stuck at the mean
    squared pixel, the loss of an all-black output, for seeds 0-2); it must keep learning."""
    X = datasets.preprocess(datasets.load("mnist", data_dir=test_data).images)
    unet = make("unet", epochs=3, batch_size=32, validation_split=0, random_state=1).fit(X)
    losses = unet.history_["loss"]
    assert losses[2] < 0.98 * losses[1] < 0.98 * losses[0]
    assert losses[2] < float(np.mean(X**2))  # below an all-black output's loss


@pytest.mark.parametrize("name", CONVOLUTIONAL)
@pytest.mark.parametrize("images", ["mnist", "cifar_color"])
def test_fits_28x28_gray_and_32x32_colour_images(request, name, images):
    X = request.getfixturevalue(images)
    extractor = make(name, epochs=1, validation_split=0)  # no validation: one trace less
    codes = extractor.fit(X).transform(X)
    assert codes.shape[0] == len(X) and codes.dtype == np.float32
    assert extractor.reconstruct(X[:3]).shape == X[:3].shape


def test_conv_ae_default_code_is_the_quarter_size_map(fitted, digits):
    extractor, codes, _ = fitted("conv_ae")  # 8x8 -> two poolings -> 2x2 x 1 filter
    assert codes.shape == (len(digits), 4)


ODD_SIZE_PARAMS = {"conv_ae": {"bottleneck": "dense", "code_size": 12}}


@pytest.mark.parametrize("name", CONVOLUTIONAL)
def test_odd_image_size_is_padded_and_cropped_back(digits, name):
    X = digits[:, :7, :6]  # 7x6: zero-padded so the poolings divide it, cropped back
    extractor = make(name, epochs=1, validation_split=0, **ODD_SIZE_PARAMS.get(name, {}))
    extractor.fit(X)
    assert set(extractor.history_) >= {"loss"} and "val_loss" not in extractor.history_
    assert extractor.reconstruct(X).shape == X.shape
    codes = extractor.transform(X[:5])
    assert len(codes) == 5
    if name == "conv_ae":
        assert codes.shape == (5, 12)  # the dense bottleneck's code_size
    if extractor.decoder_ is not None:
        assert extractor.decode(codes).shape == (5, 7, 6, 1)


def test_raw_decodes_pixels_back_into_images(fitted, digits):
    raw, codes, _ = fitted("raw")
    np.testing.assert_array_equal(raw.decode(codes), digits)


def test_unet_says_why_it_cannot_decode(fitted):
    unet, codes, _ = fitted("unet")
    with pytest.raises(NotImplementedError, match="skip connections"):
        unet.decode(codes[:4])


def test_n2d_preset_is_the_dec_autoencoder_with_a_linear_code(digits):
    cls = EXTRACTORS.get("dense_ae")
    params = cls.search_space(optuna.trial.FixedTrial(cls.default_params("n2d")))
    assert params["hidden_layers"] == (500, 500, 2000) and params["code_size"] == 10
    extractor = cls(**{**params, "epochs": 1}).fit(digits)
    dense = [layer for layer in extractor.encoder_.layers if layer.name.startswith("dense")]
    assert [layer.units for layer in dense] == [500, 500, 2000, 10]
    assert [layer.activation.__name__ for layer in dense] == ["relu"] * 3 + ["linear"]
    assert "val_loss" not in extractor.history_  # N2D trains on every image
    assert (extractor.transform(digits) < 0).any()  # a linear code, not a ReLU one


def test_vae_samples_are_seeded_images(fitted):
    vae, _, _ = fitted("vae")
    images = vae.sample(5, random_state=3)
    assert images.shape == (5, 8, 8, 1) and images.dtype == np.float32
    np.testing.assert_array_equal(images, vae.sample(5, random_state=3))
    assert vae.history_["val_kl_loss"] and vae.history_["val_reconstruction_loss"]


# --- errors ---


BAD_PARAMS = [
    ("dense_ae", {"code_size": 0}, "dense_ae.code_size=0"),
    ("dense_ae", {"hidden_layers": (64, 0)}, "dense_ae.hidden_layers"),
    ("dense_ae", {"learning_rate": 0.0}, "dense_ae.learning_rate=0.0"),
    ("dense_ae", {"learning_rate": -1e-3}, "dense_ae.learning_rate"),
    ("dense_ae", {"epochs": 0}, "dense_ae.epochs=0"),
    ("dense_ae", {"batch_size": 0}, "dense_ae.batch_size=0"),
    ("dense_ae", {"validation_split": 1.0}, "dense_ae.validation_split=1.0"),
    ("dense_ae", {"patience": -1}, "dense_ae.patience=-1"),
    ("conv_ae", {"bottleneck": "wide"}, "conv_ae.bottleneck='wide'"),
    ("conv_ae", {"l1": -1e-5}, "conv_ae.l1"),
    ("conv_ae", {"filters": ()}, "conv_ae.filters=()"),
    ("conv_ae", {"filters": (3, 3, 3, 1)}, "conv_ae.filters=(3, 3, 3, 1) halves the 8x8 images 4"),
    ("conv_ae", {"bottleneck": "dense", "code_size": 0}, "conv_ae.code_size=0"),
    ("unet", {"depth": 4}, "unet.depth=4 halves the 8x8 images 4 times"),
    ("unet", {"depth": 0}, "unet.depth=0"),
    ("unet", {"base_filters": 0}, "unet.base_filters=0"),
    ("vae", {"beta": -0.5}, "vae.beta=-0.5"),
    ("vae", {"encoder": "rnn"}, "vae.encoder='rnn'"),
    ("vae", {"latent_dim": 0}, "vae.latent_dim=0"),
    ("vae", {"filters": (8, 8, 8, 8)}, "vae.filters"),
    ("patch_kmeans", {"patch_size": 9}, "patch_kmeans.patch_size=9 is larger than the 8x8"),
    ("patch_kmeans", {"pooling": 3}, "patch_kmeans.pooling=3 needs at least 3 patch positions"),
    ("patch_kmeans", {"encoding": "omp"}, "patch_kmeans.encoding='omp'"),
    ("patch_kmeans", {"n_atoms": 1}, "patch_kmeans.n_atoms=1"),
    ("patch_kmeans", {"n_components": 500}, "patch_kmeans.n_components=500 is more than the 300"),
    ("hog", {"cells_per_side": 9}, "hog.cells_per_side=9 leaves cells under a pixel"),
    ("hog", {"cells_per_block": 5}, "hog.cells_per_block=5 is more than the 4 cells"),
    ("hog", {"color_bins": -1}, "hog.color_bins=-1"),
]


@pytest.mark.parametrize(("name", "params", "message"), BAD_PARAMS)
def test_bad_parameter_raises_bench_error_before_training(digits, name, params, message):
    def never(epoch, logs):
        raise AssertionError("training started")

    with pytest.raises(BenchError) as error:
        make(name, **params).fit(digits, epoch_callback=never)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_validation_split_too_small_for_the_images_is_a_bench_error(digits):
    with pytest.raises(BenchError, match="validation_split=0.1 leaves no validation image"):
        make("dense_ae").fit(digits[:5])


def with_nan(images):
    images = images.copy()
    images[1, 2, 3, 0] = np.nan
    return images


BAD_IMAGES = {
    "unscaled": (lambda X: X * 255, r"pixels in \[0, 1\]"),
    "nan": (with_nan, "NaN or infinite pixels"),
    "empty": (lambda X: X[:0], "got no pixels"),
    "flat": (lambda X: X.reshape(len(X), -1), r"images of shape \(n, height, width, channels\)"),
    "strings": (lambda X: np.full((2, 8, 8, 1), "a"), "numeric pixels"),
    "objects": (lambda X: X.astype(object), None),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", BAD_IMAGES)
def test_bad_images_are_bench_errors_in_fit_and_transform(fitted, digits, name, case):
    change, message = BAD_IMAGES[case]
    images = change(digits)
    extractor, _, _ = fitted(name)
    if message is None:  # numbers in an object array are fine, as in scikit-learn
        assert extractor.transform(images).shape == (len(digits), extractor.n_features_out_)
        return
    with pytest.raises(BenchError, match=message):
        make(name).fit(images)
    with pytest.raises(BenchError, match=message):
        extractor.transform(images)


@pytest.mark.parametrize("name", NAMES)
def test_transform_before_fit_or_at_another_size_fails(fitted, digits, name):
    with pytest.raises(NotFittedError):
        make(name).transform(digits)
    extractor, _, _ = fitted(name)
    with pytest.raises(BenchError, match="fitted on images of shape"):
        extractor.transform(np.zeros((2, 9, 9, 1), np.float32))


def test_nan_loss_raises_training_diverged_naming_the_learning_rate():
    hooks = epoch_hooks("vae", None)
    hooks.on_epoch_begin(2)
    with pytest.raises(TrainingDiverged, match=r"loss became NaN at epoch 3; lower vae\."):
        hooks.on_epoch_end(2, {"loss": float("nan"), "val_loss": 1.0})


def test_importing_extractors_does_not_load_tensorflow():
    code = "import sys, clustering.extractors; print({'keras', 'tensorflow'} & {*sys.modules})"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "set()"


def test_patch_kmeans_encodes_once_with_the_numbers_of_transform(digits):
    extractor = make("patch_kmeans")
    np.testing.assert_array_equal(extractor.fit_transform(digits), extractor.transform(digits))
    atoms = extractor.atom_images(10)
    assert atoms.shape == (10, 6, 6, 1) and atoms.min() >= 0 and atoms.max() <= 1
