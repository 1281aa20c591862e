"""Where the work of a long command runs: on this machine (process pool or threads, as always), or
on a Ray cluster (`--executor ray[:ADDRESS]`). Shared by `curate extract`, `curate import` and
`scrape`, like the rest of db/cli.py's conventions.

With Ray the driver (the command) lists the work, cuts it into batches and submits each batch as a
Ray task; workers compute and hand the results back; only the driver writes to the catalog, through
db/'s batch API and its claims (a batch done twice is stored once). Results come back in the order
the batches were submitted, as the local pool's do. A task whose node or worker process is lost
runs again elsewhere (Ray's task retries, `TASK_RETRIES`); a batch that still fails for a system
reason is retried one item at a time, so an item that kills its worker every time (a decoder's
segfault) is known and gets `crashed(item)` as its result, as locally. A worker's own exception
(an unreachable blob store) ends the command with its message.

The driver must be able to reach the cluster before anything is written: `connect` checks the
address first (a port where nothing listens is one line, in seconds), so callers connect before
they open or create a catalog.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence, TypeVar

import click

from db.errors import CatalogError

J = TypeVar("J")
R = TypeVar("R")

TASK_RETRIES = 4  # a lost node or worker costs a retry; Ray runs the task again elsewhere
CONNECT_TIMEOUT_S = 5.0
_SYSTEM_FAILURES = ("WorkerCrashedError", "NodeDiedError", "ObjectLostError", "OutOfMemoryError", "OwnerDiedError")


class ExecutorError(CatalogError):
    """The executor cannot be used (no Ray installed, nothing at the address): one line, exit 1."""


@dataclass(frozen=True)
class ExecutorSpec:
    """`local`, `ray` ($RAY_ADDRESS, else a Ray instance started for this run) or `ray:ADDRESS`."""

    kind: str = "local"
    address: str | None = None

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    def __str__(self) -> str:
        return self.kind + (f":{self.address}" if self.address else "")


LOCAL = ExecutorSpec()


def parse_executor(text: str | None) -> ExecutorSpec:
    text = (text or "local").strip()
    if text == "local":
        return LOCAL
    if text == "ray":
        return ExecutorSpec("ray")
    if text.startswith("ray:") and text[4:].strip():
        return ExecutorSpec("ray", text[4:].strip())
    raise ValueError(f"{text!r} is not an executor: local, ray or ray:ADDRESS (e.g. ray:10.0.0.5:6379)")


def _executor_callback(_ctx, _param, value: str | None) -> ExecutorSpec:
    try:
        return parse_executor(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def executor_option(func: Callable) -> Callable:
    """Add --executor to a click command; the function receives an ExecutorSpec `executor`."""
    return click.option(
        "--executor", "executor", metavar="local|ray[:ADDRESS]", default="local", show_default=True,
        callback=_executor_callback,
        help="Where the work runs: this machine's processes, or a Ray cluster (ray: $RAY_ADDRESS, else a Ray "
             "instance started here; ray:HOST:PORT the head of a cluster started with `ray start --head`). "
             "Every node needs facecat installed and must reach the blob store.",
    )(func)


def _check_listening(address: str) -> None:
    """A GCS address (host:port) must accept a connection before Ray is asked: ray.init would
    otherwise wait a minute for a port where nothing listens."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ExecutorError(f"Ray address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__ if not isinstance(exc, socket.timeout) else "no answer"
        raise ExecutorError(f"no Ray cluster at {address}: {why.lower()} (start one with `ray start --head`, "
                            "or check the address)") from None


def _cluster_events_to_stderr() -> None:
    """Ray prints cluster events (a node lost, a task retried) on the driver's stdout, which a
    command's --json output shares: they go to stderr, beside the progress bar."""
    try:
        from ray._private import worker
    except ImportError:  # a Ray without this module: its messages stay where Ray puts them
        return
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "facecat_stderr", False):
        return

    def to_stderr(data, ignore_prefix: bool):
        original({**data, "is_err": True}, ignore_prefix)

    to_stderr.facecat_stderr = True
    worker.print_to_stdstream = to_stderr


class RayCluster:
    """One command's connection to Ray: map batches over the cluster, count its workers."""

    def __init__(self, spec: ExecutorSpec):
        try:
            import ray
        except ImportError:
            raise ExecutorError("--executor ray needs Ray: pip install 'facecat[cluster]'") from None
        self.ray = ray
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home
        address = spec.address or os.environ.get("RAY_ADDRESS") or None
        if address and not address.startswith(("ray://", "auto")):
            _check_listening(address)
        try:
            if address:
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
            else:
                ray.init(logging_level=logging.ERROR, log_to_driver=False, include_dashboard=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ExecutorError(f"cannot connect to Ray at {address or 'a new local instance'}: "
                                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
        _cluster_events_to_stderr()
        self.address = address or "local instance"
        self._remote = ray.remote(max_retries=TASK_RETRIES, retry_exceptions=False)(_run_batch)
        self._cpus, self._cpus_at = 0, 0.0
        self.in_flight = 0

    def close(self) -> None:
        self.ray.shutdown()

    def __enter__(self) -> "RayCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cpus(self) -> int:
        """CPUs of the cluster's live nodes (asked again at most every 2 s: nodes come and go)."""
        if time.monotonic() - self._cpus_at > 2:
            try:
                self._cpus = int(sum(n["Resources"].get("CPU", 0) for n in self.ray.nodes() if n.get("Alive")))
            except Exception:  # noqa: BLE001 (a progress figure must never stop the run)
                pass
            self._cpus_at = time.monotonic()
        return self._cpus

    def workers_in_use(self) -> int:
        return min(self.in_flight, self.cpus())

    def batch_size(self, n: int, most: int) -> int:
        """Items per task: small enough that every CPU gets several tasks, at most `most`."""
        return max(1, min(most, -(-n // (4 * max(1, self.cpus())))))

    def map(self, fn: Callable[..., list[R]], batches: Sequence[Sequence[J]], args: tuple = (),
            crashed: Callable[[J], R] | None = None, window: int | None = None) -> Iterator[tuple[Sequence[J], list[R]]]:
        """fn(batch, *args) for every batch on the cluster, yielded as (batch, results) in batch
        order. fn must be a module-level function (workers import it) returning one result per item."""
        ray = self.ray
        shared = [ray.put(a) for a in args]  # sent to the cluster once, not with every task
        window = window or max(2, 2 * self.cpus())
        pending: deque = deque()
        todo = iter(batches)
        try:
            while True:
                while len(pending) < window:
                    batch = next(todo, None)
                    if batch is None:
                        break
                    pending.append((batch, self._remote.remote(fn, batch, *shared)))
                self.in_flight = len(pending)
                if not pending:
                    return
                batch, ref = pending.popleft()
                yield batch, self._get(ref, fn, batch, shared, crashed)
        except KeyboardInterrupt:
            # Ctrl-C: the command is ending, and Ray ends a driver's tasks when it disconnects. No
            # cancel calls, one per task in flight, between the person and the prompt (Ray has had
            # races in cancel: ray-project/ray#47649, #24359).
            pending.clear()
            raise
        finally:
            self.in_flight = 0
            for _, ref in pending:  # stopped early (an error, a caller that stopped reading): not wanted
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001
                    pass

    def _get(self, ref, fn, batch, shared, crashed) -> list:
        try:
            return self._get_one(ref)
        except _Crashed as lost:
            if crashed is None:
                raise ExecutorError(f"a Ray task failed {TASK_RETRIES + 1} times: {lost.args[0]}") from None
        # Retried and still lost: one item at a time, so the one that kills its worker is known.
        out = []
        for item in batch:
            try:
                out.extend(self._get_one(self._remote.remote(fn, [item], *shared)))
            except _Crashed:
                out.append(crashed(item))
        return out

    def _get_one(self, ref) -> list:
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, CatalogError):
                raise _same_error(cause) from None
            raise
        except ray.exceptions.RayError as exc:
            if any(c.__name__ in _SYSTEM_FAILURES for c in type(exc).__mro__):
                raise _Crashed(type(exc).__name__) from None
            raise


class _Crashed(Exception):
    """A task lost with its worker or node (after Ray's retries); args[0]: Ray's error's name."""


def _same_error(cause: CatalogError) -> CatalogError:
    """A worker's CatalogError, raised again here without Ray's traceback text around it."""
    try:
        return type(cause)(str(cause))
    except TypeError:
        return CatalogError(str(cause))


def _run_batch(fn: Callable[..., list], batch: Sequence, *args: Any) -> list:
    """The Ray task: one batch through a stage's worker function."""
    return fn(batch, *args)


def connect(spec: ExecutorSpec) -> RayCluster | None:
    """A RayCluster for a ray spec (None for local); ExecutorError with one line when it cannot be had."""
    return None if spec.is_local else RayCluster(spec)


def chunks(seq: Sequence[J], n: int) -> list[Sequence[J]]:
    return [seq[i : i + n] for i in range(0, len(seq), n)]
