"""The one trial loop, for one process or many: admit a trial under the storage's lock, run
it, tell Optuna, and let the last process out finalize the cell.

`run` prepares every cell (study, experiment, cell run; under the lock), then takes the trials
itself (`--workers 1`, the default) or starts N `worker` processes with the same options; a
`worker` on any machine joins the same studies. Admission under the lock keeps a study at exactly
`--trials` complete trials however many processes take part. A running trial records a heartbeat;
one silent for the grace period (its process was killed or lost) is failed by the next process
that looks, its MLflow run marked FAILED and the trial queued again. An unreachable store is
retried with backoff, then the process stops with a one-line reason.
"""

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

from clustering.cache import FeatureCache
from clustering.config import RunConfig
from clustering.errors import BenchError
from clustering.study.cell import Cell, CellSummary, build_cells, count_states
from clustering.study.finalize import PreparedCell, finalize, prepare_cell, stale_trial_handler
from clustering.study.objective import Objective
from clustering.study.storage import (
    fail_stale_trials,
    first_line,
    make_storage,
    probe,
    redact,
    storage_lock,
)
from clustering.tracking import WORKER_TAG, Tracker

logger = logging.getLogger(__name__)

BACKOFF_SECONDS = 2.0
MAX_POLL_SECONDS = 5.0
STOP_SECONDS = 120
_DONE = object()


@dataclass
class Services:
    """The Optuna storage and the MLflow tracker one process works with."""

    config: RunConfig
    tracker: Tracker
    storage: object

    @classmethod
    def connect(cls, config: RunConfig) -> "Services":
        """Open both stores; BenchError naming the URL if either is unreachable."""
        tracker = Tracker(config.tracking_uri)
        storage = make_storage(
            config.storage,
            heartbeat_interval=config.heartbeat_interval,
            grace_period=config.grace_period,
            on_stale=stale_trial_handler(tracker),
        )
        with storage_lock(storage):  # a new SQLite store is created here: one at a time
            tracker.check_reachable()
        return cls(config, tracker, storage)

    def outage(self) -> str | None:
        """Which store cannot be reached now, as a reason naming its URL; None if both can."""
        try:
            probe(self.storage)
        except Exception as error:
            storage = redact(self.config.storage)
            return f"the Optuna storage {storage} is unreachable: {first_line(error)}"
        try:
            self.tracker.client.search_experiments(max_results=1)
        except Exception as error:
            uri = redact(self.config.tracking_uri)
            return f"the MLflow tracking store {uri} is unreachable: {first_line(error)}"
        return None

    def reason(self, error: BaseException) -> str:
        return self.outage() or f"{type(error).__name__}: {first_line(error)}"


class Backoff:
    """Waits 2, 4, 8, ... seconds between attempts; BenchError after `retries` waits in a row."""

    def __init__(self, retries: int):
        self.retries = retries
        self.waits = 0

    def wait(self, reason: str) -> None:
        if self.waits >= self.retries:
            raise BenchError(
                f"gave up after {self.retries} retries: {reason}; "
                "run the same command again to resume"
            )
        delay = BACKOFF_SECONDS * 2**self.waits
        self.waits += 1
        logger.warning("%s; retry %d/%d in %.0f s", reason, self.waits, self.retries, delay)
        time.sleep(delay)

    def reset(self) -> None:
        self.waits = 0


def prepare(
    cells: list[Cell], services: Services, parent_run_id: str | None = None
) -> list[PreparedCell]:
    """Create (or load) each cell's study, the experiment and each cell run, one process at a
    time (under the storage lock: creating them from several processes at once races)."""
    tracker = services.tracker
    with storage_lock(services.storage):
        experiment_id = tracker.experiment_id(cells[0].dataset_name)
        if parent_run_id and not _nests(tracker, parent_run_id, experiment_id, cells[0]):
            parent_run_id = None
        return [
            prepare_cell(
                cell,
                services.storage,
                tracker,
                experiment_id,
                services.config.trials,
                parent_run_id,
            )
            for cell in cells
        ]


def _nests(tracker: Tracker, parent_run_id: str, experiment_id: str, cell: Cell) -> bool:
    """Whether the cell runs can nest under `parent_run_id` (the run `mlflow run` opened): only
    in the dataset's own experiment, where the README sends users; else they go there unnested
    and the parent run is tagged with where they went."""
    parent_experiment = tracker.client.get_run(parent_run_id).info.experiment_id
    if parent_experiment == experiment_id:
        return True
    tracker.log(parent_run_id, tags={"clustering_bench.experiment": cell.dataset_name})
    logger.warning(
        "run %s is in another experiment than %r: its cell runs go to %r, not nested; pass "
        "--experiment-name %s to `mlflow run` to nest them",
        parent_run_id,
        cell.dataset_name,
        cell.dataset_name,
        cell.dataset_name,
    )
    return False


def run(
    config: RunConfig, parent_run_id: str | None = None, worker_args: tuple = ()
) -> list[CellSummary]:
    """`run`: prepare every cell, take the trials here (one worker) or in `config.workers`
    worker processes, then finalize each cell. Returns one summary per cell."""
    if config.workers == 1:
        return work(config, parent_run_id, reseed=False)
    return _run_processes(config, parent_run_id, worker_args)


def work(
    config: RunConfig, parent_run_id: str | None = None, reseed: bool = True
) -> list[CellSummary]:
    """Join (or start) the config's studies and take their trials, cell by cell. `reseed`:
    draw from a fresh sampler seed (else every worker proposes the same configurations)."""
    cache = FeatureCache(config.cache_dir) if config.use_cache else None
    cells = build_cells(config, cache)
    services = Services.connect(config)
    prepared = prepare(cells, services, parent_run_id)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    summaries = []
    for index, cell in enumerate(prepared, start=1):
        logger.info("cell %d/%d: %s", index, len(prepared), cell.cell.label)
        if reseed:
            cell.study.sampler.reseed_rng()
        summaries.append(work_cell(cell, services, cache, worker))
    return summaries


def work_cell(prepared: PreparedCell, services: Services, cache, worker: str) -> CellSummary:
    """Take trials of one study until it has `trials` done, this worker's own failures reach
    `trials`, or a store stays unreachable (BenchError). Ctrl-C or SIGTERM fails the current
    trial, closes its run and propagates."""
    config, cell, study = services.config, prepared.cell, prepared.study
    objective = Objective(
        cell, services.tracker, prepared.experiment_id, prepared.cell_run_id, cache, worker
    )
    backoff = Backoff(config.retries)
    poll = min(MAX_POLL_SECONDS, config.heartbeat_interval)
    started = time.perf_counter()
    failures, waiting = 0, False
    logger.info("worker %s on %s (%s)", worker, cell.label, study.study_name)
    try:
        while failures < config.trials:
            try:
                trial = _admit(study, services.storage, config.trials, worker)
            except Exception as error:
                backoff.wait(services.reason(error))
                continue
            if trial is _DONE:
                break
            if trial is None:
                if not waiting:
                    logger.info("waiting for the running trials of other workers")
                waiting = True
                time.sleep(poll)
                continue
            waiting = False
            state = _run_trial(study, trial, objective, services, backoff)
            if state != TrialState.FAIL:
                backoff.reset()
                continue
            outage = services.outage()
            if not outage:
                failures += 1  # the trial's own failure
            while outage:  # no new trial until both stores answer again
                backoff.wait(outage)
                outage = services.outage()
        else:
            logger.warning("%d trials failed in this worker; it stops", failures)
    except BaseException as error:
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        if status == "KILLED":
            error.during = f"cell {cell.label}; its open runs were closed as KILLED"
            with contextlib.suppress(Exception):
                _close_own_runs(prepared, services.tracker, worker)
        with contextlib.suppress(Exception):
            finalize(
                prepared, services.tracker, services.storage, time.perf_counter() - started, status
            )
        raise
    return finalize(
        prepared, services.tracker, services.storage, time.perf_counter() - started, cache=cache
    )


def _close_own_runs(prepared: PreparedCell, tracker: Tracker, worker: str) -> None:
    """Close as KILLED this worker's trial runs still RUNNING: an interrupt between creating a
    run and entering the objective's handler would leave one (other workers' runs go on)."""
    for run in tracker.trial_runs(prepared.experiment_id, prepared.cell.study_name):
        if run.info.status == "RUNNING" and run.data.tags.get(WORKER_TAG) == worker:
            tracker.finish(run.info.run_id, "KILLED")


def _admit(study: optuna.Study, storage, trials: int, worker: str):
    """Under the lock: fail stale trials, then a new (or queued) trial if the study still
    needs one, None if the running trials may complete it, _DONE if it is complete."""
    with storage_lock(storage):
        fail_stale_trials(study)
        counts = count_states(study)
        done = counts[TrialState.COMPLETE]
        if done >= trials:
            return _DONE
        if counts[TrialState.WAITING] == 0 and done + counts[TrialState.RUNNING] >= trials:
            return None
        with warnings.catch_warnings():  # ask/tell is how we use heartbeats, not optimize
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            trial = study.ask()
        storage.record_heartbeat(trial._trial_id)  # before the lock opens: never unbeaten
    trial.set_user_attr("worker", worker)
    return trial


def _run_trial(study, trial, objective, services: Services, backoff: Backoff) -> TrialState:
    value, state = None, TrialState.FAIL
    with _Heartbeat(services.storage, trial._trial_id, services.config.heartbeat_interval):
        try:
            value = objective(trial)
            state = TrialState.COMPLETE
        except Exception as error:
            with contextlib.suppress(Exception):
                trial.set_user_attr("error", f"{type(error).__name__}: {first_line(error)}")
        except BaseException:
            _tell(study, trial, TrialState.FAIL, None, services, None)
            raise
    return _tell(study, trial, state, value, services, backoff)


def _tell(study, trial, state, value, services: Services, backoff) -> TrialState:
    """Record the trial's end, retrying while the storage is down (no backoff: one attempt).
    Returns the state recorded: FAIL if another worker failed the trial as stale meanwhile."""
    while True:
        try:
            frozen = study.tell(
                trial,
                value if state == TrialState.COMPLETE else None,
                state=state,
                skip_if_finished=True,
            )
        except optuna.exceptions.UpdateFinishedTrialError:
            frozen = None
        except Exception as error:
            if backoff is None:
                logger.warning("trial %d not recorded: %s", trial.number, first_line(error))
                return TrialState.FAIL
            backoff.wait(services.reason(error))
            continue
        if frozen is not None and frozen.state == state:
            return state
        with contextlib.suppress(Exception):  # failed meanwhile as stale: MLflow must agree
            services.tracker.mark_lost(
                trial.user_attrs["mlflow_run_id"],
                f"stale: trial {trial.number} missed its heartbeats; another worker failed it",
            )
        return TrialState.FAIL


class _Heartbeat:
    """Records the trial's heartbeat every `interval` seconds in a daemon thread."""

    def __init__(self, storage, trial_id: int, interval: int):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(storage, trial_id, interval), daemon=True
        )

    def __enter__(self) -> "_Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=1)

    def _beat(self, storage, trial_id: int, interval: int) -> None:
        while not self._stop.wait(interval):
            try:
                storage.record_heartbeat(trial_id)
            except Exception as error:  # storage down, or the trial ended: nothing to do here
                logger.debug("heartbeat of trial id %d not recorded: %s", trial_id, error)


def _run_processes(config: RunConfig, parent_run_id: str | None, worker_args: tuple):
    """`run --workers N`: prepare every cell here, start N `worker` processes with the same
    options, wait for them, then finalize. Ctrl-C or SIGTERM stops the workers cleanly."""
    cache = FeatureCache(config.cache_dir) if config.use_cache else None
    cells = build_cells(config, cache)
    services = Services.connect(config)
    prepared = prepare(cells, services, parent_run_id)
    options = {key: value for key, value in asdict(config).items() if key != "workers"}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="clustering-bench-") as folder:
        suite = Path(folder) / "worker.yaml"
        suite.write_text(yaml.safe_dump(options))
        command = [
            sys.executable,
            "-m",
            "clustering.cli",
            *worker_args,
            "worker",
            "--config",
            str(suite),
        ]
        processes = [  # their logs go to stderr; the summary table is printed here
            subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(config.workers)
        ]
        logger.info(
            "started %d workers: pids %s",
            len(processes),
            ", ".join(str(process.pid) for process in processes),
        )
        try:
            codes = [process.wait() for process in processes]
        except BaseException:
            _stop(processes)
            for cell in prepared:
                with contextlib.suppress(Exception):
                    finalize(
                        cell,
                        services.tracker,
                        services.storage,
                        time.perf_counter() - started,
                        "KILLED",
                    )
            raise
    summaries = [
        finalize(
            cell, services.tracker, services.storage, time.perf_counter() - started, cache=cache
        )
        for cell in prepared
    ]
    failed = [(number, code) for number, code in enumerate(codes, start=1) if code != 0]
    incomplete = any(s.complete < config.trials for s in summaries)
    if failed and incomplete:
        number, code = failed[0]
        raise BenchError(
            f"worker {number} of {config.workers} exited with code {code} (its message is "
            "above) and the study is not complete; run the same command again to resume"
        )
    for number, code in failed:
        logger.warning(
            "worker %d exited with code %d; the other workers ran its trials", number, code
        )
    return summaries


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each running worker (it fails its trial and closes its runs), then wait."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
