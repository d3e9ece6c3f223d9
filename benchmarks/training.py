"""Training speed of the learned extractors on CPU: `python -m benchmarks.training`.

Times a few epochs of each learned extractor's default configuration (and the dense
autoencoder's `n2d` preset) on MNIST-sized images, side by side with the same model under the
options that might help: one training step per call into the compiled graph (Keras's default,
shipped before: the baseline), XLA compilation off and on (Keras `jit_compile`), a 4x larger
batch, a `tf.data` pipeline (shuffled, batched and prefetched in TensorFlow's threads instead of
Keras's slicing of NumPy arrays) and TensorFlow's thread pools (threads per op, ops at once: set
when TensorFlow starts, so those variants train in a child process each). Every variant trains
from the same seed on the same images, after one short fit that warms the process; the table
gives seconds per epoch (the fastest after the first, which traces the model: a stall of the
cores does not count), the whole fit's seconds and its CPU seconds (all threads; steadier than
wall time when other processes share the cores), each as a ratio to the baseline, the final
training loss, so a faster variant that learns less shows it, and the arithmetic rate of an
epoch (GFLOP/s: 6 floating-point operations per multiply-add of the forward pass per training
image, 2 per validation image) beside NumPy's float32 matrix product measured in the same run,
the most this machine's cores do.
Prints a Markdown table.
"""

import argparse
import functools
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.timing import gemm_rate
from clustering import data
from clustering.extractors import EXTRACTORS

CONFIGURATIONS = [  # (label, extractor, preset)
    ("dense_ae", "dense_ae", None),
    ("dense_ae n2d", "dense_ae", "n2d"),
    ("conv_ae", "conv_ae", None),
    ("unet", "unet", None),
    ("vae", "vae", None),
]
VARIANTS = {  # label -> keyword arguments of `extractor_for`; absent ones keep the shipped value
    "one step per call (before)": {"steps_per_execution": 1},
    "as shipped": {},
    "jit_compile=False": {"jit_compile": False},
    "jit_compile=True": {"jit_compile": True},
    "batch x4": {"batch_factor": 4},
    "tf.data pipeline": {"pipeline": True},
}
THREADS = {  # label -> (threads per op, ops at once); TensorFlow's default here is (2, 2)
    "1 thread per op, 2 ops at once": (1, 2),
    "2 threads per op, 1 op at once": (2, 1),
}
BASELINE = "one step per call (before)"


def extractor_for(
    name: str,
    preset: str | None,
    epochs: int,
    *,
    jit_compile=None,
    batch_factor: int = 1,
    steps_per_execution: int | None = None,
    pipeline: bool = False,
):
    """The extractor of `name` in its default (or preset) configuration, training `epochs`
    epochs without early stopping, compiled with `jit_compile` (None: Keras's default) and
    `steps_per_execution` (None: the shipped value), fed by a `tf.data` pipeline if asked."""
    import optuna

    cls = EXTRACTORS.get(name)
    params = cls.search_space(optuna.trial.FixedTrial(cls.default_params(preset)))
    params.update(epochs=epochs, patience=epochs + 1)
    params["batch_size"] = params["batch_size"] * batch_factor

    class Timed(cls):
        def _compile(self, model) -> None:
            if jit_compile is not None:
                model.compile = functools.partial(model.compile, jit_compile=jit_compile)
            super()._compile(model)

        def _train(self, model, X_train, X_val, callbacks):
            if not pipeline:
                return super()._train(model, X_train, X_val, callbacks)
            return model.fit(
                images_pipeline(X_train, self.batch_size, shuffle=True),
                validation_data=images_pipeline(X_val, self.batch_size) if len(X_val) else None,
                epochs=self.epochs,
                shuffle=False,  # the pipeline shuffles
                callbacks=callbacks,
                verbose=0,
            )

    if steps_per_execution is not None:
        Timed.steps_per_execution = steps_per_execution
    Timed.__name__ = cls.__name__
    return Timed(**params, random_state=0)


def images_pipeline(X: np.ndarray, batch_size: int, shuffle: bool = False):
    """A `tf.data` pipeline of (images, images) batches, reshuffled every epoch (seeded) if
    asked, prefetched by TensorFlow's threads."""
    import tensorflow as tf

    images = tf.data.Dataset.from_tensor_slices(X)
    if shuffle:
        images = images.shuffle(len(X), seed=0, reshuffle_each_iteration=True)
    batches = images.batch(batch_size).map(lambda x: (x, x))
    return batches.prefetch(tf.data.AUTOTUNE)


def forward_multiply_adds(model) -> int:
    """Multiply-adds of one image's forward pass through the Conv2D, Conv2DTranspose and Dense
    layers of `model` and of the models nested in it (the rest is small beside them)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_multiply_adds(layer)
        elif isinstance(layer, keras.layers.Conv2DTranspose):  # one kernel per input pixel
            h, w, channels = layer.input.shape[1:]
            total += h * w * math.prod(layer.kernel_size) * channels * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):  # one kernel per output pixel
            h, w = layer.output.shape[1:3]
            channels = layer.input.shape[-1]
            total += h * w * math.prod(layer.kernel_size) * channels * layer.filters
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return total


def measure(X: np.ndarray, name: str, preset, variant, epochs: int) -> dict:
    """Seconds per epoch (the fastest after the first, which traces the model), the fit's wall
    and CPU seconds, the final loss and the arithmetic rate of an epoch (GFLOP/s)."""
    extractor = extractor_for(name, preset, epochs, **VARIANTS.get(variant, {}))
    stamps = []
    started, cpu_started = time.perf_counter(), time.process_time()
    extractor.fit(X, epoch_callback=lambda epoch, logs: stamps.append(time.perf_counter()))
    per_epoch = float(np.min(np.diff(stamps))) if len(stamps) > 1 else stamps[0] - started
    n_val = int(len(X) * extractor.validation_split)
    flops = 2 * forward_multiply_adds(extractor.model_) * (3 * (len(X) - n_val) + n_val)
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "per_epoch": per_epoch,
        "loss": extractor.history_["loss"][-1],
        "gflops": flops / per_epoch / 1e9,
    }


def warm_up(X: np.ndarray, name: str, preset) -> None:
    """One short fit first, so no measured fit pays for loading TensorFlow's kernels."""
    measure(X[:256], name, preset, "as shipped", 2)


def measure_with_threads(args, label: str, variant: str) -> dict:
    """`measure` in a child process whose TensorFlow uses the thread pools of THREADS[variant]."""
    per_op, at_once = THREADS[variant]
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": str(per_op)}
    env["TF_NUM_INTEROP_THREADS"] = str(at_once)
    command = [sys.executable, "-m", "benchmarks.training", "--only", label, "--child"]
    command += ["--images", str(args.images), "--epochs", str(args.epochs)]
    command += ["--data-dir", args.data_dir] if args.data_dir else []
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"{label}, {variant}: the child process failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(label: str, variant: str, result: dict, base: dict) -> str:
    """One Markdown row: the variant's figures and their ratios to the baseline's."""
    ratios = [result[key] / base[key] for key in ("per_epoch", "seconds", "cpu_seconds")]
    return (
        f"| {label} | {variant} | {result['per_epoch']:.2f} | {ratios[0]:.2f}x | "
        f"{result['seconds']:.1f} | {ratios[1]:.2f}x | {result['cpu_seconds']:.1f} | "
        f"{ratios[2]:.2f}x | {result['loss']:.4g} | {result['gflops']:.1f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="MNIST's IDX folder (default: Keras's)")
    parser.add_argument("--images", type=int, default=10_000, help="images (default 10,000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per variant (default 3)")
    parser.add_argument("--only", default=None, help="comma list of configuration labels")
    parser.add_argument("--no-threads", action="store_true", help="skip the thread variants")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    dataset = data.load("mnist", data_dir=args.data_dir)
    X = data.preprocess(dataset.images[: args.images])
    chosen = args.only.split(",") if args.only else [label for label, _, _ in CONFIGURATIONS]
    configurations = [c for c in CONFIGURATIONS if c[0] in chosen]
    if args.child:  # one shipped configuration under the thread pools the parent set
        label, name, preset = configurations[0]
        warm_up(X, name, preset)
        print(json.dumps(measure(X, name, preset, "as shipped", args.epochs)))
        return
    print(
        f"{len(X)} images, {args.epochs} epochs per variant; ratios to `{BASELINE}`. "
        f"NumPy's float32 matrix product here: {gemm_rate(np.float32):.0f} GFLOP/s.\n\n"
        "| model | variant | s/epoch | ratio | fit s | ratio | fit CPU s | ratio | final loss "
        "| GFLOP/s |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for label, name, preset in configurations:
        warm_up(X, name, preset)
        base = measure(X, name, preset, BASELINE, args.epochs)
        for variant in VARIANTS:
            result = base if variant == BASELINE else measure(X, name, preset, variant, args.epochs)
            print(row(label, variant, result, base), flush=True)
        for variant in [] if args.no_threads else THREADS:
            print(row(label, variant, measure_with_threads(args, label, variant), base), flush=True)


if __name__ == "__main__":
    main()
