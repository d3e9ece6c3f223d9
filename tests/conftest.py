"""Shared pytest fixtures."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

TEST_DATA = Path(__file__).resolve().parent / "data"
LARGE_MNIST_IMAGES = 6000  # clustering's pruned silhouette pass starts at 6,000 rows


@pytest.fixture(autouse=True)
def _tracking_uri_left_as_found():
    """`mlflow.set_tracking_uri` also sets MLFLOW_TRACKING_URI, which every later `run`
    subprocess would inherit (and track elsewhere): each test leaves both as it found them."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    import mlflow

    if before is None:  # MLflow's own URI too: a later block would restore it, and export it
        mlflow.set_tracking_uri(None)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    elif os.environ.get("MLFLOW_TRACKING_URI") != before:
        mlflow.set_tracking_uri(before)


@pytest.fixture(scope="session")
def test_data() -> Path:
    """tests/data: the first 1,000 MNIST and the first 200 CIFAR-10 test images, in their official
    file formats (mnist/, cifar10/; provenance and hashes in tests/data/README.md)."""
    return TEST_DATA


def _shifted(images: np.ndarray, down: int, right: int) -> np.ndarray:
    """(n, h, w) images moved `down` and `right` pixels (negative: up, left), blank fill."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    rows = slice(max(down, 0), h + min(down, 0)), slice(max(-down, 0), h - max(down, 0))
    cols = slice(max(right, 0), w + min(right, 0)), slice(max(-right, 0), w - max(right, 0))
    out[:, rows[0], cols[0]] = images[:, rows[1], cols[1]]
    return out


def _write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture(scope="session")
def large_mnist(test_data, tmp_path_factory) -> Path:
    """A folder of MNIST test-set IDX files (uncompressed) holding 6,000 images, for tests that
    need more rows than tests/data's 1,000: the 1,000 real images, then five copies of them, each
    shifted by one pixel (down, right, up, left, diagonally) with Gaussian pixel noise (sd 4 grey
    levels, clipped to 0..255), each copy keeping its original's label. No image repeats exactly."""
    folder = test_data / "mnist"
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "rb") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    rng = np.random.default_rng(0)
    copies = [images]
    for down, right in [(1, 0), (0, 1), (-1, 0), (0, -1), (1, 1)]:
        moved = _shifted(images, down, right).astype(np.float64)
        moved += rng.normal(scale=4.0, size=moved.shape)
        copies.append(np.clip(np.rint(moved), 0, 255).astype(np.uint8))
    all_images = np.concatenate(copies)
    assert len(all_images) == LARGE_MNIST_IMAGES
    assert len(np.unique(all_images.reshape(len(all_images), -1), axis=0)) == len(all_images)
    out = tmp_path_factory.mktemp("large-mnist")
    _write_idx(out / "t10k-images-idx3-ubyte", all_images, 2051)
    _write_idx(out / "t10k-labels-idx1-ubyte", np.tile(labels, len(copies)), 2049)
    return out


@pytest.fixture(scope="session")
def _postgres_server():
    """A throw-away PostgreSQL cluster on 127.0.0.1 (tests/services.py); `.ci/run` installs the
    server from Debian packages, so this skips only where that was impossible."""
    from tests.services import Postgres, postgres_bindir

    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server programs (initdb, pg_ctl) not found under "
            "/usr/lib/postgresql/*/bin; install them: apt-get install -y postgresql"
        )
    server = Postgres(bindir)
    yield server
    server.close()


def _require_services_mark(request) -> None:
    """A server starts only for a test marked `services`, so `-m "not slow"` never starts one:
    a test that asks for a server fixture by name (request.getfixturevalue) is not seen at
    collection and must carry the marks itself (pytest.param(..., marks=...))."""
    if request.node.get_closest_marker("services") is None:
        pytest.fail(
            f"{request.node.nodeid} starts a server without the `services` mark; mark it "
            "(pytest.mark.services and pytest.mark.slow) or name the fixture as an argument"
        )


@pytest.fixture
def postgres(request):
    """The session's PostgreSQL cluster (see _postgres_server), for tests marked `services`."""
    _require_services_mark(request)
    return request.getfixturevalue("_postgres_server")


SERVICE_FIXTURES = {"postgres", "mlflow_server"}


def pytest_collection_modifyitems(config, items):
    """A test that uses a service fixture is marked `services` (and `slow`)."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)
            item.add_marker(pytest.mark.slow)


_EARLY = {}


def pytest_collection_finish(session):
    """Start the MLflow server (tens of seconds to come up) as soon as a selected test is known
    to need it, so that it starts while the tests before it run."""
    if any("mlflow_server" in getattr(item, "fixturenames", ()) for item in session.items):
        from tests.services import MlflowServer

        _EARLY["mlflow_server"] = MlflowServer()


def pytest_sessionfinish(session, exitstatus):
    server = _EARLY.pop("mlflow_server", None)
    if server is not None:
        server.close()


@pytest.fixture
def mlflow_server(request):
    """A throw-away `mlflow server` on 127.0.0.1 with a SQLite backend (tests/services.py), one
    per session, for tests marked `services`."""
    from tests.services import MlflowServer

    _require_services_mark(request)
    server = _EARLY.get("mlflow_server") or MlflowServer()
    _EARLY["mlflow_server"] = server  # closed at the end of the session
    return server.wait()
