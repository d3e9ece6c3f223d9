"""Every report records the versions and the machine that made it: environment.md beside the
tables and one line on report.html, from importlib.metadata and the running system."""

import platform
from importlib.metadata import version

from clustering.report.environment import PACKAGES, machine, versions
from clustering.report.write import write_report
from tests import report_store


def test_versions_are_the_installed_ones():
    found = versions()
    assert list(found) == ["python", *PACKAGES]
    assert found["python"] == platform.python_version()
    assert found["umap-learn"] == version("umap-learn") and found["numba"] == version("numba")


def test_the_report_writes_environment_md_and_a_line_on_the_page(tmp_path):
    store = report_store.store(tmp_path, [{"clusterer": "kmeans"}])
    written = write_report(store, "digits", tmp_path / "out")
    folder = written["html"].parent
    text = (folder / "environment.md").read_text()
    assert f"| umap-learn | {version('umap-learn')} |" in text
    assert f"| cores | {machine()['cores']} |" in text and "| numba target | generic |" in text
    page = written["html"].read_text()
    assert f"numba {version('numba')}" in page and "numba target generic" in page
