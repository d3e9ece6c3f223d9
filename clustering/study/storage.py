"""Optuna storages by URL, heartbeats that fail the trials of lost workers, and a lock that
serialises study creation and trial admission across processes and machines.

- `sqlite:///PATH` (the default): one process.
- `journal:PATH` or a path ending in `.log`: a journal file, for processes on one machine.
- `postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB`: several machines.

Every storage records a heartbeat for each running trial; a trial whose heartbeat is older than
the grace period (its worker was killed or lost its machine) is failed by the next worker that
looks, re-queued (up to MAX_RETRY times) and handed to `on_stale`.
"""

import contextlib
import fcntl
import hashlib
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat  # the interface Optuna's heartbeat uses
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from clustering.config import store_file
from clustering.errors import BenchError, first_line, redact

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_INTERVAL = 60
DEFAULT_GRACE_PERIOD = 120
MAX_RETRY = 3
HEARTBEAT_ATTR = "clustering_bench.heartbeat"
LOCK_KEY = int.from_bytes(hashlib.sha256(b"clustering-bench").digest()[:8], "big", signed=True)
CONNECT_TIMEOUT = 10
_THREAD_LOCK = threading.Lock()


def is_journal(url: str) -> bool:
    return url.startswith("journal:") or url.endswith(".log")


def make_storage(
    url: str,
    *,
    heartbeat_interval: int = DEFAULT_HEARTBEAT_INTERVAL,
    grace_period: int = DEFAULT_GRACE_PERIOD,
    on_stale: Callable[[optuna.Study, FrozenTrial], None] | None = None,
):
    """An Optuna storage for `url` with heartbeats; BenchError naming the URL if unreachable.
    `on_stale(study, trial)` runs after a stale trial was failed and re-queued."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            callback = _StaleTrialCallback(on_stale)
            if is_journal(url):
                path = str(store_file(url))
                return HeartbeatJournalStorage(path, heartbeat_interval, grace_period, callback)
            return _rdb_storage(url, heartbeat_interval, grace_period, callback)
    except Exception as error:
        raise BenchError(
            f"cannot open the Optuna storage {redact(url)}: {first_line(error)}; "
            "start it or pass another --storage"
        ) from None


def _rdb_storage(url, heartbeat_interval, grace_period, callback) -> RDBStorage:
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 60}}
    elif url.startswith("postgresql"):
        engine_kwargs = {
            "pool_pre_ping": True,
            "connect_args": {"connect_timeout": CONNECT_TIMEOUT},
        }
    else:
        engine_kwargs = {"pool_pre_ping": True}
    with _creation_lock(url):
        return _open_rdb(url, engine_kwargs, heartbeat_interval, grace_period, callback)


@contextlib.contextmanager
def _creation_lock(url: str) -> Iterator[None]:
    """For a SQLite file, the lock `storage_lock` takes, held while the tables are created or
    migrated, so that two processes starting on a new file never race half-way."""
    from sqlalchemy.engine import make_url

    database = make_url(url).database if url.startswith("sqlite") else None
    if database in (None, "", ":memory:"):
        yield
        return
    with _file_lock(database + ".lock"):
        yield


def _open_rdb(url, engine_kwargs, heartbeat_interval, grace_period, callback) -> RDBStorage:
    for attempt in range(3):
        try:
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=callback,
            )
        except Exception as error:  # two processes creating the tables of a new database at once
            if "already exists" not in str(error) and "duplicate key" not in str(error):
                raise
            if attempt == 2:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


class _StaleTrialCallback:
    """Re-queue the stale trial with its parameters (Optuna's retry callback), then `on_stale`."""

    def __init__(self, on_stale):
        self.retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
        self.on_stale = on_stale

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        logger.warning(
            "trial %d of %s lost its worker (no heartbeat within the grace period): failed and "
            "queued again",
            trial.number,
            study.study_name,
        )
        self.retry(study, trial)
        if self.on_stale is not None:
            self.on_stale(study, trial)


class HeartbeatJournalStorage(optuna.storages.JournalStorage, BaseHeartbeat):
    """Optuna's journal file storage plus heartbeats, kept as a trial system attribute
    (Optuna implements heartbeats for RDB storages only)."""

    def __init__(self, path: str, heartbeat_interval: int, grace_period: int, callback):
        super().__init__(JournalFileBackend(path, lock_obj=_FlockJournalLock(path + ".flock")))
        self.path = path
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.callback = callback

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        oldest = time.time() - self.grace_period
        stale = []
        for trial in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            # a re-queued trial inherits its predecessor's heartbeat: count from its own start too
            started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
            if max(trial.system_attrs.get(HEARTBEAT_ATTR, 0.0), started) < oldest:
                stale.append(trial._trial_id)
        return stale

    def get_heartbeat_interval(self) -> int:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self):
        return self.callback


class _FlockJournalLock:
    """The journal's write lock as an flock, which the OS releases when its holder dies:
    Optuna's default symlink lock outlives a SIGKILLed holder and stalls every other worker
    for its 30 s grace period."""

    def __init__(self, path: str):
        self.path = path
        self._handle = None

    def acquire(self) -> bool:
        handle = open(self.path, "a")
        fcntl.flock(handle, fcntl.LOCK_EX)
        self._handle = handle
        return True

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail the running trials of `study` whose heartbeat is older than the grace period."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


@contextlib.contextmanager
def storage_lock(storage) -> Iterator[None]:
    """Hold a lock shared by every process using `storage`: a PostgreSQL advisory lock, or a
    file lock beside a journal or SQLite file. Released when the holder dies."""
    if isinstance(storage, HeartbeatJournalStorage):
        with _file_lock(storage.path + ".workers.lock"):
            yield
    elif isinstance(storage, RDBStorage) and storage.engine.dialect.name == "postgresql":
        with storage.engine.begin() as connection:  # the lock ends with the transaction
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
            yield
    elif (
        isinstance(storage, RDBStorage)
        and storage.engine.dialect.name == "sqlite"
        and storage.engine.url.database not in (None, "", ":memory:")
    ):
        with _file_lock(storage.engine.url.database + ".lock"):
            yield
    else:
        with _THREAD_LOCK:
            yield


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def probe(storage) -> None:
    """Raise if the storage cannot be read right now."""
    storage.get_all_studies()
