"""Finding the browser and its driver on machines laid out differently from Debian's."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from db import open_catalog
from scraper import browser
from scraper.browser import BrowserNotFound, driver_service, find_browser
from tests.scraper.processes import group_alive
from tests.scraper.waiting import wait_for

SCRAPE = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "scrape")


def fake_program(folder: Path, name: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bare_machine(monkeypatch, tmp_path):
    """No browser in the usual install places, PATH is one empty folder, no overrides."""
    monkeypatch.setattr(browser, "BROWSER_PATHS", ())
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("FACECAT_CHROMIUM", raising=False)
    monkeypatch.delenv("SE_CHROMEDRIVER", raising=False)
    return tmp_path / "bin"


def test_chrome_on_path_is_found_when_there_is_no_chromium(bare_machine):
    chrome = fake_program(bare_machine, "google-chrome")
    assert find_browser() == str(chrome)
    chromium = fake_program(bare_machine, "chromium")
    assert find_browser() == str(chromium)  # Chromium first when both are there


def test_no_browser_anywhere_says_how_to_get_one(bare_machine):
    with pytest.raises(BrowserNotFound, match="apt install chromium chromium-driver.*FACECAT_CHROMIUM"):
        find_browser()


def test_facecat_chromium_wins_and_a_wrong_one_is_named(bare_machine, monkeypatch):
    fake_program(bare_machine, "chromium")
    mine = fake_program(bare_machine.parent / "opt", "my-chrome")
    monkeypatch.setenv("FACECAT_CHROMIUM", str(mine))
    assert find_browser() == str(mine)
    monkeypatch.setenv("FACECAT_CHROMIUM", str(bare_machine / "nope"))
    with pytest.raises(BrowserNotFound, match="FACECAT_CHROMIUM=.*nope is not a browser binary"):
        find_browser()


def test_facecat_chromium_may_be_a_name_on_path(bare_machine, monkeypatch):
    on_path = fake_program(bare_machine, "my-chrome")
    monkeypatch.setenv("FACECAT_CHROMIUM", "my-chrome")
    assert find_browser() == str(on_path)  # a path: chromedriver does not look names up on PATH


def test_the_driver_comes_from_se_chromedriver_then_path_then_selenium_manager(bare_machine, monkeypatch):
    assert not driver_service().path  # Selenium Manager will look for one
    on_path = fake_program(bare_machine, "chromedriver")
    assert driver_service().path == str(on_path)
    monkeypatch.setenv("SE_CHROMEDRIVER", "/opt/driver/chromedriver")
    assert driver_service().path == "/opt/driver/chromedriver"


def test_scrape_without_a_browser_is_one_line_and_exit_1(tmp_path):
    open_catalog(tmp_path / "cat", create=True).close()
    env = {"PATH": "/usr/bin:/bin", "SE_OFFLINE": "true", "FACECAT_CHROMIUM": str(tmp_path / "no-such-browser")}
    r = subprocess.run([SCRAPE, "angry face", "--catalog", str(tmp_path / "cat")], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines() == [f"error: FACECAT_CHROMIUM={tmp_path / 'no-such-browser'} is not a browser binary"]


def test_a_browser_that_will_not_start_is_one_line_and_exit_1(tmp_path):
    open_catalog(tmp_path / "cat", create=True).close()
    not_a_browser = fake_program(tmp_path / "opt", "chromium")  # chromedriver starts, the session does not
    r = subprocess.run([SCRAPE, "angry face", "--catalog", str(tmp_path / "cat")], capture_output=True, text=True,
                       env={**os.environ, "SE_OFFLINE": "true", "FACECAT_CHROMIUM": str(not_a_browser)}, timeout=120)
    assert r.returncode == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("error: cannot start Chromium through Selenium: "), r.stderr


START_AND_WAIT = """
import sys, time
from scraper.browser import driver_service, start_browser
if sys.argv[1] == "driver-only":  # killed after chromedriver started, before any browser session
    service = driver_service()
    service.start()
    print(service.process.pid, flush=True)
else:
    driver = start_browser()
    driver.get("data:text/html,<p>hello</p>")
    print(driver.service.process.pid, flush=True)
if sys.argv[1] == "quit":
    driver.quit()
    print("quit", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("how", ["kill", "driver-only", "quit"])
def test_the_browser_never_outlives_the_process_that_started_it(how):
    proc = subprocess.Popen([sys.executable, "-c", START_AND_WAIT, how], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[2], env={**os.environ, "SE_OFFLINE": "true"})
    try:
        group = int(proc.stdout.readline())
        assert group_alive(group)  # chromedriver (and Chromium), in a process group of their own
        if how == "quit":
            assert proc.stdout.readline() == "quit\n"
        else:
            proc.kill()  # kill -9: no Python cleanup runs
        wait_for(lambda: not group_alive(group), "every Chromium and chromedriver process to end", 30)
    finally:
        proc.kill()
        proc.wait()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("how", [[], ["--no-browser"]])
def test_a_search_page_that_cannot_be_reached_says_why(tmp_path, how):
    open_catalog(tmp_path / "cat", create=True).close()
    base = f"http://127.0.0.1:{closed_port()}"
    r = subprocess.run([SCRAPE, "angry face", *how, "--base-url", base, "--catalog", str(tmp_path / "cat")],
                       capture_output=True, text=True, env={**os.environ, "SE_OFFLINE": "true"}, timeout=120)
    assert r.returncode == 1
    assert '"angry face": failed: cannot ' in r.stderr and f"{base}/images/search?q=angry+face" in r.stderr
    assert "connection refused (is the server running on that port?)" in r.stderr


def test_chromiums_own_error_page_is_named_not_taken_for_a_layout_change(tmp_path):
    open_catalog(tmp_path / "cat", create=True).close()
    # Chromium refuses port 9 itself and shows its error page instead of raising.
    r = subprocess.run([SCRAPE, "angry face", "--base-url", "http://127.0.0.1:9", "--catalog", str(tmp_path / "cat")],
                       capture_output=True, text=True, env={**os.environ, "SE_OFFLINE": "true"}, timeout=120)
    assert r.returncode == 1
    assert ("No results: the browser showed an error page: ERR_UNSAFE_PORT: Chromium blocks port 9 as unsafe "
            "(it belongs to another protocol); serve the site on another port, e.g. 8000.") in r.stderr
    assert "layout changed" not in r.stderr
    assert list((tmp_path / "cat" / "scrape-debug").iterdir())  # saved for a bug report all the same
