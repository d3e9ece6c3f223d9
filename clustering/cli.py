"""The `clustering-bench` command: parse flags, call the library, print results."""

import argparse
import contextlib
import functools
import logging
import os
import signal
import sys
import threading

from clustering.config import DEFAULT_OBJECTIVE, RunConfig, resolve_tracking_uri
from clustering.data import DATASETS
from clustering.errors import BenchError
from clustering.metrics import METRICS

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
MLFLOW_CLIENT_DEFAULTS = {  # environment defaults for the MLflow client (a user's value wins)
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # a "View run" line per trial otherwise
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # `report` downloads pictures one by one
}


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of integers such as 10,16,36, got {text!r}"
        ) from None


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of `run` and `worker`: data, cells, search, stores, faults.
    One add_argument per flag: long, but a flat list is the easiest to scan."""
    parser.add_argument("--config", help="YAML suite file with run options (flags override it)")
    parser.add_argument(
        "--dataset", help=f"one of {', '.join(DATASETS.choices())} (default digits)"
    )
    parser.add_argument("--data-dir", help="folder holding the dataset's files")
    parser.add_argument("--split", choices=["test", "train", "all"])
    parser.add_argument("--limit", type=int, help="class-stratified subset of N images")
    parser.add_argument("--color", action="store_true", default=None, help="keep RGB channels")
    parser.add_argument(
        "--extractors",
        "--extractor",
        dest="extractors",
        type=_names,
        help="comma list or 'all' (default raw,dense_ae)",
    )
    parser.add_argument(
        "--reducers",
        "--reducer",
        dest="reducers",
        type=_names,
        help="comma list or 'all' (default none,umap)",
    )
    parser.add_argument(
        "--clusterers",
        "--clusterer",
        dest="clusterers",
        type=_names,
        help="comma list or 'all' (default kmeans,gmm)",
    )
    parser.add_argument("--trials", type=int, help="complete trials per cell (default 3)")
    parser.add_argument(
        "--objective",
        help=f"one of {', '.join(METRICS.objectives())}, or several label-free "
        f"ones separated by commas (default {DEFAULT_OBJECTIVE})",
    )
    parser.add_argument(
        "--search",
        type=_names,
        help="the stages whose parameters each study samples, a comma list of extractor, "
        "reducer, clusterer (default all); the others keep their queued configurations and "
        "then the best trial's, so e.g. 'reducer,clusterer' fits each extractor once per "
        "configuration and sweeps the cheap stages over it",
    )
    parser.add_argument(
        "--n-clusters",
        type=_int_list,
        help="k, or a comma list to search over (default: number of classes)",
    )
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI (default MLFLOW_TRACKING_URI or sqlite:///mlflow.db)",
    )
    parser.add_argument(
        "--storage",
        help="Optuna storage: sqlite:///PATH (default optuna.db "
        "beside the MLflow database), journal:PATH (processes on one machine) "
        "or postgresql+psycopg2://USER:PASSWORD@HOST/DB (several machines)",
    )
    parser.add_argument("--cache-dir", help="feature cache folder (default .feature-cache)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    parser.add_argument(
        "--metric-sample-size",
        type=int,
        help="estimate ASC and Dunn on a random sample of this many images",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=int,
        help="seconds between a running trial's heartbeats (default 60)",
    )
    parser.add_argument(
        "--grace-period",
        type=int,
        help="seconds without a heartbeat before a trial counts as lost and is "
        "run again (default 120)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        help="retries, 2 s doubling, while a store is unreachable (default 5)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clustering-bench",
        description="Benchmark image representations x reducers x clusterers with Optuna and "
        "MLflow.",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors")
    # the same flag after the subcommand; absent there, it keeps the value given before it
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        default=argparse.SUPPRESS,
        help="only warnings and errors",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    command = functools.partial(commands.add_parser, parents=[quiet])

    run = command("run", help="tune every (extractor, clusterer) cell on a dataset")
    _add_run_options(run)
    run.add_argument(
        "--workers",
        type=int,
        help="worker processes on this machine sharing one storage (default 1)",
    )

    worker = command("worker", help="join a cell's study (same options as run) and take its trials")
    _add_run_options(worker)

    report = command(
        "report", help="MLflow runs -> tables, figures and report.html in reports/<dataset>/"
    )
    report.add_argument(
        "--dataset",
        default="digits",
        help="a dataset, or several comma-separated for the cross-dataset page",
    )
    report.add_argument(
        "--all", action="store_true", help="the cross-dataset page of every dataset in the store"
    )
    report.add_argument("--tracking-uri")
    report.add_argument(
        "--out",
        default="reports",
        help="output folder (default reports; the "
        "committed reference results are made with --out results)",
    )

    register = command(
        "register", help="register the dataset's best cell model as clustering-bench-<dataset>"
    )
    register.add_argument("--dataset", default="digits")
    register.add_argument(
        "--by",
        default=DEFAULT_OBJECTIVE,
        help=f"the metric that picks the best cell (default {DEFAULT_OBJECTIVE})",
    )
    register.add_argument("--tracking-uri")

    predict = command(
        "predict", help="assign a dataset's images to clusters with a logged or registered model"
    )
    predict.add_argument(
        "--model", required=True, help="model URI: models:/clustering-bench-digits/1, runs:/..."
    )
    predict.add_argument("--dataset", default="digits")
    predict.add_argument("--data-dir", help="folder holding the dataset's files")
    predict.add_argument("--split", choices=["test", "train", "all"], default="test")
    predict.add_argument("--limit", type=int, help="class-stratified subset of N images")
    predict.add_argument("--seed", type=int, default=0, help="seed of the --limit subset")
    predict.add_argument("--out", default="labels.csv", help="CSV file (default labels.csv)")
    predict.add_argument("--tracking-uri")

    listing = command("datasets", help="list datasets, where they are looked up")
    listing.add_argument("--data-dir")

    command("list", help="list registered extractors, reducers, clusterers and objectives")
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    flags = {
        "dataset": args.dataset,
        "data_dir": args.data_dir,
        "split": args.split,
        "limit": args.limit,
        "color": args.color,
        "extractors": args.extractors,
        "reducers": args.reducers,
        "clusterers": args.clusterers,
        "trials": args.trials,
        "objective": args.objective,
        "search": args.search,
        "n_clusters": args.n_clusters,
        "seed": args.seed,
        "tracking_uri": args.tracking_uri,
        "storage": args.storage,
        "cache_dir": args.cache_dir,
        "use_cache": False if args.no_cache else None,
        "metric_sample_size": args.metric_sample_size,
        "workers": getattr(args, "workers", None),
        "heartbeat_interval": args.heartbeat_interval,
        "grace_period": args.grace_period,
        "retries": args.retries,
    }
    if args.config:
        return RunConfig.from_yaml(args.config, **flags)
    return RunConfig(**{key: value for key, value in flags.items() if value is not None})


def command_run(args) -> int:
    config = config_from_args(args).validate()
    parent_run_id = os.environ.get("MLFLOW_RUN_ID")
    from clustering.study.loop import run

    worker_args = ("--quiet",) if args.quiet else ()
    summaries = run(config, parent_run_id, worker_args)
    _print_summaries(args, config, summaries)
    return 0


def command_worker(args) -> int:
    from clustering.study.loop import work

    config = config_from_args(args).validate()
    summaries = work(config, parent_run_id=os.environ.get("MLFLOW_RUN_ID"))
    _print_summaries(args, config, summaries)
    return 0


def _print_summaries(args, config, summaries) -> None:
    from clustering.study.storage import redact

    if not args.quiet:
        width = max(len("cell"), *(len(s.label) for s in summaries))
        print(
            f"\n{'cell':<{width}} {'done':>4} {'failed':>6} "
            f"{'best ' + config.objective:>14} {'seconds':>8}"
        )
        for s in summaries:
            best = "-" if s.best_value is None else f"{s.best_value:.4f}"
            print(f"{s.label:<{width}} {s.complete:>4} {s.failed:>6} {best:>14} {s.seconds:>8.1f}")
        print(
            f"\ntracking: {config.tracking_uri}\nstudies:  {redact(config.storage)}\n"
            f"next:     clustering-bench report --dataset {config.dataset}"
        )


def command_report(args) -> int:
    from clustering.report.sections import UNCERTAIN_NOTE
    from clustering.report.selection import uncertain
    from clustering.report.write import write_report

    if args.all or "," in args.dataset:
        return command_report_across(args)
    written = write_report(resolve_tracking_uri(args.tracking_uri), args.dataset, args.out)
    if not args.quiet:
        print(written["markdown"], end="")
        print("\nChoosing without labels: the trial each criterion selects\n")
        print(written["selection_markdown"], end="")
        if uncertain(written["selection_table"]):
            print(f"\n{UNCERTAIN_NOTE}")
        print(
            f"\nwrote {written['csv']}, {written['markdown_path']}, {written['trials_csv']}, "
            f"{len(written['figures'])} figures, {len(written['pictures'])} cell pictures and "
            f"{written['html']} in {written['seconds']:.1f} s"
        )
    return 0


def command_report_across(args) -> int:
    from clustering.report.across import write_across_report
    from clustering.report.tables import dataset_names

    tracking_uri = resolve_tracking_uri(args.tracking_uri)
    datasets = dataset_names(tracking_uri) if args.all else _names(args.dataset)
    written = write_across_report(tracking_uri, datasets, args.out)
    if not args.quiet:
        test = written["test"]
        print(written["markdown"]["cells"], end="")
        print(
            f"\nFriedman p = {test.p_value:.3g}, Nemenyi critical difference "
            f"{test.critical_difference:.2f}; the default criterion per dataset:\n"
        )
        print(written["markdown"]["selection"], end="")
        print(f"\nwrote {written['folder']} in {written['seconds']:.1f} s")
    return 0


def command_register(args) -> int:
    from clustering.model.registry import register_best
    from clustering.tracking import Tracker

    tracker = Tracker(resolve_tracking_uri(args.tracking_uri))
    tracker.check_reachable()
    done = register_best(tracker, args.dataset, args.by)
    if not args.quiet:
        what = "registered" if done.new else "already registered as"
        print(
            f"{done.cell} ({args.by} = {done.value:.4f}) {what} {done.name} version "
            f"{done.version}\nmodel:   {done.model_uri}\nserve:   mlflow models serve -m "
            f"models:/{done.name}/{done.version} --env-manager local -p 5001"
        )
    return 0


def command_predict(args) -> int:
    from clustering.model.predict import predict_dataset

    written = predict_dataset(
        args.model,
        resolve_tracking_uri(args.tracking_uri),
        args.out,
        name=args.dataset,
        data_dir=args.data_dir,
        split=args.split,
        limit=args.limit,
        seed=args.seed,
    )
    if not args.quiet:
        print(
            f"wrote {written['path']}: {written['n_images']} images in "
            f"{written['n_clusters']} clusters (against the dataset's labels: Hungarian "
            f"accuracy {written['hungarian_accuracy']:.4f}, NMI {written['nmi']:.4f})"
        )
    return 0


def command_datasets(args) -> int:
    from clustering.data import describe_sources

    for source in describe_sources(args.data_dir):
        found = "found" if source["found"] else "missing"
        print(f"{source['name']:<16} {found:<8} {source['where']}")
    return 0


def command_list(args) -> int:
    from clustering.clusterers import CLUSTERERS
    from clustering.extractors import EXTRACTORS
    from clustering.reducers import REDUCERS

    print("extractors: " + ", ".join(EXTRACTORS.names()))
    print("reducers:   " + ", ".join(REDUCERS.names()))
    print("clusterers: " + ", ".join(CLUSTERERS.names()))
    print("objectives: " + ", ".join(METRICS.objectives()))
    return 0


COMMANDS = {
    "run": command_run,
    "worker": command_worker,
    "report": command_report,
    "register": command_register,
    "predict": command_predict,
    "datasets": command_datasets,
    "list": command_list,
}


def configure_logging(quiet: bool, worker: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s [%(process)d] %(message)s" if worker else "%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    for noisy in ("mlflow", "optuna", "alembic", "absl", "tensorflow", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # MLflow resets its logger on import
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retries: we report the outcome
    # 3: TensorFlow's C++ lines stay hidden (a harmless tf.data "error" on every Keras run);
    # its Python errors still raise. TF_CPP_MIN_LOG_LEVEL=0 shows them all.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # an unreachable tracking server fails in seconds, not minutes; workers retry on their own
    for name, value in MLFLOW_CLIENT_DEFAULTS.items():
        os.environ.setdefault(name, value)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM: the current trial fails cleanly, runs are closed, exit 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum, frame) -> None:
    for name in (signal.SIGINT, signal.SIGTERM):  # a second signal must not break the cleanup
        signal.signal(name, signal.SIG_IGN)
    raise Interrupted(signum)


@contextlib.contextmanager
def _signals_interrupt():
    """SIGINT and SIGTERM raise Interrupted while the command runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {name: signal.signal(name, _interrupt) for name in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.quiet, worker=args.command == "worker")
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with _signals_interrupt():
            return COMMANDS[args.command](args)
    except BenchError as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"clustering-bench: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as error:
        signum = getattr(error, "signum", signal.SIGINT)
        during = getattr(error, "during", None)
        where = f" during {during}" if during else ""
        print(
            f"clustering-bench: interrupted by {signal.Signals(signum).name}{where}; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
