"""Start Chromium through Selenium 4, the same way on a laptop, in CI and in tests.

The driver and browser binaries default to Debian's packages and can be overridden with
SE_CHROMEDRIVER and FACECAT_CHROMIUM. Set SE_OFFLINE=true to keep Selenium Manager off the network.
"""
from __future__ import annotations

import os

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


def start_browser(headful: bool = False, page_load_timeout: float = 30) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("FACECAT_CHROMIUM", "/usr/bin/chromium")
    if not headful:
        options.add_argument("--headless=new")
    for arg in ARGS:
        options.add_argument(arg)
    service = Service(os.environ.get("SE_CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(page_load_timeout)
    return driver
