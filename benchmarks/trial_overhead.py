"""What a trial costs beyond its own work: `python -m benchmarks.trial_overhead`.

Runs one cell (raw x none x kmeans on the 1,797 digits, whose features need no training)
through the CLI's own loop twice, in fresh stores sharing one cache: with few trials and with
many. The difference of the two wall times, less the difference of the seconds the trials spent
clustering and scoring (`cluster_seconds` + `metric_seconds`, read back from MLflow), divided by
the difference of the trial counts, is the overhead of one trial: Optuna's admission and
bookkeeping, MLflow's run and logging calls, extraction and the cell's share of nothing else
(start-up, the reference embedding and the cell's pictures cancel out). Prints a Markdown table.
"""

import argparse
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from clustering.cli import main as cli_main
from clustering.tracking import ROLE_TAG


def run_cell(folder: Path, trials: int, cache: Path) -> float:
    """Run the cell for `trials` trials in stores under `folder`; returns its wall seconds."""
    folder.mkdir(parents=True)
    started = time.perf_counter()
    code = cli_main(
        [
            "--quiet",
            "run",
            "--extractors",
            "raw",
            "--reducers",
            "none",
            "--clusterers",
            "kmeans",
            "--trials",
            str(trials),
            "--objective",
            "asc",
            "--tracking-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--storage",
            f"sqlite:///{folder / 'optuna.db'}",
            "--cache-dir",
            str(cache),
        ]
    )
    if code != 0:
        raise SystemExit(f"the run failed with exit code {code}")
    return time.perf_counter() - started


def work_seconds(folder: Path) -> float:
    """The seconds every trial run of the store spent clustering and computing its metrics."""
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    runs = client.search_runs(experiments, f"tags.`{ROLE_TAG}` = 'trial'", max_results=1000)
    return sum(
        run.data.metrics["cluster_seconds"] + run.data.metrics["metric_seconds"] for run in runs
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--few", type=int, default=5, help="trials of the short run (default 5)")
    parser.add_argument("--many", type=int, default=25, help="trials of the long run (default 25)")
    args = parser.parse_args(argv)
    measured = {}
    with tempfile.TemporaryDirectory(prefix="trial-overhead-") as name:
        cache = Path(name) / "cache"
        run_cell(Path(name) / "warm-up", 1, cache)  # the reference embedding, imports, compiles
        for trials in (args.few, args.many):
            folder = Path(name) / str(trials)
            measured[trials] = (run_cell(folder, trials, cache), work_seconds(folder))
    (wall_few, work_few), (wall_many, work_many) = measured[args.few], measured[args.many]
    extra = args.many - args.few
    per_trial_work = (work_many - work_few) / extra
    overhead = ((wall_many - wall_few) - (work_many - work_few)) / extra
    print("| trials | wall (s) | clustering + metrics (s) |\n|---:|---:|---:|")
    for trials, (wall, work) in measured.items():
        print(f"| {trials} | {wall:.1f} | {work:.1f} |")
    print(f"\nper trial: clustering + metrics {per_trial_work:.3f} s, overhead {overhead:.3f} s")


if __name__ == "__main__":
    main()
