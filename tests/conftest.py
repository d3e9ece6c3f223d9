"""Shared pytest fixtures."""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data folder, ../shared/data from the repository root (see its README)."""
    path = REPO_ROOT.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"real test data not found at {path} (../shared/data from the repository root)")
    return path


@pytest.fixture(scope="session")
def postgres():
    """A throw-away PostgreSQL cluster on 127.0.0.1 (tests/services.py); `.ci/run` installs the
    server from Debian packages, so this skips only where that was impossible."""
    from services import Postgres, postgres_bindir

    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl) not found under "
                    "/usr/lib/postgresql/*/bin; install them: apt-get install -y postgresql")
    server = Postgres(bindir)
    yield server
    server.close()


_EARLY = {}


def pytest_collection_finish(session):
    """Start the MLflow server (tens of seconds to come up) as soon as a selected test is known
    to need it, so that it starts while the tests before it run."""
    if any("mlflow_server" in getattr(item, "fixturenames", ()) for item in session.items):
        from services import MlflowServer

        _EARLY["mlflow_server"] = MlflowServer()


def pytest_sessionfinish(session, exitstatus):
    server = _EARLY.pop("mlflow_server", None)
    if server is not None:
        server.close()


@pytest.fixture(scope="session")
def mlflow_server():
    """A throw-away `mlflow server` on 127.0.0.1 with a SQLite backend (tests/services.py)."""
    from services import MlflowServer

    server = _EARLY.get("mlflow_server") or MlflowServer()
    _EARLY["mlflow_server"] = server  # closed at the end of the session
    return server.wait()
