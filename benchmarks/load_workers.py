"""Load figure of the workers: N workers x T trials each on PostgreSQL + an MLflow tracking server
(raw pixels x kmeans on digits), against one worker doing the same number of trials.

    python -m benchmarks.load_workers [--workers 4] [--trials-per-worker 25]

Starts a throw-away PostgreSQL cluster and `mlflow server` on 127.0.0.1 (tests/services.py), runs
`clustering-bench run --workers N --trials N*T` on one database, then a single
`clustering-bench worker --trials N*T` on a fresh database (seed 1: a study of its own), and prints
for each the wall time of the whole command, the complete trials in Optuna, the finished trial
runs in MLflow, the failed ones and the error lines in the output.
"""

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from services import MlflowServer, Postgres, postgres_bindir  # noqa: E402


def phase(name: str, command: list[str], storage: str, tracking: str) -> dict:
    import optuna
    from mlflow.tracking import MlflowClient

    from clustering.study.storage import make_storage
    from clustering.tracking import ROLE_TAG, STUDY_TAG

    started = time.perf_counter()
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seconds = time.perf_counter() - started
    output = result.stdout + result.stderr
    storage = make_storage(storage)
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    trials = study.get_trials()
    states = Counter(trial.state.name for trial in trials)
    ended = [trial for trial in trials if trial.datetime_complete is not None]
    span = (
        max(t.datetime_complete for t in ended) - min(t.datetime_start for t in ended)
        if ended
        else None
    )
    client = MlflowClient(tracking)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    runs = client.search_runs(
        experiments,
        max_results=5000,
        filter_string=f"tags.`{ROLE_TAG}` = 'trial' and tags.`{STUDY_TAG}` = '{study.study_name}'",
    )
    statuses = Counter(run.info.status for run in runs)
    errors = [
        line
        for line in output.splitlines()
        if "error" in line.lower() or "Traceback" in line or "failed" in line
    ]
    return {
        "phase": name,
        "exit": result.returncode,
        "seconds": seconds,
        "trial_span": span.total_seconds() if span else float("nan"),
        "complete": states["COMPLETE"],
        "failed_trials": states["FAIL"],
        "other_trials": sum(states.values()) - states["COMPLETE"] - states["FAIL"],
        "finished_runs": statuses["FINISHED"],
        "failed_runs": sum(statuses.values()) - statuses["FINISHED"],
        "error_lines": len(errors),
        "first_error": errors[0] if errors else "",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load_workers", description=__doc__)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials-per-worker", type=int, default=25)
    args = parser.parse_args(argv)
    total = args.workers * args.trials_per_worker
    bindir = postgres_bindir()
    if bindir is None:
        print("PostgreSQL server programs not found: apt-get install -y postgresql")
        return 2
    postgres, mlflow = Postgres(bindir), MlflowServer(workers=2)
    try:
        mlflow.wait()
        cell = [
            "--dataset",
            "digits",
            "--extractors",
            "raw",
            "--clusterers",
            "kmeans",
            "--trials",
            str(total),
            "--no-cache",
            "--tracking-uri",
            mlflow.uri,
        ]
        cli = [sys.executable, "-m", "clustering.cli", "--quiet"]
        many = postgres.create_database("many")
        one = postgres.create_database("one")
        rows = [
            phase(
                f"{args.workers} workers",
                [*cli, "run", "--workers", str(args.workers), *cell, "--storage", many],
                many,
                mlflow.uri,
            ),
            phase(
                "1 worker",
                [*cli, "worker", *cell, "--seed", "1", "--storage", one],
                one,
                mlflow.uri,
            ),
        ]
    finally:
        mlflow.close()
        postgres.close()
    print(
        f"\n{total} trials of raw x kmeans on digits (1,797 images), PostgreSQL + MLflow server "
        f"on 127.0.0.1, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "wall s: the whole command (process start-up included); trials s: first trial start to "
        "last trial end"
    )
    print(
        f"{'phase':<10} {'exit':>4} {'wall s':>7} {'trials s':>8} {'complete':>8} "
        f"{'finished runs':>13} {'failed trials':>13} {'failed runs':>11} {'error lines':>11}"
    )
    for row in rows:
        print(
            f"{row['phase']:<10} {row['exit']:>4} {row['seconds']:>7.1f} "
            f"{row['trial_span']:>8.1f} {row['complete']:>8} {row['finished_runs']:>13} "
            f"{row['failed_trials']:>13} {row['failed_runs']:>11} {row['error_lines']:>11}"
        )
        if row["first_error"]:
            print(f"  first error line: {row['first_error'][:200]}")
    print(
        f"speed-up: wall {rows[1]['seconds'] / rows[0]['seconds']:.2f}x, "
        f"trials {rows[1]['trial_span'] / rows[0]['trial_span']:.2f}x"
    )
    ok = all(
        row["exit"] == 0
        and row["complete"] == total
        and row["finished_runs"] == total
        and row["failed_trials"] == row["failed_runs"] == row["error_lines"] == 0
        for row in rows
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
