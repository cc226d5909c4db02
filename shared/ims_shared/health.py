"""``/health`` (liveness), ``/ready`` (dependencies) and ``/metrics`` (Prometheus)."""

import asyncio
import time
from typing import Protocol

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ims_shared.db import Database
from ims_shared.kafka import reachable
from ims_shared.logging import get_logger
from ims_shared.settings import ServiceSettings

STALL_AFTER_S = 60.0
log = get_logger(__name__)


class Observed(Protocol):
    """What health and readiness look at: the service runtime (``ims_shared.service.ServiceRuntime``)."""

    settings: ServiceSettings
    database: Database
    tasks: list[asyncio.Task[None]]

    def heartbeats(self) -> dict[str, tuple[float, float]]: ...

    def subscriber_stopped(self) -> bool: ...

    def assigned(self) -> bool: ...


def router(runtime: Observed) -> APIRouter:
    """``/health``, ``/ready`` and ``/metrics`` of the process that runs ``runtime``."""
    routes = APIRouter(include_in_schema=False)

    @routes.get("/health")
    async def liveness() -> JSONResponse:
        return await health(runtime)

    @routes.get("/ready")
    async def readiness() -> JSONResponse:
        return await ready(runtime)

    routes.add_api_route("/metrics", metrics, methods=["GET"])
    return routes


async def health(runtime: Observed) -> JSONResponse:
    problems = []
    for task in runtime.tasks:
        if task.done():
            problems.append(f"background task {task.get_name()} stopped")
    now = time.monotonic()
    for name, (last, interval) in runtime.heartbeats().items():
        if now - last > max(STALL_AFTER_S, 3 * interval):
            problems.append(f"{name} made no progress for {now - last:.0f} s")
    if runtime.subscriber_stopped():
        problems.append("Kafka consumer is not running")
    status = 503 if problems else 200
    return JSONResponse({"status": "fail" if problems else "ok", "problems": problems}, status_code=status)


async def ready(runtime: Observed) -> JSONResponse:
    reasons = []
    if not runtime.database.migrations_applied:
        reasons.append("migrations not applied yet")
    if not runtime.database.is_open:
        reasons.append("database pool not started")
    else:
        try:
            async with asyncio.timeout(2):
                await runtime.database.pool.fetchval("SELECT 1")
        except Exception as exc:
            # The reason names the dependency; what the driver said (addresses, user names) goes to the log only.
            log.warning("readiness: PostgreSQL unreachable", error=f"{type(exc).__name__}: {exc}")
            reasons.append("PostgreSQL unreachable")
    if not await reachable(runtime.settings.kafka_bootstrap_servers):
        reasons.append("Kafka unreachable")
    if not runtime.assigned():
        reasons.append("Kafka consumer has no partitions assigned yet")
    status = 503 if reasons else 200
    return JSONResponse({"status": "not ready" if reasons else "ready", "reasons": reasons}, status_code=status)


async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
