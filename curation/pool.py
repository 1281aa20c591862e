"""Worker processes that survive a crash: results in job order, a dead worker costs only its job.

multiprocessing.Pool waits forever for a worker that died (a segfault in a decoder, an OOM kill).
concurrent.futures notices (BrokenProcessPool); then the jobs that were in flight are run again one
at a time in a fresh pool, so the one that kills its worker again is known and gets `crashed(job)`
as its result, and the run goes on.
"""
from __future__ import annotations

import multiprocessing as mp
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterator, Sequence, TypeVar

J = TypeVar("J")
R = TypeVar("R")


def _run_chunk(fn: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
    return [fn(job) for job in jobs]


def _ready() -> bool:
    return True


class WorkersCannotStart(RuntimeError):
    """The worker set-up itself fails (a model that will not load, no memory for N workers): no job
    is to blame, so nothing is marked crashed."""


def ordered_map(
    fn: Callable[[J], R],
    jobs: Sequence[J],
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple,
    crashed: Callable[[J], R],
    chunk: int = 1,
) -> Iterator[R]:
    """fn(job) for every job in `workers` forked processes (each set up once by initializer),
    yielded in job order, so what the caller writes comes out the same for any worker count."""

    # fork: workers start at once with every module already imported; fn and initializer must be
    # module-level functions.
    def new_pool(size: int = workers) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(size, mp_context=mp.get_context("fork"), initializer=initializer,
                                   initargs=initargs)
        try:
            pool.submit(_ready).result()
        except BrokenProcessPool:
            pool.shutdown(wait=True, cancel_futures=True)
            raise WorkersCannotStart("worker processes cannot start (their set-up failed or was killed)") from None
        return pool

    pool = new_pool()
    try:
        # (jobs, future), oldest first; enough chunks ahead that workers stay busy while the parent writes.
        window: deque = deque()
        start = 0
        while start < len(jobs) or window:
            while start < len(jobs) and len(window) < 8 * workers:
                part = jobs[start : start + chunk]
                window.append((part, pool.submit(_run_chunk, fn, part)))
                start += len(part)
            part, future = window.popleft()
            try:
                results = future.result()
            except BrokenProcessPool:
                # Chunks that finished before the crash keep their results; the rest are suspects.
                pending = [(part, None)] + [(p, f.result() if f.done() and not f.exception() else None)
                                            for p, f in window]
                window.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                pool = new_pool(1)
                for part_, done in pending:
                    if done is not None:
                        yield from done
                        continue
                    for job in part_:  # one at a time: the job that kills its worker again is known
                        try:
                            yield pool.submit(fn, job).result()
                        except BrokenProcessPool:
                            yield crashed(job)
                            pool.shutdown(wait=True, cancel_futures=True)
                            pool = new_pool(1)
                pool.shutdown(wait=True, cancel_futures=True)
                pool = new_pool()
                continue
            yield from results
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
