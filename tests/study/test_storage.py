"""Storages on real stores (SQLite, a journal file, PostgreSQL): heartbeats fail and re-queue
the trials of lost workers, the lock excludes across connections, unreachable stores name
their URL."""

import threading
import time

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from clustering.errors import BenchError, redact
from clustering.study.storage import (
    HeartbeatJournalStorage,
    fail_stale_trials,
    make_storage,
    storage_lock,
)
from tests.services import free_port

# the PostgreSQL case starts a server: its marks sit on the parameter, because the fixture it
# needs is asked for by name inside the fixture, where collection cannot see it
POSTGRESQL = pytest.param("postgresql", marks=[pytest.mark.services, pytest.mark.slow])


@pytest.fixture(params=["sqlite", "journal", POSTGRESQL])
def storage_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'optuna.db'}"
    if request.param == "journal":
        return f"journal:{tmp_path / 'optuna.log'}"
    postgres = request.getfixturevalue("postgres")
    return postgres.create_database(f"storage_{tmp_path.name.lower()}")


def test_each_url_gives_its_storage_with_heartbeats(storage_url):
    storage = make_storage(storage_url, heartbeat_interval=7, grace_period=20)
    expected = HeartbeatJournalStorage if storage_url.startswith("journal:") else RDBStorage
    assert isinstance(storage, expected)
    assert storage.get_heartbeat_interval() == 7
    assert optuna.storages._heartbeat.is_heartbeat_enabled(storage)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_without_heartbeat_is_failed_requeued_and_reported(storage_url):
    lost = []
    storage = make_storage(
        storage_url,
        heartbeat_interval=1,
        grace_period=2,
        on_stale=lambda study, trial: lost.append(trial),
    )
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    trial.set_user_attr("mlflow_run_id", "run-0")
    storage.record_heartbeat(trial._trial_id)
    fail_stale_trials(study)
    assert study.trials[0].state == TrialState.RUNNING  # within the grace period
    deadline = time.monotonic() + 10
    while study.trials[0].state == TrialState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.25)  # the grace period (2 s) passes, then the next check fails it
        fail_stale_trials(study)
    first, retry = study.trials
    assert first.state == TrialState.FAIL
    assert retry.state == TrialState.WAITING and retry.params == {"x": x}
    assert retry.system_attrs["failed_trial"] == 0
    assert [t.number for t in lost] == [0]
    assert lost[0].user_attrs["mlflow_run_id"] == "run-0"
    fail_stale_trials(study)  # failed once only
    assert len(lost) == 1


def test_the_lock_excludes_other_connections(storage_url):
    storage = make_storage(storage_url)
    other = make_storage(storage_url)  # a second engine or file handle, as in another process
    events = []

    def contender():
        with storage_lock(other):
            events.append("contender")

    with storage_lock(storage):
        thread = threading.Thread(target=contender)
        thread.start()
        time.sleep(1.0)
        events.append("holder done")
    thread.join(timeout=30)
    assert events == ["holder done", "contender"]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg2://bench:secret@127.0.0.1:{port}/optuna",
        "journal:/nonexistent-folder/optuna.log",
        "sqlite:////nonexistent-folder/optuna.db",
    ],
)
def test_an_unreachable_storage_is_one_line_naming_the_url(url):
    url = url.format(port=free_port())
    started = time.monotonic()
    with pytest.raises(BenchError) as raised:
        make_storage(url)
    message = str(raised.value)
    assert redact(url) in message and "secret" not in message
    assert "\n" not in message
    assert time.monotonic() - started < 15


def test_redact_hides_only_the_password():
    assert redact("postgresql+psycopg2://bench:pw@db:5432/optuna") == (
        "postgresql+psycopg2://bench:***@db:5432/optuna"
    )
    assert redact("journal:optuna.log") == "journal:optuna.log"
