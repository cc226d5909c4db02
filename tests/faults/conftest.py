"""The system the fault tests break: every service of one region as local processes, on their own ports and
databases, with the broker behind a TCP proxy that can be cut and a private PostgreSQL server that can be
restarted. Nothing here touches the end-to-end stack or the machine's own PostgreSQL server."""

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ims_devstack import ServiceProcess, Stack, start_tansu
from ims_shared.server import port_free
from tests.faults.pgserver import PrivateServer, server_binaries
from tests.faults.proxy import TcpProxy
from tests.faults.tools import CN, OPENING_BALANCE
from tests.support import drop_databases

REPO = Path(__file__).resolve().parents[2]
TENANTS = REPO / "tests" / "e2e" / "tenants.json"
FAULTS_ENV = {
    "KAFKA_SESSION_TIMEOUT_MS": "3000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    "KAFKA_REQUEST_TIMEOUT_MS": "5000",
    "RELAY_POLL_INTERVAL_S": "0.2",
    "HANDLER_RETRY_LIMIT_S": "30",
    "IMAGE_BUILD_S": "1",
    "BACKUP_WAIT_S": "60",
    "LOG_FORMAT": "json",
    "PYTHONUNBUFFERED": "1",
    "RATING_PERIOD_S": "3",
    "RATING_INTERVAL_S": "0.5",
    "ARREARS_INTERVAL_S": "0.5",
    "PRICE_PER_GB_HOUR": "3.6",
    "INITIAL_BALANCE": str(OPENING_BALANCE),
    "GRACE_PERIOD_S": "3",
    "RETENTION_PERIOD_S": "3",
    "DELETE_MAX_ATTEMPTS": "3",
    "DELETE_BACKOFF_S": "0.3",
    "TENANTS_FILE": str(TENANTS),
}


@dataclass
class FaultStack:
    stack: Stack
    proxy: TcpProxy
    pg: PrivateServer | None
    tansu: subprocess.Popen[bytes]
    kafka_port: int
    prefix: str
    kills: dict[str, int] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return self.proxy.address

    def process(self, service: str) -> ServiceProcess:
        return next(p for p in self.stack.plan if p.service == service)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.process(service).port}"

    def dsn(self, service: str) -> str:
        server = self.stack.database_server
        assert server
        return f"{server.rpartition('/')[0]}/{self.process(service).database}"

    def kill(self, label: str) -> None:
        child = self.stack.processes.get(label)
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            self.kills[label] = self.kills.get(label, 0) + 1

    def restart(self, process: ServiceProcess, label: str | None = None) -> None:
        label = label or process.label
        child = self.stack.processes.get(label)
        if child is None or child.poll() is not None:
            self.stack.start_service(process, label)

    def exited(self) -> dict[str, int]:
        return {label: c.returncode for label, c in self.stack.processes.items() if c.poll() is not None}

    def heal(self, timeout_s: float = 90.0) -> None:
        """Every planned process running and ready, the proxy passing traffic."""
        self.proxy.heal()
        self.proxy.resume()
        for process in self.stack.plan:
            self.restart(process)
        self.stack.wait_ready(timeout_s)

    def health(self) -> dict[str, int]:
        codes = {}
        for p in self.stack.plan:
            try:
                codes[p.label] = httpx.get(f"http://127.0.0.1:{p.port}/health", timeout=3).status_code
            except httpx.HTTPError:
                codes[p.label] = 0
        return codes


def _start_tansu(port: int, advertised: str, log_dir: Path) -> subprocess.Popen[bytes]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = os.open(log_dir / "tansu.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    return start_tansu(port, advertised=advertised, log=log)


@pytest.fixture(scope="package")
def faults() -> Iterator[FaultStack]:
    offset = int(os.environ.get("FAULTS_PORT_OFFSET", "20000"))
    kafka_port = int(os.environ.get("FAULTS_KAFKA_PORT", "29092"))
    proxy_port = kafka_port + 1
    for port in (kafka_port, proxy_port):
        if not port_free("127.0.0.1", port):
            pytest.fail(f"port {port} for the fault tests' broker is taken; set FAULTS_KAFKA_PORT")
    log_dir = REPO / ".run" / "faults-logs"
    pg = PrivateServer().start() if server_binaries() else None
    proxy = TcpProxy(proxy_port, "127.0.0.1", kafka_port).start()
    tansu = _start_tansu(kafka_port, proxy.address, log_dir)
    prefix = f"ims_faults_{uuid.uuid4().hex[:6]}"
    stack = Stack(
        regions=[CN],
        port_offset=offset,
        db_prefix=prefix,
        extra_env=FAULTS_ENV,
        log_dir=log_dir,
        kafka_bootstrap=proxy.address,
        database_server=pg.url if pg else None,
    )
    system = FaultStack(stack, proxy, pg, tansu, kafka_port, prefix)
    started = time.monotonic()
    try:
        stack.start(wait_ready_s=180)
        print(f"\n[faults] stack ready in {time.monotonic() - started:.1f} s (private PostgreSQL: {pg is not None})")
        yield system
    finally:
        stack.stop()
        tansu.terminate()
        try:
            tansu.wait(5)
        except subprocess.TimeoutExpired:
            tansu.kill()
        proxy.stop()
        if pg is not None:
            pg.stop()
        elif stack.database_server:
            asyncio.run(drop_databases(stack.database_server, prefix))


@pytest.fixture
def healthy(faults: FaultStack) -> Iterator[FaultStack]:
    """The fault stack with every process up and ready, before and after the test."""
    faults.heal()
    yield faults
    faults.heal()
