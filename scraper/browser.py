"""Start Chromium or Chrome through Selenium 4, the same way on a laptop, in CI and in tests.

The browser is FACECAT_CHROMIUM if set, else the first Chromium or Chrome found (Debian's
/usr/bin/chromium first). The driver is SE_CHROMEDRIVER if set, else a chromedriver on PATH, else
Selenium Manager finds one (it may download it; SE_OFFLINE=true keeps it off the network).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

# Quiet, reproducible headless runs: no first-run chatter, no background updates or sync.
ARGS = (
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
    "--lang=en-US",
)
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BROWSER_PATHS = (
    "/usr/bin/chromium",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe",
    os.path.expandvars(r"%LOCALAPPDATA%\Google\Chrome\Application\chrome.exe"),
)


class BrowserNotFound(RuntimeError):
    pass


def find_browser() -> str:
    """The Chromium or Chrome binary to drive."""
    if chosen := os.environ.get("FACECAT_CHROMIUM"):
        if Path(chosen).is_file():
            return chosen
        if found := shutil.which(chosen):  # a name on PATH: chromedriver wants the path
            return found
        raise BrowserNotFound(f"FACECAT_CHROMIUM={chosen} is not a browser binary")
    for found in [*(shutil.which(n) for n in BROWSER_NAMES), *BROWSER_PATHS]:
        if found and Path(found).is_file():
            return found
    raise BrowserNotFound(
        "no Chromium or Chrome found: install one (Debian: apt install chromium chromium-driver) "
        "or point FACECAT_CHROMIUM at its binary"
    )


def driver_service() -> Service:
    """SE_CHROMEDRIVER, else chromedriver on PATH, else Selenium Manager's choice. On POSIX the
    driver and its browser get a process group of their own, reaped with this process (_Reaper)."""
    path = os.environ.get("SE_CHROMEDRIVER") or shutil.which("chromedriver")
    cls = _ReapedService if os.name == "posix" else Service
    return cls(path) if path else cls()


class _Reaper:
    """Kills the browser's process group once this process ends, however it ends (kill -9 too): a
    small process waits for the end of a pipe only this process holds. A normal quit closes the pipe
    itself. In a session of its own, so a Ctrl-C at the terminal does not stop it before its work."""

    SCRIPT = (
        "import os, signal, sys\n"
        "sys.stdin.buffer.read()\n"
        "try:\n    os.killpg(int(sys.argv[1]), signal.SIGKILL)\n"
        "except OSError:\n    pass\n"  # the group is gone already
    )

    def __init__(self, process_group: int):
        self.proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT, str(process_group)],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


class _ReapedService(Service):
    """chromedriver in a process group of its own (so are the browsers it starts), reaped from the
    moment it is started; every quit, even of a session that failed to start, ends in stop()."""

    _reaper: _Reaper | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, popen_kw={"start_new_session": True}, **kwargs)

    def _start_process(self, path: str) -> None:  # Selenium's hook that launches chromedriver
        super()._start_process(path)
        self._reaper = _Reaper(self.process.pid)

    def start(self) -> None:
        super().start()
        if self._reaper is None:  # a Selenium without the hook above: reaped a moment later
            self._reaper = _Reaper(self.process.pid)

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            reaper, self._reaper = self._reaper, None
            if reaper is not None:
                reaper.close()


def start_browser(headful: bool = False, page_load_timeout: float = 30) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = find_browser()
    if not headful:
        options.add_argument("--headless=new")
    for arg in ARGS:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=driver_service(), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    return driver
