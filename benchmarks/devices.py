"""Where a GPU helps: `python -m benchmarks.devices --data-dir DIR`.

Times, on the CPU and on every GPU TensorFlow sees, the pretrained extractor's feature
extraction (images per second, after one batch that traces the predict function) and one
training epoch of each autoencoder in its default configuration (the fastest of `--epochs`
epochs after the first, which traces the model; training images per second). Each GPU row gives
its ratio to the CPU row measured in the same run; with no GPU visible the table says so and has
CPU rows only. The header names the machine: CPU model, cores usable, the load average before
and after (a load near the usable cores or above means the cores were shared).
Prints a Markdown table.
"""

import argparse
import time

import numpy as np

from benchmarks.timing import load_average, machine
from clustering import data
from clustering.extractors import EXTRACTORS

AUTOENCODERS = ("dense_ae", "conv_ae", "unet", "vae")
PRETRAINED = "efficientnet"


def devices() -> list[str]:
    """'/CPU:0', then '/GPU:i' for every GPU TensorFlow sees."""
    import tensorflow as tf

    return ["/CPU:0"] + [f"/GPU:{i}" for i, _ in enumerate(tf.config.list_physical_devices("GPU"))]


def extraction_rate(X: np.ndarray, device: str) -> dict:
    """Images per second of the pretrained extractor's `transform` on X, built on `device`."""
    import tensorflow as tf

    with tf.device(device):
        extractor = EXTRACTORS.get(PRETRAINED)().fit(X)
        extractor.transform(X[: extractor.batch_size])  # traces the predict function
        started = time.perf_counter()
        extractor.transform(X)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rate": len(X) / seconds}


def epoch_rate(X: np.ndarray, name: str, device: str, epochs: int) -> dict:
    """Training images per second of one epoch of `name` (default configuration) on X: the
    fastest epoch after the first, no early stopping."""
    import optuna
    import tensorflow as tf

    cls = EXTRACTORS.get(name)
    params = cls.search_space(optuna.trial.FixedTrial(cls.default_params()))
    params.update(epochs=epochs, patience=epochs + 1)
    stamps = []
    with tf.device(device):
        extractor = cls(**params, random_state=0)
        started = time.perf_counter()
        extractor.fit(X, epoch_callback=lambda epoch, logs: stamps.append(time.perf_counter()))
    seconds = float(np.min(np.diff([started, *stamps])[1:] if len(stamps) > 1 else stamps[0]))
    n_train = len(X) - int(len(X) * extractor.validation_split)
    return {"seconds": seconds, "rate": n_train / seconds}


def header(args, X: np.ndarray, found: list[str], load_before: list[float]) -> str:
    """The run's conditions: machine, images, devices, the load average before."""
    m = machine()
    gpus = [d for d in found if d.startswith("/GPU")]
    seen = ", ".join(gpus) if gpus else "no GPU visible to TensorFlow: CPU rows only"
    colour = "RGB" if args.color else "gray"
    return (
        f"{m['cpu']}, {m['usable_cpus']} of {m['logical_cpus']} cores usable, "
        f"{m['memory_gib']} GiB; {seen}. {len(X)} CIFAR-10 test images, RGB for "
        f"{PRETRAINED}, {colour} for the autoencoders, {args.epochs} epochs each; load "
        f"average before {load_before}."
    )


def rows(X_rgb: np.ndarray, X_ae: np.ndarray, found: list[str], epochs: int, only: list[str]):
    """Markdown rows: each case of `only` (extractor names) on each device, with its rate's
    ratio to the CPU's."""
    cases = [(f"{PRETRAINED} features", lambda device: extraction_rate(X_rgb, device))]
    cases += [
        (f"{name} epoch", lambda device, name=name: epoch_rate(X_ae, name, device, epochs))
        for name in AUTOENCODERS
    ]
    for name, (label, measure) in zip((PRETRAINED, *AUTOENCODERS), cases, strict=True):
        if name not in only:
            continue
        cpu = None
        for device in found:
            result = measure(device)
            cpu = cpu or result
            yield (
                f"| {label} | {device} | {result['seconds']:.2f} | {result['rate']:.1f} "
                f"| {result['rate'] / cpu['rate']:.2f}x |"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="CIFAR-10 batches (default: Keras's)")
    parser.add_argument("--images", type=int, default=1000, help="images (default 1,000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per autoencoder (3)")
    parser.add_argument("--color", action="store_true", help="RGB for the autoencoders too")
    parser.add_argument(
        "--only", default=",".join((PRETRAINED, *AUTOENCODERS)), help="comma list of extractors"
    )
    args = parser.parse_args(argv)
    load_before = load_average()
    images = data.load("cifar10", data_dir=args.data_dir).images[: args.images]
    X_rgb = data.preprocess(images, color=True)
    X_ae = X_rgb if args.color else data.preprocess(images)
    found = devices()
    print(header(args, X_rgb, found, load_before))
    print("\n| what | device | seconds | images/s | vs CPU |\n|---|---|---:|---:|---:|", flush=True)
    for line in rows(X_rgb, X_ae, found, args.epochs, args.only.split(",")):
        print(line, flush=True)
    print(f"\nLoad average after: {load_average()}.")


if __name__ == "__main__":
    main()
