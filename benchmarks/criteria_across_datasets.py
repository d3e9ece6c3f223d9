"""How each label-free criterion chooses on data it was not tuned on.

`python -m benchmarks.criteria_across_datasets prepare --data-dir DIR --out FOLDER` writes the
derived MNIST datasets as `.npz` files (classes merged in pairs, k = 5; digits 0-4 only);
`python -m benchmarks.criteria_across_datasets evaluate NAME=TRACKING_URI ...` reads each
dataset's MLflow store (the default grid run on it; a NAME given twice joins the trials of two
stores of the same images, e.g. two grids of extractors; a store of several datasets gives the
one called NAME), prints every criterion's chosen,
oracle and median accuracy per dataset, the leave-one-dataset-out choice and the default it
supports, and writes them to `results/criteria/` (`--out`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from clustering.config import DEFAULT_OBJECTIVE
from clustering.data.dataset import stratified_subset
from clustering.data.idx import read_idx_pair
from clustering.report.columns import (
    ALL_SELECTION_CRITERIA,
    SELECTION_CRITERIA,
    UNCERTAIN_MEMBERS,
    UNCERTAIN_SPAN,
)
from clustering.report.criteria import (
    MEDIAN,
    ORACLE,
    SELECTED,
    best_worst_case,
    gaps,
    leave_one_dataset_out,
    worst_cases,
)
from clustering.report.labels import trial_labels, with_consensus
from clustering.report.selection import selection_table, uncertain
from clustering.report.tables import comparison_table, dataset_names, to_markdown, trials_table

SUBSET_SEED = 0


def derived_mnist(images: np.ndarray, labels: np.ndarray, size: int) -> dict[str, tuple]:
    """MNIST variants of `size` images each, by name -> (images (n, 28, 28, 1) uint8, labels
    (n,)): `mnist_pairs` (a stratified subset, digits 2j and 2j+1 merged into class j, k = 5)
    and `mnist_0to4` (a stratified subset of the digits 0-4 only, k = 5)."""
    pairs = stratified_subset(labels, size, SUBSET_SEED, "mnist")
    low = np.flatnonzero(labels < 5)
    low = low[stratified_subset(labels[low], size, SUBSET_SEED, "mnist")]
    return {
        "mnist_pairs": (images[pairs], labels[pairs] // 2),
        "mnist_0to4": (images[low], labels[low]),
    }


def prepare(data_dir: Path, out: Path, size: int) -> list[Path]:
    """Write the derived datasets of MNIST's test images in `data_dir` to `out`/<name>.npz."""
    images, labels = read_idx_pair(
        data_dir / "t10k-images-idx3-ubyte.gz", data_dir / "t10k-labels-idx1-ubyte.gz"
    )
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (x, y) in derived_mnist(images, labels, size).items():
        path = out / f"{name}.npz"
        np.savez_compressed(path, x=x, y=y)
        written.append(path)
    return written


def dataset_selection(name: str, tracking_uris: list[str]) -> pd.DataFrame:
    """The selection table (every criterion, the consensus included) of one dataset, with a
    column `dataset` = `name`: its trials are those of every store in `tracking_uris` (each holds
    the runs of that one dataset, e.g. one grid of extractors per store, or of several, `name`
    among them), the consensus computed over all of them."""
    trials, labels, objectives = [], {}, set()
    for uri in tracking_uris:
        found = dataset_names(uri)
        dataset = found[0] if len(found) == 1 else name
        if dataset not in found:
            raise SystemExit(f"{uri}: holds the datasets {found}; name one of them (NAME=URI)")
        table = comparison_table(uri, dataset)
        rows = trials_table(uri, table)
        labels.update(trial_labels(uri, rows.loc[rows["state"] == "COMPLETE", "run_id"]))
        trials.append(rows)
        objectives |= set(table["objective"].dropna())
    merged = with_consensus(pd.concat(trials, ignore_index=True), labels)
    return selection_table(merged).assign(dataset=name, objective=",".join(sorted(objectives)))


def chosen_table(selections: pd.DataFrame) -> pd.DataFrame:
    """Criteria x datasets: the Hungarian accuracy each criterion selects, then its worst and
    mean gap to the oracle; the oracle's and the median trial's rows last."""
    table = selections.pivot(index="criterion", columns="dataset", values=SELECTED)
    datasets = list(dict.fromkeys(selections["dataset"]))
    table = table.reindex(index=list(dict.fromkeys(selections["criterion"])), columns=datasets)
    table = table.join(worst_cases(gaps(selections)))
    for kind, column in (("oracle", ORACLE), ("median", MEDIAN)):
        table.loc[kind, datasets] = selections.groupby("dataset")[column].first()[datasets]
    return table.rename_axis("criterion").reset_index()


def incumbent_first(criteria: list[str]) -> list[str]:
    """`criteria` with the current default objective first, so that a tie keeps it."""
    return sorted(criteria, key=lambda name: name != DEFAULT_OBJECTIVE)


def evaluate(stores: dict[str, list[str]]) -> dict:
    """Every criterion's choice on every dataset (`stores`: name -> its tracking URIs), the rule's
    choice among the per-trial criteria (what the study can optimise) and among all, and
    leave-one-dataset-out for both."""
    selections = pd.concat([dataset_selection(name, uri) for name, uri in stores.items()])
    gap = gaps(selections)
    per_trial = incumbent_first([name for name in SELECTION_CRITERIA if name in gap.columns])
    every = incumbent_first([name for name in ALL_SELECTION_CRITERIA if name in gap.columns])
    by_dataset = {name: group for name, group in selections.groupby("dataset", sort=False)}
    return {
        "selections": selections,
        "chosen": chosen_table(selections),
        "default_objective": best_worst_case(gap, per_trial),
        "default_selection": best_worst_case(gap, every),
        "lodo_per_trial": leave_one_dataset_out(selections, per_trial),
        "lodo_all": leave_one_dataset_out(selections, every),
        "uncertain": [name for name, group in by_dataset.items() if uncertain(group)],
    }


def markdown(result: dict, stores: dict[str, list[str]]) -> str:
    """The evaluation as Markdown: the chosen accuracies, both rules' choices, LODO."""
    chosen = result["chosen"]
    lines = [
        "# Label-free criteria across datasets",
        "",
        "Hungarian accuracy of the trial each criterion selects on each dataset's default grid "
        f"(objective {', '.join(sorted(set(result['selections']['objective'])))}), its largest "
        "and mean gap to the oracle, and the oracle's and median trial's accuracy:",
        "",
        to_markdown(chosen, list(chosen.columns)),
        f"The rule (smallest largest gap; ties: the smaller mean gap, then the current default "
        f"{DEFAULT_OBJECTIVE}, then registry order) among "
        f"the per-trial criteria, which an Optuna study can optimise: "
        f"**{result['default_objective']}**; among all, the after-the-fact ones included: "
        f"**{result['default_selection']}**.",
        "",
        f"Uncertain ({', '.join(UNCERTAIN_MEMBERS[:-1])} and {UNCERTAIN_MEMBERS[-1]} choose "
        f"accuracies more than {UNCERTAIN_SPAN} apart): "
        + (", ".join(result["uncertain"]) or "none"),
        "",
    ]
    for key, among in (("lodo_per_trial", "per-trial criteria"), ("lodo_all", "criteria")):
        lines += [
            f"Leave one dataset out, among all {among}: the rule applied to the other datasets, "
            "its choice scored on the held-out one:",
            "",
            to_markdown(result[key], list(result[key].columns)),
        ]
    lines += ["Stores read:", ""] + [
        f"- {name}: " + ", ".join(f"`{uri}`" for uri in uris) for name, uris in stores.items()
    ]
    return "\n".join(lines) + "\n"


def _store(text: str) -> tuple[str, str]:
    name, sep, uri = text.partition("=")
    if not sep or not name or not uri:
        raise argparse.ArgumentTypeError(f"expected NAME=TRACKING_URI, got {text!r}")
    return name, uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.criteria_across_datasets")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("prepare", help="write the derived MNIST datasets (.npz)")
    make.add_argument("--data-dir", type=Path, required=True, help="MNIST's IDX test files")
    make.add_argument("--out", type=Path, required=True, help="folder for the .npz files")
    make.add_argument("--size", type=int, default=2000, help="images per dataset (2000)")
    judge = commands.add_parser("evaluate", help="judge the criteria on the runs of datasets")
    judge.add_argument(
        "stores",
        nargs="+",
        type=_store,
        help="NAME=TRACKING_URI; a NAME given again adds that store's trials to its dataset",
    )
    judge.add_argument("--out", type=Path, default=Path("results/criteria"))
    args = parser.parse_args(argv)
    if args.command == "prepare":
        for path in prepare(args.data_dir, args.out, args.size):
            print(f"wrote {path}")
        return 0
    started = time.perf_counter()
    stores = {}
    for name, uri in args.stores:
        stores.setdefault(name, []).append(uri)
    result = evaluate(stores)
    text = markdown(result, stores)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "criteria.md").write_text(text)
    result["selections"].to_csv(args.out / "selections.csv", index=False)
    print(text, end="")
    print(f"wrote {args.out}/criteria.md, selections.csv in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
