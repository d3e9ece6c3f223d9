"""Training speed of the learned extractors on CPU: `python -m benchmarks.training`.

Times a few epochs of each learned extractor's default configuration (and the dense
autoencoder's `n2d` preset) on MNIST-sized images, side by side with the same model under the
options that might help: XLA compilation off and on (Keras `jit_compile`), and a 4x larger
batch. Every variant trains from the same seed on the same images, one after another in this
process; the table gives seconds per epoch, the ratio to the configuration as shipped, and the
final training loss, so a faster variant that learns less shows it. Prints a Markdown table.
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
VARIANTS = {  # label -> (jit_compile, batch size factor); None keeps Keras's own choice
    "as shipped": (None, 1),
    "jit_compile=False": (False, 1),
    "jit_compile=True": (True, 1),
    "batch x4": (None, 4),
}


def extractor_for(name: str, preset: str | None, jit_compile, batch_factor: int, epochs: int):
    """The extractor of `name` in its default (or preset) configuration, training `epochs`
    epochs without early stopping, compiled with `jit_compile` (None: Keras's default)."""
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

    Timed.__name__ = cls.__name__
    return Timed(**params, random_state=0)


def measure(X: np.ndarray, name: str, preset, variant, epochs: int) -> dict:
    """Seconds per epoch (the first epoch, which traces the model, left out) and final loss."""
    jit_compile, factor = VARIANTS[variant]
    extractor = extractor_for(name, preset, jit_compile, factor, epochs)
    stamps = []
    started = time.perf_counter()
    extractor.fit(X, epoch_callback=lambda epoch, logs: stamps.append(time.perf_counter()))
    per_epoch = (stamps[-1] - stamps[0]) / max(len(stamps) - 1, 1)
    return {
        "seconds": time.perf_counter() - started,
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
    print("| model | variant | s/epoch | ratio | final loss |\n|---|---|---:|---:|---:|")
    for label, name, preset in CONFIGURATIONS:
        if label not in chosen:
            continue
        base = None
        for variant in VARIANTS:
            row = measure(X, name, preset, variant, args.epochs)
            base = base or row["per_epoch"]
            print(
                f"| {label} | {variant} | {row['per_epoch']:.2f} | "
                f"{row['per_epoch'] / base:.2f}x | {row['loss']:.4g} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
