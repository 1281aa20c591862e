"""What a model record says about where and with what it was made."""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for dist in ("facecat", "tensorflow-cpu", "tensorflow", "keras", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(gpus: list[str] | None = None) -> dict:
    return {"platform": platform.platform(), "cpu": cpu_model(), "cores": os.cpu_count(), "gpus": gpus or []}


def load_average() -> float | None:
    """The 1-minute load average (shows whether others shared the cores), where the OS has one."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None
