"""The two stores one process works with (the Optuna storage and the MLflow tracker), opened
together, probed for outages, and the backoff between retries while one is unreachable."""

import logging
import time
from dataclasses import dataclass

from clustering.config import RunConfig
from clustering.errors import BenchError, first_line, redact
from clustering.study.events import Callbacks, StudyCallback
from clustering.study.finalize import stale_trial_handler
from clustering.study.storage import make_storage, probe, storage_lock
from clustering.tracking import Tracker

logger = logging.getLogger(__name__)

BACKOFF_SECONDS = 2.0


@dataclass
class Services:
    """The Optuna storage and the MLflow tracker one process works with, and the callbacks
    its studies tell what happens."""

    config: RunConfig
    tracker: Tracker
    storage: object
    callbacks: StudyCallback

    @classmethod
    def connect(cls, config: RunConfig, callbacks=()) -> "Services":
        """Open both stores; BenchError naming the URL if either is unreachable. `callbacks`:
        the StudyCallback sinks, called in turn."""
        callbacks = Callbacks(callbacks)
        tracker = Tracker(config.tracking_uri)
        storage = make_storage(
            config.storage,
            heartbeat_interval=config.heartbeat_interval,
            grace_period=config.grace_period,
            on_stale=stale_trial_handler(callbacks),
        )
        with storage_lock(storage):  # a new SQLite store is created here: one at a time
            tracker.check_reachable()
        return cls(config, tracker, storage, callbacks)

    def outage(self) -> str | None:
        """Which store cannot be reached now, as a reason naming its URL; None if both can."""
        try:
            probe(self.storage)
        except Exception as error:
            storage = redact(self.config.storage)
            return f"the Optuna storage {storage} is unreachable: {first_line(error)}"
        try:
            self.tracker.probe()
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
