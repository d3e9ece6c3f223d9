"""Training speed of the learned extractors on CPU: `python -m benchmarks.training`.

Times a few epochs of each learned extractor's default configuration (and the dense
autoencoder's `n2d` preset) on MNIST-sized images, side by side with the same model under the
options that might help: one training step per call into the compiled graph (Keras's default,
shipped before: the baseline), XLA compilation off and on (Keras `jit_compile`), and a 4x larger
batch. Every variant trains from the same seed on the same images, one after another in this
process; the table gives seconds per epoch (the first epoch, which traces the model, left out),
the whole fit's seconds and its CPU seconds (all threads; steadier than wall time when other
processes share the cores), each as a ratio to the baseline, and the final training loss, so a
faster variant that learns less shows it. Prints a Markdown table.

Thread counts are not varied: TensorFlow fixes them when it starts, once per process.
"""

import argparse
import functools
import time

import numpy as np

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
):
    """The extractor of `name` in its default (or preset) configuration, training `epochs`
    epochs without early stopping, compiled with `jit_compile` (None: Keras's default) and
    `steps_per_execution` (None: the shipped value)."""
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

    if steps_per_execution is not None:
        Timed.steps_per_execution = steps_per_execution
    Timed.__name__ = cls.__name__
    return Timed(**params, random_state=0)


def measure(X: np.ndarray, name: str, preset, variant, epochs: int) -> dict:
    """Seconds per epoch (the first epoch, which traces the model, left out) and final loss."""
    extractor = extractor_for(name, preset, epochs, **VARIANTS[variant])
    stamps = []
    started, cpu_started = time.perf_counter(), time.process_time()
    extractor.fit(X, epoch_callback=lambda epoch, logs: stamps.append(time.perf_counter()))
    per_epoch = (stamps[-1] - stamps[0]) / max(len(stamps) - 1, 1)
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "per_epoch": per_epoch,
        "loss": extractor.history_["loss"][-1],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="MNIST's IDX folder (default: Keras's)")
    parser.add_argument("--images", type=int, default=10_000, help="images (default 10,000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per variant (default 3)")
    parser.add_argument("--only", default=None, help="comma list of configuration labels")
    args = parser.parse_args(argv)
    dataset = data.load("mnist", data_dir=args.data_dir)
    X = data.preprocess(dataset.images[: args.images])
    chosen = args.only.split(",") if args.only else [label for label, _, _ in CONFIGURATIONS]
    print(
        f"{len(X)} images, {args.epochs} epochs per variant; ratios to `{BASELINE}`.\n\n"
        "| model | variant | s/epoch | ratio | fit s | ratio | fit CPU s | ratio | final loss |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for label, name, preset in CONFIGURATIONS:
        if label not in chosen:
            continue
        base = measure(X, name, preset, BASELINE, args.epochs)
        for variant in VARIANTS:
            row = base if variant == BASELINE else measure(X, name, preset, variant, args.epochs)
            print(
                f"| {label} | {variant} | {row['per_epoch']:.2f} | "
                f"{row['per_epoch'] / base['per_epoch']:.2f}x | {row['seconds']:.1f} | "
                f"{row['seconds'] / base['seconds']:.2f}x | {row['cpu_seconds']:.1f} | "
                f"{row['cpu_seconds'] / base['cpu_seconds']:.2f}x | {row['loss']:.4g} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
