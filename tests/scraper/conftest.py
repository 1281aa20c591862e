from __future__ import annotations

import os

import pytest

from scraper.lookalike.server import LocalServer

# Selenium Manager must never try the network: the driver is Debian's chromedriver.
os.environ.setdefault("SE_OFFLINE", "true")


@pytest.fixture
def serve():
    """serve(app) -> LocalServer on 127.0.0.1; every server is shut down after the test."""
    servers = []

    def start(app) -> LocalServer:
        servers.append(LocalServer(app))
        return servers[-1]

    yield start
    for s in servers:
        s.close()
