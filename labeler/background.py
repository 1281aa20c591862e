"""A worker thread for the window's catalog reads and small writes (claims, changes, counts, the
original photo of a face), so the GUI thread never waits on the database. Tasks have keys; a task
queued under a key that is already waiting replaces it (only the latest filter's counts matter).
No Qt here: results go to a callback, which the window turns into a signal."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Callable


def lower_priority(niceness: int) -> None:
    """Make the calling thread yield the CPU to the GUI thread when they contend (Linux: a thread
    has its own nice value). Elsewhere nothing happens."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


BACKGROUND_NICE = 10  # counts, claims, changes, the panel's photo: never in the way of a key press


class Background:
    def __init__(self, on_done: Callable[[str, Any, BaseException | None], None], name: str = "label-background",
                 nice: int = BACKGROUND_NICE):
        self._on_done = on_done
        self._nice = nice
        self._tasks: OrderedDict[str, Callable[[], Any]] = OrderedDict()
        self._cond = threading.Condition()
        self._stopped = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, key: str, fn: Callable[[], Any]) -> bool:
        """Queue fn under key; True when it replaced a task still waiting (whose result never comes)."""
        with self._cond:
            replaced = self._tasks.pop(key, None) is not None
            self._tasks[key] = fn
            self._cond.notify()
            return replaced

    def idle(self) -> bool:
        with self._cond:
            return not self._tasks and not self._busy

    def stop(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stopped = True
            self._tasks.clear()
            self._cond.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        lower_priority(self._nice)
        while True:
            with self._cond:
                while not self._tasks and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                key, fn = self._tasks.popitem(last=False)
                self._busy = True
            try:
                result, error = fn(), None
            except BaseException as exc:  # reported to the window, which shows it
                result, error = None, exc
            with self._cond:
                self._busy = False
            if not self._stopped:
                self._on_done(key, result, error)
