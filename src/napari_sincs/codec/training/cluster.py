"""Fitting chains of groups as tasks on a dask.distributed cluster.

Chains (the runs of groups between keyframes) start from fresh, seeded weights, so they are
independent: each is one task. The client reads a chain's groups from the source (a numpy
array, a lazy TIFF, a zarr array) and sends only those to a worker; the worker trains the chain
on its own device (`auto` picks the worker's GPU) and returns the trained weights. Rate control
(the weight precision that fills the byte budget) needs every chain, so quantisation, entropy
coding and the container stay on the client. At most `in_flight` chains' data is held at once,
so memory stays bounded however large the input.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...progress import CancelToken, check
from ..device import pick_device
from ..errors import InvalidConfigError
from ..families.base import ModelSpec
from .fit import FitSettings, GroupLoader, fit_chain

GroupData = tuple[np.ndarray, np.ndarray | None]
POLL_SECONDS = 0.1
"""How often the client looks whether a task is done (and whether the user cancelled)."""


@dataclass(frozen=True)
class ChainTask:
    """Everything a worker needs to fit one chain (sent as one scattered object)."""

    spec: ModelSpec
    groups: list[int]
    data: list[GroupData]
    settings: FitSettings
    device: str
    threads: int


def fit_chain_task(task: ChainTask) -> tuple[np.ndarray, float]:
    """Run on a worker: the chain's trained weights (groups × parameters) and last loss.

    CPU float reductions split differently with the number of threads, so every task trains with
    the thread count the client chose: the same weights, bit for bit, as fitting in one process
    with that many torch threads.
    """
    load = dict(zip(task.groups, task.data)).__getitem__
    device = pick_device(task.device)
    threads = torch.get_num_threads()
    torch.set_num_threads(task.threads)
    try:
        fits = fit_chain(task.spec, task.groups, load, task.settings, device)
    finally:
        torch.set_num_threads(threads)
    return np.stack([fit.parameters.numpy() for fit in fits]), fits[-1].loss


class ClusterFitter:
    """Fits chains on the workers of a dask.distributed `Client`, results in chain order."""

    def __init__(
        self,
        client: Any,
        device: str = "auto",
        in_flight: int | None = None,
        threads: int | None = None,
    ) -> None:
        """`threads`: torch threads per task (default: this process's count)."""
        self.client = client
        self.device = device
        workers = len(client.scheduler_info().get("workers", {})) or 1
        self.in_flight = in_flight or 2 * workers
        self.workers = workers
        self.threads = threads or torch.get_num_threads()

    def describe(self) -> str:
        """Where the chains ran, for the report."""
        plural = "s" if self.workers != 1 else ""
        return f"{self.workers} dask worker{plural} × {self.threads} threads ({self.device})"

    def fit(
        self,
        spec: ModelSpec,
        chains: list[list[int]],
        load: GroupLoader,
        settings: FitSettings,
        on_chain: Callable[[list[int], float], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[np.ndarray]:
        """Each chain's weights, in order, while later chains are still training."""
        tasks = (
            ChainTask(spec, chain, [load(g) for g in chain], settings, self.device, self.threads)
            for chain in map(list, chains)
        )
        for chain, (weights, loss) in zip(chains, self.map(fit_chain_task, tasks, cancel)):
            if on_chain is not None:
                on_chain(chain, loss)
            yield weights

    def map(
        self, function: Callable[[Any], Any], tasks: Iterable[Any], cancel: CancelToken | None
    ) -> Iterator[Any]:
        """`function(task)` of each task on the workers, in the tasks' order, with at most
        `in_flight` tasks (and their data) out at once."""
        pending: deque = deque()
        try:
            for task in tasks:
                check(cancel)
                [handle] = self.client.scatter([task], hash=False)
                pending.append(self.client.submit(function, handle, pure=False))
                if len(pending) >= self.in_flight:
                    yield self._collect(pending.popleft(), cancel)
            while pending:
                yield self._collect(pending.popleft(), cancel)
        finally:
            for future in pending:
                future.cancel()

    def _collect(self, future: Any, cancel: CancelToken | None) -> Any:
        """A task's result, checking for a cancel while it runs. By polling `done()`: waiting
        in `Future.result(timeout=...)` again and again lost a result to a race in
        distributed's timeout handling under load (the future came back cancelled and
        `result` raised UnboundLocalError; dask/distributed#8514)."""
        while not future.done():
            check(cancel)
            time.sleep(POLL_SECONDS)
        return future.result()


def threads_per_worker(workers: int) -> int:
    """This machine's cores shared between `workers` local worker processes."""
    return max(1, _usable_cores() // workers)


def _usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the system reports one (Linux;
    a container or taskset can allow fewer than the machine has), else every core (macOS and
    Windows have no os.sched_getaffinity)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def cluster_fitter(
    scheduler: str | Any | None = None, workers: int | None = None, device: str = "auto"
) -> Iterator[ClusterFitter | None]:
    """A ClusterFitter on an existing cluster (`scheduler`: an address such as
    tcp://host:8786, or a distributed.Client), on a new LocalCluster of `workers` processes, or
    None (fit in this process) when neither is given.

    Local workers share this machine's cores (`threads_per_worker`) and train with that many
    torch threads each; two workers on two cores each spinning two threads ran 2.8× slower than
    one worker. On an existing cluster tasks use this process's torch thread count.
    """
    if scheduler is None and workers is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise InvalidConfigError(
            "running on a cluster needs dask.distributed; install it with "
            "`pip install 'napari-sincs[dask]'`."
        ) from exc
    if scheduler is not None and workers is not None:
        raise InvalidConfigError(
            "give either a scheduler address (an existing cluster) or a number of local "
            "workers, not both."
        )
    if scheduler is not None and not isinstance(scheduler, str):
        yield ClusterFitter(scheduler, device)
        return
    threads = None
    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except (OSError, TimeoutError) as exc:
                raise InvalidConfigError(
                    f"cannot reach the dask scheduler at {scheduler} ({exc}); check the address "
                    "and that `dask scheduler` is running there."
                ) from exc
        else:
            if not isinstance(workers, int) or workers < 1:
                raise InvalidConfigError(f"workers must be a whole number ≥ 1 (got {workers!r}).")
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=threads_per_worker(workers),
                    processes=True,
                    dashboard_address=":0",
                )
            )
            client = stack.enter_context(Client(cluster))
            threads = threads_per_worker(workers)
        yield ClusterFitter(client, device, threads=threads)
