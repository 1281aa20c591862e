"""What the browser tests need to know about processes, read from Linux's /proc."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator


def _stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, fields after "pid (comm)": state, ppid, pgrp, ...) of every process now."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            yield int(stat.parent.name), stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile


def cmdline_of(pid: int) -> str | None:
    """The command line of a live process (None: gone, or a zombie waiting to be reaped)."""
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return None
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def descendants(pid: int) -> dict[int, str]:
    """Every live process below pid (by parent pid), with its command line."""
    children: dict[int, list[int]] = {}
    for child, fields in _stats():
        children.setdefault(int(fields[1]), []).append(child)
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            cmdline = cmdline_of(child)
            if cmdline is not None:
                found[child] = cmdline
                todo.append(child)
    return found


def group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is in the group: where PID 1 does not reap orphans (a
    container without an init), the killed ones linger as zombies."""
    return any(int(fields[2]) == pgid and fields[0] != "Z" for _, fields in _stats())
