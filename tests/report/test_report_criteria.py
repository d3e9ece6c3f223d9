"""The rule that picks the criterion to trust across datasets (the smallest largest gap to the
oracle) and leave-one-dataset-out, on a small hand-made table of selections."""

import math

import pandas as pd
import pytest

from clustering.report.criteria import best_worst_case, gaps, leave_one_dataset_out, worst_cases

ORACLES = {"A": 0.9, "B": 0.8, "C": 0.7}
GAPS = {  # criterion -> its gap per dataset
    "x": {"A": 0.00, "B": 0.00, "C": 0.30},  # best on two, far off on the third
    "y": {"A": 0.05, "B": 0.06, "C": 0.04},  # never best, never far: the best worst case
    "z": {"A": 0.10, "B": 0.02, "C": 0.01},
    "w": {"A": 0.00, "B": 0.00, "C": math.nan},  # not computed on C
}


def selections(gaps_by_criterion: dict = GAPS) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "dataset": dataset,
                "criterion": criterion,
                "selected_hungarian": ORACLES[dataset] - gap,
                "oracle_hungarian": ORACLES[dataset],
                "median_hungarian": ORACLES[dataset] - 0.2,
            }
            for criterion, by_dataset in gaps_by_criterion.items()
            for dataset, gap in by_dataset.items()
        ]
    )


def test_gaps_are_the_oracle_minus_the_selected_accuracy_per_dataset():
    table = gaps(selections())
    assert list(table.index) == ["A", "B", "C"] and list(table.columns) == ["x", "y", "z", "w"]
    assert table.at["C", "x"] == pytest.approx(0.30) and math.isnan(table.at["C", "w"])
    cases = worst_cases(table)
    assert cases.loc["y"].tolist() == pytest.approx([0.06, 0.05])
    assert cases.loc["w"].isna().all()  # no worst case without every dataset


def test_the_rule_picks_the_smallest_largest_gap_not_the_best_mean_or_the_most_wins():
    table = gaps(selections())
    assert best_worst_case(table) == "y"  # x wins twice, z has the best mean gap
    assert best_worst_case(table, ["x", "z"]) == "z"
    assert best_worst_case(table.loc[["A", "B"]]) == "x"  # w ties x on A, B: listed later


def test_ties_go_to_the_smaller_mean_gap_then_the_order_listed():
    tied = {"p": {"A": 0.05, "B": 0.05, "C": 0.05}, "q": {"A": 0.05, "B": 0.0, "C": 0.0}}
    assert best_worst_case(gaps(selections(tied))) == "q"
    same = {"p": {"A": 0.05, "B": 0.0, "C": 0.0}, "q": {"A": 0.05, "B": 0.0, "C": 0.0}}
    assert best_worst_case(gaps(selections(same))) == "p"
    assert best_worst_case(gaps(selections(same)), ["q", "p"]) == "q"


def test_a_criterion_missing_on_a_dataset_is_never_chosen():
    with pytest.raises(ValueError, match="no criterion of \\['w'\\] has a gap on every dataset"):
        best_worst_case(gaps(selections()), ["w"])


def test_leave_one_dataset_out_chooses_on_the_others_and_scores_on_the_held_out_one():
    table = leave_one_dataset_out(selections(), ["x", "y", "z"]).set_index("held_out")
    assert table["chosen"].to_dict() == {"A": "z", "B": "y", "C": "x"}
    assert table.loc["A", "worst_gap_others"] == pytest.approx(0.02)
    assert table.loc["A", "gap"] == pytest.approx(0.10)
    assert table.loc["C", ["selected", "oracle", "median"]].tolist() == pytest.approx(
        [0.4, 0.7, 0.5]
    )
    assert table.loc["C", "gap"] == pytest.approx(0.30)  # x was never tested on a C-like case
    with pytest.raises(ValueError, match="two datasets or more"):
        leave_one_dataset_out(selections({"x": {"A": 0.0}}))
