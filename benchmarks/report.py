"""The benchmark's record as JSON (everything) and Markdown (the tables a reader needs)."""

from __future__ import annotations

import json
from pathlib import Path

GIB = 2**30


def targets(record: dict) -> list[dict]:
    """One row per claim: what was asked, what was measured, whether it was met."""
    rows = []
    for row in record["kmeans"]:
        rows.append(
            {
                "claim": f"KMeans {row['data']} {row['dtype']}: identical labels and n_iter, "
                f"inertia to 1e-6, time <= {row['target']:.1f}x scikit-learn (aim {row['aim']}x)",
                "measured": f"{row['ratio']:.2f}x; labels identical: {row['labels_identical']}; "
                f"n_iter {row['n_iter']}/{row['reference_n_iter']}; inertia rel. diff "
                f"{row['inertia_rel_diff']:.1e}",
                "met": row["met"],
            }
        )
    for row in record["metrics"]:
        rows.append(
            {
                "claim": f"{row['metric']} {row['data']} n={row['n']:,}: equal to "
                f"{row['reference_name']} to 1e-9, time <= {row['target']}x",
                "measured": f"{row['ratio']:.2f}x; rel. diff {row['rel_diff']:.1e}; "
                f"{row['floor_ratio']:.2f}x the floor X @ X.T",
                "met": row["met"],
            }
        )
    for row in record["memory"]:
        if row["metric"] == "dunn" and row["n"] >= 60_000:
            rows.append(
                {
                    "claim": f"dunn at n={row['n']:,}, d={row['d']}: peak resident memory < 2 GiB",
                    "measured": f"peak RSS {row['peak_rss_mib']:.0f} MiB "
                    f"(+{row['extra_mib']:.0f} MiB over the loaded data)",
                    "met": row["peak_rss_mib"] * 2**20 < 2 * GIB,
                }
            )
    return rows


def write(record: dict, out: Path) -> tuple[Path, Path]:
    """Write out/benchmarks.json and out/benchmarks.md; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    record = {**record, "targets": targets(record)}
    json_path, md_path = out / "benchmarks.json", out / "benchmarks.md"
    json_path.write_text(json.dumps(record, indent=1) + "\n")
    md_path.write_text(markdown(record))
    return md_path, json_path


def markdown(record: dict) -> str:
    m = record["machine"]
    blas = ", ".join(
        f"{b['internal_api']} {b['version']} ({b['num_threads']} threads, {b['architecture']})"
        for b in m["numpy_blas"]
    )
    lines = [
        "# Benchmarks: our kernels against their references, side by side",
        "",
        f"Made by `{record['command']}` on {record['started']} in {record['seconds']:.0f} s. "
        "Every comparison alternates ours and the reference in one process on the same arrays; "
        "times are medians of wall-clock seconds (min-max in brackets). Ratio = ours / "
        "reference (lower is better), of the medians (the targets are judged on it) and of the "
        "best times (less sensitive to other processes' load).",
        "",
        f"- Machine: {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs, "
        f"{m['memory_gib']} GiB; {m['platform']}",
        f"- NumPy BLAS: {blas}; OPENBLAS_CORETYPE={m['openblas_coretype']}; matrix multiply "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in m.get("gemm_gflops", {}).items()),
        "- Versions: "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + f", Python {m['python']}",
        f"- Load average (1, 5, 15 min) at start {record['load_average']['start']}, at end "
        f"{record['load_average']['end']} (other processes share this machine)",
        "",
        "## Targets",
        "",
        "| claim | measured | met |",
        "|---|---|---|",
    ]
    lines += [
        f"| {t['claim']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |"
        for t in record["targets"]
    ]
    lines += [
        "",
        '## K-means: `clustering.clusterers.KMeans` vs `sklearn.cluster.KMeans(algorithm="lloyd")`',
        "",
        "Same explicit initial centres, `tol=0`, `max_iter=300`, one initialisation. Inertia "
        "rel. diff is ours against scikit-learn's `inertia_`; the last column is how far "
        "scikit-learn's `inertia_` is from the exact (float64) inertia of its own labels and "
        "centres (it sums float32 data in float32; ours sums in float64).",
        "",
        "| data | n x d | dtype | k | n_iter (ours/sklearn) | ours s | sklearn s | ratio | "
        "ratio of best | labels identical | inertia rel. diff | sklearn's own inertia "
        "rounding |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in record["kmeans"]:
        lines.append(
            f"| {r['data']} | {r['n']:,} x {r['d']} | {r['dtype']} | {r['n_clusters']} | "
            f"{r['n_iter']}/{r['reference_n_iter']} | {_t(r['ours'])} | {_t(r['reference'])} | "
            f"**{r['ratio']:.2f}** | {_best(r)} | {r['labels_identical']} | "
            f"{r['inertia_rel_diff']:.1e} | "
            f"{r['reference_inertia_rounding']:.1e} |"
        )
    sizes = sorted({f"{r['n']:,}" for r in record["metrics"]})
    lines += [
        "",
        f"## Silhouette and Dunn's index at n = {', '.join(sizes)}",
        "",
        "References: `sklearn.metrics.silhouette_score(X, labels)` and "
        "`validclust.dunn(sklearn.metrics.pairwise_distances(X), labels)` (its time "
        "includes the distance matrix). Floor: one `X @ X.T` on the same float64 data "
        "(NumPy's symmetric rank-k update: every pair once), timed in the same rounds. "
        "Pairs computed: the share of the n (n - 1) / 2 pairs whose distance our kernel "
        "computes; asc skips the between-cluster sums that its bounds prove unneeded, so "
        "it can go below the floor. GEMM bound: d flops per pair computed (d counts the "
        "non-constant columns) at the machine's best measured matrix-multiply rate, "
        "float64 for asc, float32 for dunn's screening pass: the time of the "
        "multiplications alone, at that rate.",
        "",
        "| metric | data | n x d | ours s | reference s | ratio | ratio of best | floor s | "
        "ours / floor | reference / floor | pairs computed | GEMM bound s | rel. diff |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in record["metrics"]:
        lines.append(
            f"| {r['metric']} | {r['data']} | {r['n']:,} x {r['d']} | {_t(r['ours'])} | "
            f"{_t(r['reference'])} | **{r['ratio']:.2f}** | {_best(r)} | {_t(r['floor'])} | "
            f"{r['floor_ratio']:.2f} | {r['reference_floor_ratio']:.2f} | "
            f"{r.get('pairs_computed', 1.0):.0%} | "
            f"{r.get('gemm_bound_s', float('nan')):.3g} | {r['rel_diff']:.1e} |"
        )
    lines += [
        "",
        "## Scaling",
        "",
        scaling_table(record["scaling"]),
        "",
        "## Peak memory (child processes)",
        "",
        "Peak RSS is the child's `VmHWM` over its whole life (interpreter, libraries, data, "
        "the call); extra = peak minus the RSS with the data loaded, just before the call.",
        "",
        "| metric | data | n x d | data MiB | peak RSS MiB | extra MiB | n x n float64 "
        "matrix MiB | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in record["memory"]:
        lines.append(
            f"| {r['metric']} | {r['source']} | {r['n']:,} x {r['d']} | {r['data_mib']:.0f} | "
            f"{r['peak_rss_mib']:.0f} | {r['extra_mib']:.0f} | {r['n'] ** 2 * 8 / 2**20:,.0f} | "
            f"{r['seconds']:.1f} |"
        )
    if record.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in record["notes"]]
    return "\n".join(lines) + "\n"


def scaling_table(rows: list[dict]) -> str:
    """The scaling rows as a Markdown table (also printed by the runner)."""
    d = rows[0]["d"] if rows else "?"
    lines = [
        f"Synthetic data, d = {d}, one round per n (the n = 10,000 row is the medians above "
        "when that size was measured there). A dash: not run, the reference and the floor "
        "hold an n x n float64 matrix.",
        "",
        "| n | asc s | silhouette_score s | ratio | dunn s | validclust s | ratio | "
        "floor X @ X.T s | n x n matrix GB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['asc_s']:.2f} | {_s(r['silhouette_score_s'])} | "
            f"{_r(r['asc_ratio'])} | {r['dunn_s']:.2f} | {_s(r['validclust_s'])} | "
            f"{_r(r['dunn_ratio'])} | {_s(r['floor_s'])} | {r['reference_matrix_gb']:.1f} |"
        )
    return "\n".join(lines)


def _t(summary: dict) -> str:
    return f"{summary['median_s']:.3f} [{summary['min_s']:.3f}-{summary['max_s']:.3f}]"


def _best(row: dict) -> str:
    return f"{row['ours']['min_s'] / row['reference']['min_s']:.2f}"


def _s(seconds) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


def _r(ratio) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"
