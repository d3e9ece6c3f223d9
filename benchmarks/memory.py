"""Peak resident memory of one metric call, measured in a process of its own.

    python -m benchmarks.memory --metric dunn --source mnist --n 60000 --data-dir DIR

builds the data (block by block, so building it needs little beyond X itself), notes the resident
set size, calls the metric once and prints one JSON line: the process's peak RSS over its whole life
(`VmHWM`), the RSS with the data loaded just before the call, the extra (peak minus that), the
seconds and the value. `measure` runs this child from the runner and parses that line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

METRICS = ("asc", "dunn", "silhouette_score", "validclust.dunn")
_ROOT = Path(__file__).resolve().parent.parent


def measure(metric: str, source: str, n: int, d: int, data_dir, timeout: float = 900) -> dict:
    """Run the child for one metric call; returns its JSON record (raises on failure)."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.memory",
        "--metric",
        metric,
        "--source",
        source,
        "--n",
        str(n),
        "--d",
        str(d),
    ]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    done = subprocess.run(command, cwd=_ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"memory child failed ({' '.join(command[1:])}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def status_kib() -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of this process in KiB, from /proc/self/status; VmHWM falls back
    to getrusage's ru_maxrss where /proc is missing."""
    values = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
    except OSError:
        import resource

        values["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return values


def _data(source: str, n: int, d: int, data_dir):
    from benchmarks import cases

    if source == "mnist":
        base, labels = cases.mnist(data_dir, limit=min(n, 10_000))
        if n <= len(base):
            return base[:n], labels[:n]
        X, labels = cases.tiled(base, labels, n)
        return X, labels
    return cases.synthetic(n, d)


def _call(metric: str, X, labels) -> float:
    if metric == "asc":
        from clustering.metrics import asc

        return asc(X, labels)
    if metric == "dunn":
        from clustering.metrics import dunn

        return dunn(X, labels)
    if metric == "silhouette_score":
        from sklearn.metrics import silhouette_score

        return float(silhouette_score(X, labels))
    from sklearn.metrics import pairwise_distances
    from validclust import dunn

    return float(dunn(pairwise_distances(X), labels))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--metric", choices=METRICS, required=True)
    parser.add_argument("--source", choices=("mnist", "synthetic"), required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--d", type=int, default=784, help="features (synthetic only)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    import sklearn.metrics  # noqa: F401  (imports count in the baseline, not in the call)

    if args.metric == "validclust.dunn":
        import validclust  # noqa: F401
    import clustering.metrics  # noqa: F401

    X, labels = _data(args.source, args.n, args.d, args.data_dir)
    before = status_kib()
    start = time.perf_counter()
    value = _call(args.metric, X, labels)
    seconds = time.perf_counter() - start
    after = status_kib()
    mib = 1 / 1024
    record = {
        "metric": args.metric,
        "source": args.source,
        "n": len(X),
        "d": X.shape[1],
        "dtype": X.dtype.name,
        "data_mib": X.nbytes / 2**20,
        "rss_before_call_mib": before.get("VmRSS", 0) * mib,
        "peak_before_call_mib": before.get("VmHWM", 0) * mib,
        "peak_rss_mib": after["VmHWM"] * mib,
        "extra_mib": (after["VmHWM"] - before.get("VmRSS", 0)) * mib,
        "seconds": seconds,
        "value": value,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
