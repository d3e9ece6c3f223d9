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
import dataclasses
import logging
import os
import socket
import threading
import time
import warnings

import optuna
from optuna.trial import TrialState

from clustering.cache import FeatureCache
from clustering.config import RunConfig
from clustering.errors import first_line
from clustering.study.cell import CellSummary, count_states, load_data, specs
from clustering.study.events import CellEvent, TrialLost
from clustering.study.finalize import finalize, prepare
from clustering.study.objective import Objective
from clustering.study.processes import run_processes
from clustering.study.services import Backoff, Services
from clustering.study.storage import fail_stale_trials, storage_lock

logger = logging.getLogger(__name__)

MAX_POLL_SECONDS = 5.0
_DONE = object()


def run(
    config: RunConfig, callbacks=(), parent_run_id: str | None = None, worker_args: tuple = ()
) -> list[CellSummary]:
    """`run`: prepare every cell, take the trials here (one worker) or in `config.workers`
    worker processes, then finalize each cell, telling `callbacks` (StudyCallback sinks) what
    happens. Returns one summary per cell."""
    if config.workers == 1:
        return work(config, callbacks, parent_run_id, reseed=False)
    return run_processes(config, callbacks, parent_run_id, worker_args)


def work(
    config: RunConfig, callbacks=(), parent_run_id: str | None = None, reseed: bool = True
) -> list[CellSummary]:
    """Join (or start) the config's studies and take their trials, cell by cell. `reseed`:
    draw from a fresh sampler seed (else every worker proposes the same configurations)."""
    cache = FeatureCache(config.cache_dir) if config.use_cache else None
    cell_data = load_data(config, cache)
    services = Services.connect(config, callbacks)
    prepared = prepare(cell_data, specs(config, cell_data), services, parent_run_id)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    summaries = []
    for index, cell in enumerate(prepared, start=1):
        logger.info("cell %d/%d: %s", index, len(prepared), cell.spec.label)
        if reseed:
            cell.study.sampler.reseed_rng()
        cell = dataclasses.replace(cell, worker=worker, cache=cache)
        summaries.append(work_cell(cell, services))
    return summaries


def work_cell(cell: CellEvent, services: Services) -> CellSummary:
    """Take trials of one study until it has `trials` done, this worker's own failures reach
    `trials`, or a store stays unreachable (BenchError). Ctrl-C or SIGTERM fails the current
    trial, closes its run and propagates.
    The admit -> run -> tell loop with its retry and interrupt paths, which share its state."""
    config, spec, study, worker = services.config, cell.spec, cell.study, cell.worker
    objective = Objective(cell, services.callbacks)
    backoff = Backoff(config.retries)
    poll = min(MAX_POLL_SECONDS, config.heartbeat_interval)
    started = time.perf_counter()
    failures, waiting = 0, False
    logger.info("worker %s on %s (%s)", worker, spec.label, study.study_name)
    try:
        while failures < config.trials:
            try:
                trial = _admit(study, spec, services.storage, config.trials, worker)
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
            error.during = f"cell {spec.label}; its open runs were closed as KILLED"
            with contextlib.suppress(Exception):
                services.callbacks.on_cell_interrupted(cell)
        with contextlib.suppress(Exception):
            end = dataclasses.replace(cell, status=status)
            finalize(end, services, time.perf_counter() - started)
        raise
    return finalize(cell, services, time.perf_counter() - started)


def _admit(study: optuna.Study, spec, storage, trials: int, worker: str):
    """Under the lock: fail stale trials, then a new (or queued) trial if the study still
    needs one, None if the running trials may complete it, _DONE if it is complete. Once
    the queue is empty, a cell that does not search every stage queues each new trial with
    its held stages' parameters (`CellSpec.held_params`); the sampler draws the rest."""
    with storage_lock(storage):
        fail_stale_trials(study)
        counts = count_states(study)
        done = counts[TrialState.COMPLETE]
        if done >= trials:
            return _DONE
        if counts[TrialState.WAITING] == 0 and done + counts[TrialState.RUNNING] >= trials:
            return None
        held = spec.held_params(study) if counts[TrialState.WAITING] == 0 else {}
        if held:
            study.enqueue_trial(held)
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
        with contextlib.suppress(Exception):  # failed meanwhile as stale: the sinks must agree
            reason = f"stale: trial {trial.number} missed its heartbeats; another worker failed it"
            services.callbacks.on_trial_lost(TrialLost(study.study_name, trial, None, reason))
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
