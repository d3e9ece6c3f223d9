"""The trial loop of one cell in one process, split as Optuna splits its own: admit a trial
under the storage's lock (or wait for other workers' trials), run it with its heartbeat, tell
Optuna, recover from an outage; the last process out finalizes the cell. `closing_on_interrupt`
ends the cells of a process that is leaving on an error or Ctrl-C / SIGTERM."""

import contextlib
import dataclasses
import logging
import threading
import time
import warnings

import optuna
from optuna.trial import TrialState

from clustering import interrupts
from clustering.errors import first_line
from clustering.study.cell import CellSummary, count_states
from clustering.study.events import CellEvent, TrialLost
from clustering.study.finalize import finalize, start_cell
from clustering.study.objective import Objective
from clustering.study.services import Backoff, Services
from clustering.study.storage import fail_stale_trials, storage_lock

logger = logging.getLogger(__name__)

MAX_POLL_SECONDS = 5.0
_DONE = object()


@contextlib.contextmanager
def closing_on_interrupt(cells: list[CellEvent], services: Services, started: float):
    """On an exception in the block: each cell ends KILLED (Ctrl-C or SIGTERM) or FAILED (any
    other error); on an interrupt, a worker's own open runs are closed first (the callbacks'
    `on_cell_interrupted`) and the error says so. Cleanup errors are suppressed; the exception
    goes on."""
    try:
        yield
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        for cell in cells:
            if interrupted and cell.worker is not None:
                error.during = f"cell {cell.spec.label}; its open runs were closed as KILLED"
                with contextlib.suppress(Exception):
                    services.callbacks.on_cell_interrupted(cell)
            with contextlib.suppress(Exception):
                status = "KILLED" if interrupted else "FAILED"
                finalize(dataclasses.replace(cell, status=status), services, _since(started))
        raise


def work_cell(cell: CellEvent, services: Services) -> CellSummary:
    """Take trials of one study until it has `trials` done, this worker's own failures reach
    `trials`, or a store stays unreachable (BenchError), then finalize it. Ctrl-C or SIGTERM
    fails the current trial, closes its run and propagates."""
    started = time.perf_counter()
    logger.info("worker %s on %s (%s)", cell.worker, cell.spec.label, cell.study.study_name)
    cell = start_cell(cell, services)
    with closing_on_interrupt([cell], services, started):
        _take_trials(cell, services)
    return finalize(cell, services, _since(started))


def _take_trials(cell: CellEvent, services: Services) -> None:
    """The admit -> run -> recover loop."""
    config = services.config
    objective = Objective(cell, services.callbacks)
    backoff = Backoff(config.retries)
    waiting = _Waiting(min(MAX_POLL_SECONDS, config.heartbeat_interval))
    failures = 0
    while failures < config.trials:
        interrupts.check()
        trial = _next_trial(cell, services, backoff, waiting)
        if trial is _DONE:
            return
        if trial is not None:
            state = _run_trial(cell.study, trial, objective, services, backoff)
            failures += _recover(state, services, backoff)
    logger.warning("%d trials failed in this worker; it stops", failures)


def _next_trial(cell: CellEvent, services: Services, backoff: Backoff, waiting: "_Waiting"):
    """A trial to run, _DONE when the study is complete, or None to look again: after a wait
    for the running trials of other workers, or after a retry wait when the store failed."""
    config = services.config
    try:
        trial = _admit(cell.study, cell.spec, services.storage, config.trials, cell.worker)
    except Exception as error:
        backoff.wait(services.reason(error))
        return None
    if trial is None:
        waiting.wait()
    elif trial is not _DONE:
        waiting.over()
    return trial


def _recover(state: TrialState, services: Services, backoff: Backoff) -> int:
    """After a trial: 0 when it did not fail (the backoff starts again), 1 when it failed on
    its own, 0 when an outage failed it, once both stores answer again (no new trial before)."""
    if state != TrialState.FAIL:
        backoff.reset()
        return 0
    outage = services.outage()
    if not outage:
        return 1
    while outage:
        backoff.wait(outage)
        outage = services.outage()
    return 0


class _Waiting:
    """Sleeps `poll` seconds while other workers' trials may complete the study; says so once
    per stretch of waiting."""

    def __init__(self, poll: float):
        self.poll = poll
        self.waiting = False

    def wait(self) -> None:
        if not self.waiting:
            logger.info("waiting for the running trials of other workers")
        self.waiting = True
        time.sleep(self.poll)

    def over(self) -> None:
        self.waiting = False


def _since(started: float) -> float:
    return time.perf_counter() - started


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
