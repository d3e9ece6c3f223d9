"""Which label-free criterion to trust on data it was not tuned on, from the selection tables of
several datasets (one tidy table: a row per dataset and criterion, selection.py's columns).

The rule: a criterion's gap on a dataset is the oracle's Hungarian accuracy minus that of the
trial it selects; the criterion to trust is the one whose largest gap over the datasets is the
smallest (the best worst case), ties broken by the smaller mean gap, then by the order the
criteria are listed in. Leave-one-dataset-out applies the rule to all datasets but one and
scores its choice on the one held out."""

import pandas as pd

SELECTED, ORACLE, MEDIAN = "selected_hungarian", "oracle_hungarian", "median_hungarian"


def gaps(selections: pd.DataFrame) -> pd.DataFrame:
    """Datasets x criteria: oracle minus selected Hungarian accuracy, >= 0 (0: the criterion
    chose a best trial), from the tidy `selections` (columns dataset, criterion, selected and
    oracle Hungarian accuracy); criteria in their first-seen order, NaN where not computed."""
    gap = selections[ORACLE] - selections[SELECTED]
    table = selections.assign(gap=gap).pivot(index="dataset", columns="criterion", values="gap")
    criteria = list(dict.fromkeys(selections["criterion"]))
    datasets = list(dict.fromkeys(selections["dataset"]))
    return table.reindex(index=datasets, columns=criteria)


def worst_cases(gap: pd.DataFrame) -> pd.DataFrame:
    """Per criterion (a column of `gap`, datasets x criteria) its largest and mean gap over the
    datasets, columns worst_gap and mean_gap; NaN for a criterion missing on any dataset."""
    complete = gap.notna().all()
    return pd.DataFrame(
        {
            "worst_gap": gap.max().where(complete),
            "mean_gap": gap.mean().where(complete),
        }
    )


def best_worst_case(gap: pd.DataFrame, criteria=None) -> str:
    """The criterion of `criteria` (default every column of `gap`) with the smallest largest
    gap over the datasets (rows), ties broken by the smaller mean gap, then by the order of
    `criteria`; a criterion without a value on every dataset cannot be chosen. ValueError when
    none has one."""
    names = list(gap.columns if criteria is None else criteria)
    cases = worst_cases(gap[names]).dropna()
    if cases.empty:
        raise ValueError(f"no criterion of {names} has a gap on every dataset of {list(gap.index)}")
    cases["order"] = [names.index(name) for name in cases.index]
    return cases.sort_values(["worst_gap", "mean_gap", "order"]).index[0]


def leave_one_dataset_out(selections: pd.DataFrame, criteria=None) -> pd.DataFrame:
    """One row per dataset of `selections` (tidy, as for `gaps`): the criterion the rule chooses
    on the other datasets (`chosen`, among `criteria`), its worst gap there (`worst_gap_others`)
    and, on the held-out dataset, what it selects, the oracle, the median and its gap; needs at
    least two datasets."""
    gap = gaps(selections)
    if len(gap) < 2:
        raise ValueError(f"leave-one-dataset-out needs two datasets or more, got {list(gap.index)}")
    rows = []
    for held_out in gap.index:
        others = gap.drop(index=held_out)
        chosen = best_worst_case(others, criteria)
        row = selections[(selections["dataset"] == held_out) & (selections["criterion"] == chosen)]
        rows.append(
            {
                "held_out": held_out,
                "chosen": chosen,
                "worst_gap_others": others[chosen].max(),
                "selected": float(row[SELECTED].iloc[0]),
                "oracle": float(row[ORACLE].iloc[0]),
                "median": float(row[MEDIAN].iloc[0]),
                "gap": gap.at[held_out, chosen],
            }
        )
    return pd.DataFrame(rows)
