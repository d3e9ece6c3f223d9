"""The `clustering-bench` command: parse flags, call the library, print results."""

import argparse
import functools
import logging
import os
import signal
import sys
import types
import typing

from clustering import experiment_view, interrupts
from clustering.config import (
    DEFAULT_OBJECTIVE,
    OPTIONS,
    RunConfig,
    flag_of,
    help_of,
    resolve_tracking_uri,
)
from clustering.errors import BenchError, redact
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


class OneLineParser(argparse.ArgumentParser):
    """argparse whose mistakes are one line on stderr and exit 2, like every other bad input;
    the usage stays behind --help."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number such as 3, got {text!r}"
        ) from None


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of whole numbers such as 10,16,36, got {text!r}"
        ) from None


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _flag_kind(hint) -> dict:
    """add_argument's type for a RunConfig annotation: whole numbers, comma lists, text."""
    options = typing.get_args(hint) if typing.get_origin(hint) is types.UnionType else (hint,)
    parse = {int: _whole_number, list[int]: _int_list, list[str]: _names}
    for option in options:
        if option in parse:
            return {"type": parse[option]}
    return {}


def _add_run_options(parser: argparse.ArgumentParser, command: str) -> None:
    """The options of `run` and `worker`, each derived from its RunConfig field (clustering.config):
    the flag, its type, its help with the default."""
    parser.add_argument("--config", help="YAML suite file with run options (flags override it)")
    hints = typing.get_type_hints(RunConfig)
    for name, how in OPTIONS.items():
        if command not in how.commands:
            continue
        flags = (flag_of(name), *how.aliases)
        if hints[name] is bool:  # the flag turns the default around: --color, --no-cache
            default = getattr(RunConfig(), name)
            kind = {"action": "store_const", "const": not default, "default": None}
        else:
            kind = _flag_kind(hints[name])
        parser.add_argument(*flags, dest=name, help=help_of(name), **kind)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="clustering-bench",
        description="Benchmark image representations x reducers x clusterers with Optuna and "
        "MLflow.",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors")
    # the same flag after the subcommand; absent there, it keeps the value given before it
    quiet = OneLineParser(add_help=False)
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
    _add_run_options(run, "run")
    worker = command("worker", help="join a cell's study (same options as run) and take its trials")
    _add_run_options(worker, "worker")

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
    predict.add_argument("--limit", type=_whole_number, help="class-stratified subset of N images")
    predict.add_argument("--seed", type=_whole_number, default=0, help="seed of the --limit subset")
    predict.add_argument("--out", default="labels.csv", help="CSV file (default labels.csv)")
    predict.add_argument("--tracking-uri")

    listing = command("datasets", help="list datasets, where they are looked up")
    listing.add_argument("--data-dir")

    command("list", help="list registered extractors, reducers, clusterers and objectives")
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    flags = {name: getattr(args, name, None) for name in OPTIONS}
    if args.config:
        return RunConfig.from_yaml(args.config, **flags)
    return RunConfig(**{key: value for key, value in flags.items() if value is not None})


def command_run(args) -> int:
    config = config_from_args(args).validate()
    parent_run_id = os.environ.get("MLFLOW_RUN_ID")
    from clustering.sinks import run_sinks
    from clustering.study.driver import run

    entry = functools.partial(worker_process, quiet=args.quiet)
    summaries = run(config, run_sinks(config), parent_run_id, entry)
    _print_summaries(args, config, summaries)
    return 0


def command_worker(args) -> int:
    config = config_from_args(args).validate()
    summaries = _work(config, os.environ.get("MLFLOW_RUN_ID"))
    _print_summaries(args, config, summaries)
    return 0


def _work(config: RunConfig, parent_run_id: str | None):
    from clustering.sinks import run_sinks
    from clustering.study.driver import work

    return work(config, run_sinks(config), parent_run_id)


def worker_process(config: RunConfig, parent_run_id: str | None, quiet: bool = False) -> None:
    """One of the processes `run --workers N` starts: what `worker` does with `config` (logs
    on stderr with the process id, the same signals and one-line errors), its standard output
    discarded (the run prints the summary); exits with `worker`'s code."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    configure_logging(quiet, worker=True)

    def take_trials() -> int:
        _work(config, parent_run_id)
        return 0

    sys.exit(guarded(take_trials))


def _print_summaries(args, config, summaries) -> None:
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
        for experiment_id in dict.fromkeys(s.experiment_id for s in summaries):
            print(f"browse:   {experiment_view.view_url(experiment_id, ui_base(config))}")


def ui_base(config: RunConfig) -> str:
    """Where the MLflow UI of the run's store is: the tracking server, else `mlflow ui`'s
    default address."""
    uri = config.tracking_uri
    return uri if uri.startswith(("http://", "https://")) else experiment_view.LOCAL_UI


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
        if written["repeats_markdown"]:
            print("\nRepeats: each cell's best configuration, mean ± std over the seeds\n")
            print(written["repeats_markdown"], end="")
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
    from clustering.data import bundled_test_data, describe_prefixes, describe_sources

    for source in describe_sources(args.data_dir):
        found = "found" if source["found"] else "missing"
        print(f"{source['name']:<16} {found:<8} {source['where']}")
    for prefix in describe_prefixes():
        print(f"{prefix['usage']:<16} {'given':<8} {prefix['description']}")
    for name, folder in bundled_test_data():
        print(f"test data: --dataset {name} --data-dir {folder}")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.quiet, worker=args.command == "worker")
    return guarded(functools.partial(COMMANDS[args.command], args))


def guarded(command) -> int:
    """`command()`'s exit code; a BenchError is one line on stderr and EXIT_USAGE, an interrupt
    (Ctrl-C, SIGTERM) a line saying so and 128 + the signal."""
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with interrupts.signals_interrupt():
            code = command()
        signum = interrupts.pending()  # its raise was swallowed, and the command ended anyway
        if signum is None:
            return code
        raise interrupts.Interrupted(signum)
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
