"""A real two-node Ray cluster and a real S3-compatible server, on this machine's loopback only.

ray_cluster: a head (127.0.0.2) and a worker node (127.0.0.3), 1 CPU and an 80 MB object store
each, started once for the session with `ray start` and ended at its end (every process by id).
s3: moto's standalone server on 127.0.0.1; `s3_env` points this process at it, the Ray nodes get
the same variables when they start (every node reads the store with its own credentials).
"""
from __future__ import annotations

import os
import uuid

import pytest

from tests.cluster.processes import MotoServer, RayCluster


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def bucket(s3_env) -> str:
    """A new, empty bucket; returns its name."""
    import s3fs

    name = f"facecat-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=s3_env.endpoint).mkdir(name)
    return name


@pytest.fixture(scope="session")
def ray_cluster(s3_server, tmp_path_factory):
    cluster = RayCluster(tmp_path_factory.mktemp("ray"), s3_server.env())
    before = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # the drivers in this process, as the cluster's nodes
    try:
        cluster.add_worker("127.0.0.3")
        yield cluster
    finally:
        cluster.stop()
        if before is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = before


@pytest.fixture
def serve():
    """serve(app) -> a web server on 127.0.0.1 (scraper.lookalike.server), shut down after the test."""
    from scraper.lookalike.server import LocalServer

    servers = []

    def start(app):
        servers.append(LocalServer(app))
        return servers[-1]

    yield start
    for s in servers:
        s.close()
