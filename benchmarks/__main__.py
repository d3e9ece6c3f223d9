"""The benchmark runner: `python -m benchmarks [--quick] [--out DIR]` from the repository root.

Runs the comparisons of `benchmarks.cases` in order (K-means, the metrics at n = 10,000 on MNIST and
on CIFAR-sized synthetic data, the scaling table, peak memory in child processes), prints each
result as it comes, and writes OUT/benchmarks.md and OUT/benchmarks.json.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

from benchmarks import cases, memory, report
from benchmarks.timing import gemm_rate, load_average, machine

_ROOT = Path(__file__).resolve().parent.parent

FULL = {
    "n": 10_000,
    "d": 1024,
    "sizes": [2_500, 5_000, 10_000, 20_000, 40_000],
    "reference_limit": 20_000,
    "memory_n": 60_000,
    "kmeans_repeats": 5,
    "repeats": 5,
}
QUICK = {
    "n": 400,
    "d": 64,
    "sizes": [200, 400, 800],
    "reference_limit": 400,
    "memory_n": 2_000,
    "kmeans_repeats": 1,
    "repeats": 1,
}


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes (n=400, scaling 200..800, one memory child): a smoke run of a few seconds",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=_ROOT / "reports",
        help="folder for benchmarks.md and benchmarks.json (default reports/; "
        "the committed figures are in results/)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder of MNIST's IDX test files (default: Keras's cache folder)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="interleaved rounds for the metrics at n=10,000 (default 5)",
    )
    parser.add_argument(
        "--kmeans-repeats",
        type=int,
        default=None,
        help="interleaved rounds for K-means (default 5)",
    )
    parser.add_argument(
        "--sizes",
        default=None,
        help="comma list of n for the scaling table (default 2500,...,40000)",
    )
    parser.add_argument(
        "--reference-limit",
        type=int,
        default=None,
        help="largest n at which the references and the floor run (default "
        "20000; they need n x n floats)",
    )
    parser.add_argument(
        "--memory-n",
        type=int,
        default=None,
        help="n of the dunn peak-memory run on tiled MNIST (default 60000; 0 skips it)",
    )
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    for key in ("repeats", "kmeans_repeats", "reference_limit", "memory_n"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if args.sizes:
        settings["sizes"] = [int(size) for size in args.sizes.split(",")]
    args.settings = settings
    return args


def main(argv=None) -> int:
    args = parse(argv)
    s = args.settings
    started = time.perf_counter()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {text}", flush=True)

    record = {
        "command": shlex.join(
            ["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)]
        ),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "settings": s,
        "machine": machine(),
        "load_average": {"start": load_average()},
        "kmeans": [],
        "metrics": [],
        "scaling": [],
        "memory": [],
        "notes": [],
    }
    say(f"load average {record['load_average']['start']}; settings {s}")
    mnist = ("MNIST test", *cases.mnist(args.data_dir, limit=s["n"]))
    synthetic = (f"synthetic {s['d']}", *cases.synthetic(s["n"], s["d"]))
    if not args.quick:
        _warm_up(mnist[1][:300], mnist[2][:300])

    _kmeans(record, [mnist, synthetic], s, say)
    _metrics(record, [mnist, synthetic], s, say)
    del mnist, synthetic
    _scaling(record, s, say)
    _memory(record, s, args, say)

    _gemm_rates(record, say)  # bounds: the pairs computed, n^2 d flops each once, at best rate
    for r in record["metrics"]:
        rate = record["machine"]["gemm_gflops"]["float64" if r["metric"] == "asc" else "float32"]
        flops = r["n"] ** 2 * r["d_varying"] * r["pairs_computed"]
        r["gemm_bound_s"] = flops / (rate * 1e9)
    record["load_average"]["end"] = load_average()
    record["seconds"] = time.perf_counter() - started
    record["notes"] += _notes(record)
    md_path, json_path = report.write(record, args.out)
    say(f"wrote {md_path} and {json_path}; load average {record['load_average']['end']}")
    for target in report.targets(record):
        print(f"  {'met ' if target['met'] else 'MISS'}  {target['claim']}: {target['measured']}")
    return 0


def _kmeans(record, data, s, say) -> None:
    for name, X, _ in data:
        for dtype in ("float64", "float32"):
            row = cases.kmeans(X, name, dtype=dtype, n_clusters=10, repeats=s["kmeans_repeats"])
            row["load_average"] = load_average()
            record["kmeans"].append(row)
            say(
                f"KMeans {name} {dtype}: ours {row['ours']['median_s']:.3f} s, sklearn "
                f"{row['reference']['median_s']:.3f} s, ratio {row['ratio']:.2f}, n_iter "
                f"{row['n_iter']}/{row['reference_n_iter']}, labels identical "
                f"{row['labels_identical']}, inertia rel. diff {row['inertia_rel_diff']:.1e}; "
                f"load {row['load_average']}"
            )


def _gemm_rates(record, say) -> dict:
    """The machine's matrix-multiply rates (GFLOP/s), measured again and kept at their best so
    far: load from other processes only ever lowers them."""
    rates = record["machine"].setdefault("gemm_gflops", {"float64": 0.0, "float32": 0.0})
    for dtype in rates:
        rates[dtype] = max(rates[dtype], gemm_rate(dtype, repeats=5))
    say(
        f"matrix multiply (2048 x 1024 x 2048, best so far): float64 {rates['float64']:.0f} "
        f"GFLOP/s, float32 {rates['float32']:.0f} GFLOP/s"
    )
    return rates


def _metrics(record, data, s, say) -> None:
    for name, X, y in data:
        _gemm_rates(record, say)
        for r in cases.metrics(X, y, name, repeats=s["repeats"]):
            r["load_average"] = load_average()
            record["metrics"].append(r)
            say(
                f"{r['metric']} {name} n={r['n']}: ours {r['ours']['median_s']:.3f} s, "
                f"{r['reference_name']} {r['reference']['median_s']:.3f} s, ratio "
                f"{r['ratio']:.2f}, floor {r['floor']['median_s']:.3f} s (ours/floor "
                f"{r['floor_ratio']:.2f}), rel. diff {r['rel_diff']:.1e}; "
                f"load {r['load_average']}"
            )


def _scaling(record, s, say) -> None:
    known = {s["n"]: record["metrics"][-2:]}  # the synthetic rows at n: the same data
    for n in s["sizes"]:
        rows = cases.scaling([n], s["d"], reference_limit=s["reference_limit"], known=known)
        record["scaling"] += rows
        say(
            f"scaling n={n}: asc {rows[0]['asc_s']:.2f} s, dunn {rows[0]['dunn_s']:.2f} s; "
            f"load {load_average()}"
        )
    print(report.scaling_table(record["scaling"]), flush=True)


def _memory(record, s, args, say) -> None:
    runs = [] if args.quick else [(name, "synthetic", s["n"], s["d"]) for name in memory.METRICS]
    if s["memory_n"]:
        runs.append(("dunn", "mnist", s["memory_n"], 784))
    for metric, source, n, d in runs:
        row = memory.measure(metric, source, n, d, args.data_dir)
        record["memory"].append(row)
        say(
            f"memory {metric} {source} {n}x{row['d']}: peak RSS {row['peak_rss_mib']:.0f} MiB, "
            f"extra {row['extra_mib']:.0f} MiB, {row['seconds']:.1f} s"
        )


def _warm_up(X, labels) -> None:
    """Import and touch every code path once on a small array, so no first call pays for it."""
    from clustering.clusterers import KMeans

    cases.metrics(X, labels, "warm-up", repeats=1)
    KMeans(5, init=X[:5], max_iter=5).fit(X)
    cases.kmeans(X, "warm-up", dtype="float32", n_clusters=5, repeats=1, max_iter=5)


def _notes(record: dict) -> list[str]:
    notes = []
    n_memory = [r for r in record["memory"] if r["source"] == "mnist" and r["n"] > 10_000]
    if n_memory:
        notes.append(
            f"The {n_memory[0]['n']:,}-image memory run uses MNIST's 10,000 test images "
            "repeated, each copy moved by Gaussian noise of scale 0.02 (only the test "
            "set is used); its labels are the digits."
        )
    notes.append(
        "Labels for the metrics: the digit labels (MNIST) and the generating clusters "
        "(synthetic), 10 clusters each."
    )
    missed = [t["claim"] for t in report.targets(record) if not t["met"]]
    if missed:
        notes.append(
            "Not met in this run: " + "; ".join(missed) + ". The ratios are as "
            "measured, against unmodified references."
        )
    for r in record["metrics"]:
        if r.get("ratio", 0) <= r["target"] or "gemm_bound_s" not in r:
            continue
        goal, bound = r["target"] * r["reference"]["median_s"], r["gemm_bound_s"]
        verdict = (
            "below what the arithmetic alone takes on this machine, so out of reach for an "
            "exact float64 kernel here"
            if goal < bound
            else "above the arithmetic bound: the gap is overhead or load"
        )
        notes.append(
            f"{r['metric']} on {r['data']}: {r['target']}x would be {goal:.2f} s. The pairs it "
            f"computes ({r['pairs_computed']:.0%}) once each are "
            f"{r['n'] ** 2 * r['d_varying'] * r['pairs_computed'] / 1e9:.3g} GFLOP (d = "
            f"{r['d_varying']} non-constant columns), at least {bound:.3g} s at the "
            f"measured matrix-multiply rate ({verdict}); ours took {r['ours']['median_s']:.2f} s "
            f"= {r['ours']['median_s'] / bound:.2f}x that bound, and {r['floor_ratio']:.2f}x the "
            f"floor X @ X.T, where {r['reference_name']} took "
            f"{r['reference_floor_ratio']:.2f}x it."
        )
    return notes


if __name__ == "__main__":
    sys.exit(main())
