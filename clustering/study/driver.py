"""The one run driver, for one process or many. `run` and `work` share one set-up: the cache, the
dataset loaded once (`CellData`), both stores (`Services`), each cell's study and cell run
(under the storage lock). Then `run` takes the trials itself (`--workers 1`, the default) or
starts N worker processes (`processes.run_pool`), each of which calls `work` with the same
config object; a `worker` on any machine calls `work` too and joins the same studies. With
several datasets (`--dataset digits,mnist`) both do this for each dataset in turn, one
`CellData` each and the same cell specs on each.

Admission under the lock keeps a study at exactly `--trials` complete trials however many
processes take part. A running trial records a heartbeat; one silent for the grace period (its
process was killed or lost) is failed by the next process that looks, the sinks told it was
lost, and the trial queued again. An unreachable store is retried with backoff, then the
process stops with a one-line reason.
"""

import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from clustering.cache import FeatureCache
from clustering.config import RunConfig
from clustering.study.cell import CellSummary, load_data, specs
from clustering.study.events import CellEvent, StudyCallback
from clustering.study.finalize import prepare
from clustering.study.loop import work_cell
from clustering.study.processes import run_pool
from clustering.study.services import Services

logger = logging.getLogger(__name__)


@dataclass
class RunSetUp:
    """What every process of a run works with: the stores (and the config and callbacks, in
    `services`) and each cell prepared (`CellEvent`: data, spec, study, cell run, cache)."""

    services: Services
    cells: list[CellEvent]


def set_up(
    config: RunConfig, callbacks: Sequence[StudyCallback] = (), parent_run_id: str | None = None
) -> RunSetUp:
    """Load the data once, open both stores, create (or load) every cell's study and cell run;
    `parent_run_id`: the run `mlflow run` opened, which the cell runs nest under."""
    cache = FeatureCache(config.cache_dir) if config.use_cache else None
    cell_data = load_data(config, cache)
    services = Services.connect(config, callbacks)
    cells = prepare(cell_data, specs(config, cell_data), services, parent_run_id)
    return RunSetUp(services, [dataclasses.replace(cell, cache=cache) for cell in cells])


def run(
    config: RunConfig,
    callbacks: Sequence[StudyCallback] = (),
    parent_run_id: str | None = None,
    worker_entry: Callable[[RunConfig, str | None], None] | None = None,
) -> list[CellSummary]:
    """`run`: for each dataset of `config` in turn (`per_dataset`: the same cells on each),
    set up, take the trials here (one worker) or in `config.workers` processes that each call
    `worker_entry(one_dataset_config, parent_run_id)` (a picklable function that calls
    `work`), then finalize each cell, telling `callbacks` what happens. One summary per cell
    and dataset."""
    summaries = []
    for one in config.per_dataset():
        setup = set_up(one, callbacks, parent_run_id)
        if one.workers == 1:
            done = take_trials(setup, reseed=False)
        else:
            done = run_pool(setup, worker_entry, parent_run_id)
        summaries += _named(done, one.dataset, config)
    return summaries


def work(
    config: RunConfig, callbacks: Sequence[StudyCallback] = (), parent_run_id: str | None = None
) -> list[CellSummary]:
    """A worker: for each dataset in turn the same set-up, then take the trials of each cell
    with a fresh sampler seed (else every worker proposes the same configurations)."""
    summaries = []
    for one in config.per_dataset():
        done = take_trials(set_up(one, callbacks, parent_run_id), reseed=True)
        summaries += _named(done, one.dataset, config)
    return summaries


def _named(summaries: list[CellSummary], dataset: str, config: RunConfig) -> list[CellSummary]:
    """`summaries` of `dataset`, their labels prefixed with it ("mnist: raw x none x kmeans")
    when `config` runs several datasets."""
    if len(config.datasets()) == 1:
        return summaries
    return [dataclasses.replace(s, label=f"{dataset}: {s.label}") for s in summaries]


def take_trials(setup: RunSetUp, reseed: bool) -> list[CellSummary]:
    """Take the trials of each cell in turn, as this process ("host:pid"); one summary each."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    summaries = []
    for index, cell in enumerate(setup.cells, start=1):
        logger.info("cell %d/%d: %s", index, len(setup.cells), cell.spec.label)
        if reseed:
            cell.study.sampler.reseed_rng()
        cell = dataclasses.replace(cell, worker=worker)
        summaries.append(work_cell(cell, setup.services))
    return summaries
