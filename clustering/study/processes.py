"""`run --workers N`: N worker processes on this machine (the spawn context: fresh interpreters),
each calling the driver's `work` with the run's config object through the command's worker
entry; waited for, stopped cleanly on Ctrl-C or SIGTERM; then every cell is finalized here."""

import contextlib
import dataclasses
import logging
import multiprocessing
import time
from collections.abc import Callable

from clustering.errors import BenchError
from clustering.study.cell import CellSummary
from clustering.study.finalize import finalize
from clustering.study.loop import closing_on_interrupt

logger = logging.getLogger(__name__)

STOP_SECONDS = 120


def run_pool(setup, worker_entry: Callable, parent_run_id: str | None) -> list[CellSummary]:
    """Start `config.workers` processes running `worker_entry(config, parent_run_id)` (the
    cells prepared in `setup`, a driver.RunSetUp, are theirs to join), wait for them, then
    finalize every cell. Ctrl-C or SIGTERM stops the workers and ends the cells KILLED."""
    services = setup.services
    config = services.config
    started = time.perf_counter()
    processes = start_workers(worker_entry, config, parent_run_id)
    with closing_on_interrupt(setup.cells, services, started), _stopping(processes):
        codes = [_wait(process) for process in processes]
    seconds = time.perf_counter() - started
    summaries = [finalize(cell, services, seconds) for cell in setup.cells]
    _check_codes(codes, summaries, config)
    return summaries


def start_workers(worker_entry: Callable, config, parent_run_id: str | None) -> list:
    """`config.workers` spawned processes, each given the config (as one worker's) and the
    parent run id; started, their pids logged."""
    context = multiprocessing.get_context("spawn")
    own = dataclasses.replace(config, workers=1)
    processes = [
        context.Process(target=worker_entry, args=(own, parent_run_id))
        for _ in range(config.workers)
    ]
    for process in processes:
        process.start()
    logger.info(
        "started %d workers: pids %s",
        len(processes),
        ", ".join(str(process.pid) for process in processes),
    )
    return processes


def _wait(process) -> int:
    process.join()
    return process.exitcode


@contextlib.contextmanager
def _stopping(processes: list):
    """On an exception in the block (Ctrl-C, SIGTERM): SIGTERM each running worker (it fails
    its trial and closes its runs), wait up to STOP_SECONDS, kill what is left; re-raise."""
    try:
        yield
    except BaseException:
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for process in processes:
            process.join(timeout=max(deadline - time.monotonic(), 0.1))
            if process.is_alive():
                process.kill()
                process.join()
        raise


def _check_codes(codes: list[int], summaries: list[CellSummary], config) -> None:
    """BenchError when a worker failed and the study is not complete; else a warning for each
    worker that failed (the others ran its trials)."""
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
