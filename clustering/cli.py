"""The `clustering-bench` command: parse flags, call the library, print results."""

import argparse
import logging
import os
import sys

from clustering.config import OBJECTIVES, RunConfig, resolve_tracking_uri

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of integers such as 10,16,36, got {text!r}"
        ) from None


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clustering-bench",
        description="Benchmark image representations x clusterers with Optuna and MLflow.",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="tune every (extractor, clusterer) cell on a dataset")
    run.add_argument("--config", help="YAML suite file with run options (flags override it)")
    run.add_argument("--dataset", help="digits (default), mnist, fashion_mnist, cifar10, "
                     "npz:PATH or folder:PATH")
    run.add_argument("--data-dir", help="folder holding the dataset's files")
    run.add_argument("--split", choices=["test", "train", "all"])
    run.add_argument("--limit", type=int, help="class-stratified subset of N images")
    run.add_argument("--color", action="store_true", default=None, help="keep RGB channels")
    run.add_argument("--extractors", type=_names, help="comma list or 'all' (default)")
    run.add_argument("--clusterers", type=_names, help="comma list or 'all' (default)")
    run.add_argument("--trials", type=int, help="complete trials per cell (default 3)")
    run.add_argument("--objective", help=f"one of {', '.join(OBJECTIVES)} (default asc)")
    run.add_argument("--n-clusters", type=_int_list,
                     help="k, or a comma list to search over (default: number of classes)")
    run.add_argument("--seed", type=int, help="random seed (default 0)")
    run.add_argument("--tracking-uri", help="MLflow tracking URI (default MLFLOW_TRACKING_URI "
                     "or sqlite:///mlflow.db)")
    run.add_argument("--storage", help="Optuna storage URL or journal:PATH (default: optuna.db "
                     "beside the MLflow database)")
    run.add_argument("--cache-dir", help="feature cache folder (default .feature-cache)")
    run.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    run.add_argument("--metric-sample-size", type=int,
                     help="estimate ASC and Dunn on a random sample of this many images")

    report = commands.add_parser("report", help="MLflow runs -> comparison tables in results/")
    report.add_argument("--dataset", default="digits")
    report.add_argument("--tracking-uri")
    report.add_argument("--out", default="results", help="output folder (default results)")

    listing = commands.add_parser("datasets", help="list datasets, where they are looked up")
    listing.add_argument("--data-dir")

    commands.add_parser("list", help="list registered extractors, clusterers and objectives")
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    flags = {
        "dataset": args.dataset,
        "data_dir": args.data_dir,
        "split": args.split,
        "limit": args.limit,
        "color": args.color,
        "extractors": args.extractors,
        "clusterers": args.clusterers,
        "trials": args.trials,
        "objective": args.objective,
        "n_clusters": args.n_clusters,
        "seed": args.seed,
        "tracking_uri": args.tracking_uri,
        "storage": args.storage,
        "cache_dir": args.cache_dir,
        "use_cache": False if args.no_cache else None,
        "metric_sample_size": args.metric_sample_size,
    }
    if args.config:
        return RunConfig.from_yaml(args.config, **flags)
    return RunConfig(**{key: value for key, value in flags.items() if value is not None})


def command_run(args) -> int:
    from clustering.runner import run_benchmark

    config = config_from_args(args).validate()
    summaries = run_benchmark(config, parent_run_id=os.environ.get("MLFLOW_RUN_ID"))
    if not args.quiet:
        print(f"\n{'extractor':<10} {'clusterer':<17} {'done':>4} {'pruned':>6} {'failed':>6} "
              f"{'best ' + config.objective:>14} {'seconds':>8}")
        for s in summaries:
            best = "-" if s.best_value is None else f"{s.best_value:.4f}"
            print(f"{s.extractor:<10} {s.clusterer:<17} {s.complete:>4} {s.pruned:>6} "
                  f"{s.failed:>6} {best:>14} {s.seconds:>8.1f}")
        print(f"\ntracking: {config.tracking_uri}\nstudies:  {config.storage}\n"
              f"next:     clustering-bench report --dataset {config.dataset}")
    return 0


def command_report(args) -> int:
    from clustering.report import write_report

    written = write_report(resolve_tracking_uri(args.tracking_uri), args.dataset, args.out)
    if not args.quiet:
        print(written["markdown"], end="")
        print(f"\nwrote {written['csv']} and {written['markdown_path']}")
    return 0


def command_datasets(args) -> int:
    from clustering.datasets import describe_sources

    for source in describe_sources(args.data_dir):
        found = "found" if source["found"] else "missing"
        print(f"{source['name']:<16} {found:<8} {source['where']}")
    return 0


def command_list(args) -> int:
    from clustering.clusterers import CLUSTERERS
    from clustering.extractors import EXTRACTORS

    print("extractors: " + ", ".join(EXTRACTORS.names()))
    print("clusterers: " + ", ".join(CLUSTERERS.names()))
    print("objectives: " + ", ".join(OBJECTIVES))
    return 0


COMMANDS = {
    "run": command_run,
    "report": command_report,
    "datasets": command_datasets,
    "list": command_list,
}


def configure_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    for noisy in ("mlflow", "optuna", "alembic", "absl", "tensorflow", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.quiet)
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return COMMANDS[args.command](args)
    except ValueError as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"clustering-bench: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("clustering-bench: interrupted; run the same command again to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
