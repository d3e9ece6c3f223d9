"""`run --workers N`: N `worker` processes on this machine, started with the run's options,
waited for, stopped cleanly on Ctrl-C or SIGTERM; then every cell is finalized here."""

import contextlib
import dataclasses
import logging
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import yaml

from clustering.cache import FeatureCache
from clustering.config import RunConfig
from clustering.errors import BenchError
from clustering.study.cell import CellSummary, load_data, specs
from clustering.study.finalize import finalize, prepare
from clustering.study.services import Services

logger = logging.getLogger(__name__)

STOP_SECONDS = 120


def run_processes(
    config: RunConfig, callbacks, parent_run_id: str | None, worker_args: tuple
) -> list[CellSummary]:
    """`run --workers N`: prepare every cell here, start N `worker` processes with the same
    options, wait for them, then finalize. Ctrl-C or SIGTERM stops the workers cleanly.
    Start, wait, stop on interrupt and finalize share the processes and the prepared cells."""
    cache = FeatureCache(config.cache_dir) if config.use_cache else None
    cell_data = load_data(config, cache)
    services = Services.connect(config, callbacks)
    prepared = prepare(cell_data, specs(config, cell_data), services, parent_run_id)
    prepared = [dataclasses.replace(cell, cache=cache) for cell in prepared]
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
                    killed = dataclasses.replace(cell, status="KILLED")
                    finalize(killed, services, time.perf_counter() - started)
            raise
    summaries = [finalize(cell, services, time.perf_counter() - started) for cell in prepared]
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
