"""benchmarks.criteria_across_datasets: the derived MNIST datasets it writes, and its evaluation
of two real stores (the rule's choices and leave-one-dataset-out in the Markdown it writes)."""

import numpy as np
import pytest

from benchmarks import criteria_across_datasets as bench
from clustering.data import npz
from clustering.report.columns import SELECTION_CRITERIA
from tests import report_store


def test_prepare_writes_mnist_with_classes_merged_in_pairs_and_the_digits_0_to_4(
    test_data, tmp_path
):
    written = bench.prepare(test_data / "mnist", tmp_path, size=200)
    assert [path.name for path in written] == ["mnist_pairs.npz", "mnist_0to4.npz"]
    pairs = npz.read_npz(tmp_path / "mnist_pairs.npz", "test")
    low = npz.read_npz(tmp_path / "mnist_0to4.npz", "test")
    assert pairs[0].shape == (200, 28, 28, 1) and low[0].shape == (200, 28, 28, 1)
    assert set(pairs[1]) == set(range(5)) and set(low[1]) == set(range(5))
    assert np.bincount(pairs[1]).min() >= 30  # each merged class keeps about its share


def test_evaluate_applies_the_rule_to_every_store(tmp_path, capsys):
    def store(name: str, best: float) -> str:
        trials = [
            {**dict.fromkeys(SELECTION_CRITERIA, 1 - a), "stability": a, "hungarian_accuracy": a}
            for a in (0.4, best)
        ]  # only stability follows the accuracy
        return report_store.store(
            tmp_path / name, [{"dataset": name, "trial_scores": trials}], name
        )

    stores = [f"one={store('one', 0.9)}", f"two={store('two', 0.6)}"]
    assert bench.main(["evaluate", *stores, "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "criteria.md").read_text()
    assert "among the per-trial criteria, which an Optuna study can optimise: **stability**" in text
    assert "| one | stability | 0.0000 | 0.9000 | 0.9000 |" in text  # leave one out
    assert text in capsys.readouterr().out


def test_a_dataset_named_twice_joins_the_trials_of_both_stores(tmp_path):
    def store(name: str, accuracies) -> str:
        trials = [{"stability": a, "hungarian_accuracy": a} for a in accuracies]
        return report_store.store(tmp_path / name, [{"dataset": "c", "trial_scores": trials}], "c")

    stores = {"c": [store("pixels", (0.2, 0.3)), store("pretrained", (0.7, 0.5))], "d": []}
    stores["d"] = [store("other", (0.4, 0.6))]
    selection = bench.evaluate(stores)["selections"].set_index(["dataset", "criterion"])
    row = selection.loc[("c", "stability")]
    assert row["trials"] == 4 and row["oracle_hungarian"] == 0.7
    assert row["median_hungarian"] == 0.4 and row["selected_hungarian"] == 0.7


def test_a_store_of_several_datasets_gives_the_one_named(tmp_path):
    def add(name: str, accuracies) -> str:
        trials = [{"stability": a, "hungarian_accuracy": a} for a in accuracies]
        return report_store.store(tmp_path, [{"dataset": name, "trial_scores": trials}], name)

    add("c", (0.2, 0.3))
    uri = add("d", (0.4, 0.6, 0.8))
    selection = bench.evaluate({"c": [uri], "d": [uri]})["selections"]
    rows = selection.set_index(["dataset", "criterion"])
    assert rows.loc[("c", "stability"), "trials"] == 2
    assert rows.loc[("d", "stability"), "oracle_hungarian"] == 0.8
    with pytest.raises(SystemExit, match=r"holds the datasets \['c', 'd'\]; name one of them"):
        bench.evaluate({"e": [uri]})
