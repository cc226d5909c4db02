"""``/ready`` of a service whose database is unreachable: 503, naming the dependency and nothing the driver said
(addresses, ports, user names), which anyone who can reach the port could read. The driver's text goes to the log."""

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from ims_devstack import free_port
from ims_shared import health
from ims_shared.db import Database
from ims_shared.settings import ServiceSettings


@dataclass
class Runtime:
    """What readiness looks at, as ``ServiceRuntime`` has it: a pool opened on a PostgreSQL address nothing listens
    on, and a broker that is reachable or not."""

    settings: ServiceSettings
    database: Database
    tasks: list[Any] = field(default_factory=list)

    def heartbeats(self) -> dict[str, tuple[float, float]]:
        return {}

    def subscriber_stopped(self) -> bool:
        return False

    def assigned(self) -> bool:
        return True


async def test_an_unreachable_database_is_named_without_the_drivers_text() -> None:
    database_port, kafka_port = free_port(), free_port()
    url = f"postgresql://secret_operator@127.0.0.1:{database_port}/ims_images"
    database = Database(url)
    # min_size=0: the pool opens without a connection, as a started service's pool is left when its server goes.
    pool = await asyncpg.create_pool(url, min_size=0, max_size=1, timeout=2)
    assert pool is not None
    database.attach(pool)
    runtime = Runtime(ServiceSettings(database_url=url, kafka_bootstrap_servers=f"127.0.0.1:{kafka_port}"), database)
    app = FastAPI()
    app.include_router(health.router(runtime))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            answer = await client.get("/ready")
    finally:
        await pool.close()
    assert answer.status_code == 503
    assert answer.json() == {"status": "not ready", "reasons": ["PostgreSQL unreachable", "Kafka unreachable"]}
    for told in (str(database_port), str(kafka_port), "127.0.0.1", "secret_operator", "ims_images", "Errno", "refused"):
        assert told not in answer.text, f"/ready tells {told!r}"
