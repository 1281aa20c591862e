"""Signals for the tests' child processes."""
from __future__ import annotations

import signal


def ctrl_c_reaches_the_child() -> None:
    """preexec_fn for a child that a test interrupts with SIGINT: a shell starts background jobs with
    SIGINT ignored (CI under nohup, `cmd &`), and a Python child inherits that and never sees Ctrl-C.
    A person's terminal delivers it; the test stands in for that person."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
