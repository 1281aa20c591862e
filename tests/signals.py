"""Signals for the tests' child processes."""
from __future__ import annotations

import signal
import subprocess

import pytest


def ctrl_c_reaches_the_child() -> None:
    """preexec_fn for a child that a test interrupts with SIGINT: a shell starts background jobs with
    SIGINT ignored (CI under nohup, `cmd &`), and a Python child inherits that and never sees Ctrl-C.
    A person's terminal delivers it; the test stands in for that person."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def communicate_or_show_stacks(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """proc.communicate(timeout); a child still running after it is killed, and the test fails
    with where each of its threads was (py-spy, when installed) and what it had written."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            stacks = subprocess.run(["py-spy", "dump", "--native", "--pid", str(proc.pid)], capture_output=True,
                                    text=True, timeout=60)
            where = stacks.stdout + stacks.stderr
        except (OSError, subprocess.TimeoutExpired) as exc:
            where = f"(no stacks: {exc})"
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running after {timeout} s; its threads:\n{where}\nstdout:\n{out}\nstderr:\n{err}")
