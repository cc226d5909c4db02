"""The system under test, shared by the end-to-end and browser tests: the real service processes over the real
Kafka protocol and PostgreSQL.

With a Docker engine the docker-compose stack is used (testcontainers); without one, local processes
(Tansu as the broker, the local PostgreSQL server). The run prints which of the two it used.
"""

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ims_devstack import Stack
from tests.e2e.harness import System
from tests.support import drop_databases

REPO = Path(__file__).resolve().parents[1]
E2E_ENV = {
    "KAFKA_SESSION_TIMEOUT_MS": "3000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    "RELAY_POLL_INTERVAL_S": "0.2",
    "OUTBOX_RETENTION_S": "3",
    "OUTBOX_PRUNE_INTERVAL_S": "1",
    "IMAGE_BUILD_S": "2",
    "BACKUP_WAIT_S": "4",
    "LOG_FORMAT": "json",
    "RATING_PERIOD_S": "1",
    "RATING_INTERVAL_S": "0.5",
    "ARREARS_INTERVAL_S": "0.5",
    "PRICE_PER_GB_HOUR": "3.6",
    "INITIAL_BALANCE": "1000000",
    "GRACE_PERIOD_S": "3",
    "RETENTION_PERIOD_S": "3",
    "DELETE_MAX_ATTEMPTS": "3",
    "DELETE_BACKOFF_S": "0.3",
    "TENANTS_FILE": str(Path(__file__).parent / "e2e" / "tenants.json"),
    # Development mode, in containers too: the console lists the tenants for its login form (tests/browser).
    "DEVELOPMENT_MODE": "1",
}


def _docker_available() -> bool:
    try:
        from tests.compose_stack import docker_available
    except ImportError:
        return False
    return docker_available()


@pytest.fixture(scope="session")
def system(request: pytest.FixtureRequest) -> Iterator[System]:
    if _docker_available() and os.environ.get("E2E_TARGET", "auto") != "local":
        from tests.compose_stack import ComposeStack

        print("\n[e2e] Docker engine found: running against the docker-compose stack (testcontainers)")
        with ComposeStack(extra_env=E2E_ENV) as compose:
            yield compose
        return
    print("\n[e2e] no Docker engine: running against local processes (Tansu + local PostgreSQL)")
    prefix = f"ims_e2e_{uuid.uuid4().hex[:6]}"
    stack = Stack(
        port_offset=int(os.environ.get("E2E_PORT_OFFSET", "10000")),
        kafka_port=int(os.environ.get("E2E_KAFKA_PORT", "19092")),
        db_prefix=prefix,
        extra_env=E2E_ENV,
        log_dir=REPO / ".run" / "e2e-logs",
    )
    try:
        stack.start(wait_ready_s=120)
        yield stack
    finally:
        stack.stop()
        if stack.database_server:
            asyncio.run(drop_databases(stack.database_server, prefix))


@pytest.fixture(scope="session")
def second_image_service(system: System) -> Iterator[str]:
    """A second image-service process for cn-north-4 in the same consumer group and database."""
    if not isinstance(system, Stack):
        pytest.skip("a second process is started only against local processes")
    from ims_devstack import ServiceProcess, free_port

    first = next(p for p in system.plan if p.service == "image-service" and p.region == "cn-north-4")
    extra = ServiceProcess("image-service", "cn-north-4", free_port(), first.database)
    child = system.start_service(extra, label=extra.label + "#2")
    try:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{extra.port}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        yield f"http://127.0.0.1:{extra.port}"
    finally:
        system.processes.pop(extra.label + "#2", None)
        child.terminate()
        child.wait(15)
