"""Does the search learn within its budget? `python -m benchmarks.search [--dataset D]` runs,
per cell, the study's own search (`clustering.study.cell.open_study`: the known configurations
queued first, then TPE with a start-up phase of a third of the budget) against Optuna's
RandomSampler with the same number of trials, for budgets of 3, 10 and 30 trials and several
sampler seeds, and prints the best objective each reached, as a Markdown table.

A trial here is the cell's pipeline and the objective alone (no MLflow, no other metric), with
the features and embeddings cached in a temporary folder; random search's best after b trials is
its best among its first b. The pipeline's own seed stays fixed, so equal parameters give equal
values and only the sampler differs.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time

import optuna

from clustering import pipeline
from clustering.cache import FeatureCache
from clustering.config import RunConfig
from clustering.metrics import METRICS, score
from clustering.study.cell import load_data, open_study, sampler, specs

BUDGETS = (3, 10, 30)
CELLS = ("raw:umap:gmm", "raw:pca:gmm", "raw:umap:kmeans")


def objective_function(cell_data, cell, cache: FeatureCache, log: list):
    """trial -> the cell's objective (`cell` a CellSpec on `cell_data`) for the trial's
    parameters; appends (value, accuracy), or None for a trial that raised (which then fails in
    Optuna, as in a study)."""

    def evaluate(trial: optuna.Trial) -> float:
        log.append(None)
        params = cell.params_of(trial)
        _, reduction = pipeline.embed(cell_data, cell, params, cache)
        features = reduction.embedding

        def refit(X_subset, seed):
            return pipeline.cluster(X_subset, cell.clusterer, params["clusterer"], seed=seed)[0]

        labels = pipeline.cluster(features, cell.clusterer, params["clusterer"], seed=cell.seed)[0]
        value = score(
            cell.objective,
            features,
            labels,
            cell_data.y_true,
            reference=cell_data.reference,
            refit=refit,
            random_state=cell.seed,
        )
        accuracy = score("hungarian_accuracy", features, labels, cell_data.y_true)
        log[-1] = (value, accuracy)
        return value

    return evaluate


def best_after(log: list, budget: int, sign: float) -> tuple[float, float]:
    """(best objective, its trial's Hungarian accuracy) among the first `budget` trials, failed
    ones counted in the budget; (nan, nan) when all of them failed."""
    complete = [entry for entry in log[:budget] if entry is not None]
    if not complete:
        return math.nan, math.nan
    return max(complete, key=lambda entry: sign * entry[0])


def run_cell(cell_data, cell, cache, budgets, seeds) -> dict:
    """{(search, budget): [(best value, its accuracy) per seed]} for one cell."""
    sign = 1.0 if METRICS.get(cell.objective).higher_is_better else -1.0
    direction = "maximize" if sign > 0 else "minimize"
    results: dict = {}
    for seed in seeds:
        log: list = []
        study = optuna.create_study(
            direction=direction, sampler=optuna.samplers.RandomSampler(seed=seed)
        )
        evaluate = objective_function(cell_data, cell, cache, log)
        study.optimize(evaluate, n_trials=max(budgets), catch=Exception)
        for budget in budgets:
            results.setdefault(("random", budget), []).append(best_after(log, budget, sign))
        for budget in budgets:
            log = []
            study = open_study(cell, None, budget)
            study.sampler = sampler(budget, seed)
            evaluate = objective_function(cell_data, cell, cache, log)
            study.optimize(evaluate, n_trials=budget, catch=Exception)
            results.setdefault(("search", budget), []).append(best_after(log, budget, sign))
    return results


def table(cell_label: str, results: dict, budgets, objective: str) -> str:
    """Markdown rows: per budget, the mean best objective of each search and who won."""
    sign = 1.0 if METRICS.get(objective).higher_is_better else -1.0
    rows = []
    for budget in budgets:
        ours, theirs = results[("search", budget)], results[("random", budget)]
        wins = sum(sign * a[0] > sign * b[0] for a, b in zip(ours, theirs, strict=True))
        ties = sum(a[0] == b[0] for a, b in zip(ours, theirs, strict=True))
        losses = len(ours) - wins - ties
        rows.append(
            f"| {cell_label} | {budget} | {statistics.mean(v for v, _ in ours):.4f} | "
            f"{statistics.mean(v for v, _ in theirs):.4f} | {wins}/{ties}/{losses} "
            f"| {statistics.mean(a for _, a in ours):.4f} | "
            f"{statistics.mean(a for _, a in theirs):.4f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", help="dataset name (default digits)")
    parser.add_argument("--data-dir", default=None, help="folder of the dataset's files")
    parser.add_argument("--limit", type=int, default=None, help="use the first N images")
    parser.add_argument("--cells", default=",".join(CELLS), help="extractor:reducer:clusterer,...")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)), help="trial budgets")
    parser.add_argument("--seeds", type=int, default=3, help="sampler seeds per budget (3)")
    parser.add_argument("--objective", default=None, help="label-free objective (the default's)")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budgets = [int(b) for b in args.budgets.split(",")]
    seeds = list(range(args.seeds))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        cache = FeatureCache(folder)
        header = None
        for spec in args.cells.split(","):
            extractor, reducer, clusterer = spec.split(":")
            config = RunConfig(
                dataset=args.dataset,
                data_dir=args.data_dir,
                limit=args.limit,
                extractors=[extractor],
                reducers=[reducer],
                clusterers=[clusterer],
                **({"objective": args.objective} if args.objective else {}),
            ).validate()
            cell_data = load_data(config, cache)
            (cell,) = specs(config, cell_data)
            if header is None:
                print(
                    f"Dataset {args.dataset}, {len(cell_data.X)} images, objective "
                    f"{cell.objective}, {len(seeds)} sampler seeds.\n\n"
                    "| cell | trials | search: best objective | random: best objective | "
                    "search wins/ties/losses | search: its accuracy | random: its accuracy |\n"
                    "|---|---:|---:|---:|---|---:|---:|",
                    flush=True,
                )
                header = True
            results = run_cell(cell_data, cell, cache, budgets, seeds)
            print(table(cell.label, results, budgets, cell.objective), flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s in all.")


if __name__ == "__main__":
    main()
