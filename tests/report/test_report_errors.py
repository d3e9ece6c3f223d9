"""`report` fails cleanly: an output folder that cannot be written, a file where a folder should
be, an unreachable tracking server, a store that is no MLflow database, a SQLite store that does
not exist. Each: one line on stderr starting `clustering-bench: error:`, exit 2, nothing written
(and an earlier report left as it was)."""

import contextlib
import ctypes
import os

import pytest

from clustering.cli import main
from tests import report_store

PREFIX = "clustering-bench: error: "


def report(capsys, *args: str, quiet: bool = False) -> tuple[int, str, str]:
    """Run `clustering-bench report` in this process; (exit code, stdout, stderr)."""
    code = main([*(["--quiet"] if quiet else []), "report", "--dataset", "digits", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str) -> str:
    """The one stderr line, checked to be the CLI's error line."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(PREFIX), err
    return lines[0]


def files_under(folder) -> dict:
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """A real SQLite MLflow store with two cells of digits."""
    folder = tmp_path_factory.mktemp("store")
    return report_store.store(folder, [{"clusterer": "kmeans"}, {"clusterer": "minibatch_kmeans"}])


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


@contextlib.contextmanager
def file_modes_bind_root():
    """As root, drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from this thread's effective
    capabilities inside the block, so a folder's mode stops root as it stops anyone (otherwise
    root writes into a read-only folder); nothing to do for other users."""
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(header), data) != 0:
        pytest.skip("running as root and capget failed: cannot make a folder unwritable")
    saved = data[0].effective
    data[0].effective &= ~((1 << 1) | (1 << 2))
    if libc.capset(ctypes.byref(header), data) != 0:
        pytest.skip("running as root and capset failed: cannot make a folder unwritable")
    try:
        yield
    finally:
        data[0].effective = saved
        libc.capset(ctypes.byref(header), data)


def test_out_in_a_folder_that_cannot_be_written_is_one_line_and_writes_nothing(
    store, tmp_path, capsys
):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with file_modes_bind_root():
            code, out, err = report(capsys, "--tracking-uri", store, "--out", str(locked / "r"))
    finally:
        locked.chmod(0o755)
    line = one_error_line(err)
    assert code == 2
    assert f"{locked} is not writable" in line and "pass --out" in line
    assert out == ""
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("below", ["", "sub"])
def test_out_at_or_under_a_file_is_one_line_and_leaves_the_file(store, tmp_path, capsys, below):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me\n")
    code, out, err = report(capsys, "--tracking-uri", store, "--out", str(blocker / below))
    line = one_error_line(err)
    assert code == 2
    assert f"{blocker} is a file, not a folder" in line and "pass --out" in line
    assert blocker.read_text() == "keep me\n"
    assert sorted(tmp_path.iterdir()) == [blocker]


def test_unreachable_tracking_server_is_one_line_naming_it_and_writes_nothing(tmp_path, capsys):
    code, out, err = report(
        capsys, "--tracking-uri", "http://127.0.0.1:9", "--out", str(tmp_path / "out")
    )
    line = one_error_line(err)
    assert code == 2
    assert "cannot read the MLflow tracking store http://127.0.0.1:9" in line
    assert "start the tracking server" in line
    assert not (tmp_path / "out").exists()


def test_store_of_garbage_is_one_line_and_the_file_stays_as_it_was(tmp_path, capsys):
    database = tmp_path / "mlflow.db"
    garbage = os.urandom(4096)
    database.write_bytes(garbage)
    code, out, err = report(
        capsys, "--tracking-uri", f"sqlite:///{database}", "--out", str(tmp_path / "out")
    )
    line = one_error_line(err)
    assert code == 2
    assert f"cannot read the MLflow tracking store sqlite:///{database}" in line
    assert "not a database" in line
    assert database.read_bytes() == garbage
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mlflow.db"]


def test_sqlite_store_that_does_not_exist_is_one_line_and_is_not_created(tmp_path, capsys):
    database = tmp_path / "mlflow.db"
    code, out, err = report(
        capsys, "--tracking-uri", f"sqlite:///{database}", "--out", str(tmp_path / "out")
    )
    line = one_error_line(err)
    assert code == 2
    assert f"no MLflow store at {database}" in line
    assert list(tmp_path.iterdir()) == []


def test_a_failed_report_leaves_the_earlier_report_as_it_was(store, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, _ = report(capsys, "--tracking-uri", store, "--out", str(out), quiet=True)
    assert code == 0
    before = files_under(out)
    assert out / "digits" / "report.html" in before
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    code, _, err = report(capsys, "--tracking-uri", f"sqlite:///{garbage}", "--out", str(out))
    one_error_line(err)
    assert code == 2
    assert files_under(out) == before
    assert sorted(path.name for path in out.iterdir()) == ["digits"]  # no staging folder left


def test_a_store_that_refuses_the_dataset_run_is_one_line_and_writes_no_report(tmp_path, capsys):
    blocker = tmp_path / "blocker"  # artifacts cannot go under a file: the dataset run fails
    blocker.write_text("not a folder\n")
    store = report_store.store(tmp_path / "store", [{}], artifacts=blocker / "mlruns")
    capsys.readouterr()  # MLflow's lines creating the store
    code, out, err = report(capsys, "--tracking-uri", store, "--out", str(tmp_path / "out"))
    line = one_error_line(err)
    assert code == 2
    assert "cannot log the dataset run of digits to the MLflow tracking store" in line
    assert f"Not a directory: {blocker}" in line and "pass --tracking-uri a store you" in line
    assert out == ""
    assert list((tmp_path / "out").iterdir()) == []  # no report, no staging folder left
