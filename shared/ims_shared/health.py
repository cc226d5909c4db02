"""``/health`` (liveness), ``/ready`` (dependencies) and ``/metrics`` (Prometheus)."""

import asyncio
import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ims_shared.kafka import reachable

if TYPE_CHECKING:
    from ims_shared.service import ServiceRuntime

router = APIRouter(include_in_schema=False)
STALL_AFTER_S = 60.0


def _runtime(request: Request) -> "ServiceRuntime":
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    runtime = _runtime(request)
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


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    reasons = []
    if not runtime.migrations_applied:
        reasons.append("migrations not applied yet")
    if runtime.pool is None:
        reasons.append("database pool not started")
    else:
        try:
            async with asyncio.timeout(2):
                await runtime.pool.fetchval("SELECT 1")
        except Exception as exc:
            reasons.append(f"PostgreSQL unreachable: {type(exc).__name__}: {exc}")
    if not await reachable(runtime.settings.kafka_bootstrap_servers):
        reasons.append(f"Kafka unreachable at {runtime.settings.kafka_bootstrap_servers}")
    if not runtime.assigned():
        reasons.append("Kafka consumer has no partitions assigned yet")
    status = 503 if reasons else 200
    return JSONResponse({"status": "not ready" if reasons else "ready", "reasons": reasons}, status_code=status)


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
