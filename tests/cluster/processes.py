"""Real services for the cluster tests, on loopback only: Ray nodes (`ray start --block`) and moto's
S3-compatible server. Every process is started here and ended here by its own id (a Ray node's
process tree, and the Ray worker processes that carry this run's marker in their environment)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

BIN = Path(sys.executable).parent
# Ray turns 127.0.0.1 into the machine's network address; any other loopback address it keeps,
# so every node (and all traffic between them) stays on 127.0.0.0/8.
HEAD_IP = "127.0.0.2"
OBJECT_STORE_BYTES = 80 * 1024 * 1024  # near Ray's minimum: the results are small
MARKER = "FACECAT_TEST_RAY_RUN"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def process_tree(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def marked_processes(run: str) -> list[int]:
    """Live processes whose environment carries this run's marker (Ray's workers, wherever reparented)."""
    needle = f"{MARKER}={run}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _kill(pids: list[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class RayNode:
    """One `ray start --block` node; kill() ends its whole tree at once, as a lost machine would."""

    def __init__(self, ip: str, env: dict, log: Path, head_address: str | None, temp_dir: Path, cpus: int = 1):
        args = [str(BIN / "ray"), "start", "--block", f"--node-ip-address={ip}", f"--num-cpus={cpus}",
                f"--object-store-memory={OBJECT_STORE_BYTES}", "--disable-usage-stats",
                f"--dashboard-agent-listen-port={free_port()}", f"--runtime-env-agent-port={free_port()}"]
        if head_address is None:
            self.port = free_port(ip)
            args += ["--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={temp_dir}",
                     f"--dashboard-port={free_port()}"]
            self.address = f"{ip}:{self.port}"
        else:
            args += [f"--address={head_address}"]
            self.address = head_address
        self.log = log
        self.proc = subprocess.Popen(args, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

    def wait_started(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"Ray runtime started" in self.log.read_bytes():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start ended ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"ray start did not come up in {timeout} s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            _kill(process_tree(self.proc.pid))
        self.proc.wait(timeout=30)


class RayCluster:
    """A head and worker nodes on 127.0.0.x, 1 CPU each (the head: head_cpus; 0 schedules no task there)."""

    def __init__(self, root: Path, extra_env: dict, head_cpus: int = 1):
        self.run = uuid.uuid4().hex
        self.root = root
        self.env = {**os.environ, **extra_env, MARKER: self.run, "RAY_USAGE_STATS_ENABLED": "0",
                    # Whatever ~/.ray holds (a local `ray.init()` leaves a token there, which would turn
                    # token auth on for the head but not for the nodes joining it): off for this cluster.
                    "RAY_AUTH_MODE": "disabled",
                    # A lost node is noticed in about 2 s instead of the default ~30 s.
                    "RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "500",
                    "RAY_health_check_timeout_ms": "500", "RAY_health_check_failure_threshold": "3"}
        self.temp_dir = Path("/tmp") / f"facecat-ray-{self.run[:8]}"  # short: Ray's socket paths have a limit
        self.nodes: list[RayNode] = []
        self.head = self._node(HEAD_IP, None, head_cpus)
        self.head.wait_started()
        self.address = self.head.address

    def _node(self, ip: str, head: str | None, cpus: int = 1) -> RayNode:
        node = RayNode(ip, self.env, self.root / f"ray-{ip}-{len(self.nodes)}.log", head, self.temp_dir, cpus)
        self.nodes.append(node)
        return node

    def add_worker(self, ip: str) -> RayNode:
        node = self._node(ip, self.address)
        node.wait_started()
        return node

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.kill()
        deadline = time.monotonic() + 10
        while (left := marked_processes(self.run)) and time.monotonic() < deadline:
            time.sleep(0.2)  # workers notice their raylet is gone and exit
        _kill(marked_processes(self.run))
        subprocess.run(["rm", "-rf", str(self.temp_dir)], check=False)


class MotoServer:
    """moto's standalone S3 server on 127.0.0.1."""

    def __init__(self, log: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"moto_server ended: {log.read_text()[-2000:]}")
                time.sleep(0.2)
        raise RuntimeError("moto_server did not come up in 30 s")

    def env(self) -> dict:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            _kill(process_tree(self.proc.pid))
        self.proc.wait(timeout=30)
