"""Slow work (an export, the statistics' pictures) on a worker thread, its outcome back on the GUI thread.

A worker never emits on a widget: a dialog is deleted with its window, and Qt deleting an object while
another thread emits on it crashes the process (a CI run died so: a Statistics window closed before its
pictures were drawn). The worker emits on a relay of its own, with no parent, which it holds until the
emit has returned; a receiver deleted by then is simply not called (Qt drops its queued calls)."""
from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal


class _Relay(QObject):
    done = Signal(object, object)  # the result; the exception (None when the work succeeded)


def run_off_thread(work: Callable[[], Any], on_done: Callable[[Any, BaseException | None], None], name: str) -> None:
    """work() on a daemon thread named name; then on_done(result, error) on the GUI thread.
    on_done must be a method of a QObject (a dialog's), so that it is never called once that is gone."""
    if not isinstance(getattr(on_done, "__self__", None), QObject):
        raise TypeError("run_off_thread: on_done must be a method of a QObject")  # a lambda's call is lost
    relay = _Relay()
    # No thread of its own: the worker may delete it (its last reference) when it ends, as Qt allows
    # for an object outside every thread; its queued call still runs on the receiver's thread.
    relay.moveToThread(None)
    relay.done.connect(on_done)

    def run() -> None:
        try:
            result, error = work(), None
        except BaseException as exc:  # an export refused, a disk full, the catalog gone: the receiver says so
            result, error = None, exc
        relay.done.emit(result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
