"""The IMS, CBR, billing and ECS APIs under attack: the four services' real apps, served by uvicorn on free ports in
a background thread of the test process, over fresh PostgreSQL databases and the session's Tansu broker, with
the development tenants (alpha and beta). Each tenant owns a protected image and backup that the other must
never read or change, and a spare one its own fuzzing may delete."""

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import asyncpg
import httpx
import pytest
import uvicorn

from ims_devstack import free_port
from ims_shared.tenants import Tenant, load_tenants
from tests.support import TEST_SERVER, drop_named

CN = "cn-north-4"
TENANTS = {t.name: t for t in load_tenants(None).tenants}
ALPHA, BETA = TENANTS["alpha"], TENANTS["beta"]


@dataclass
class Owned:
    """A tenant's resources: ``protected`` ones nobody may touch, ``spare`` ones its own fuzzing may change."""

    image: str
    backup: str
    job: str
    spare_image: str
    spare_backup: str


@dataclass
class Apis:
    urls: dict[str, str]
    databases: dict[str, str]
    bootstrap: str
    owned: dict[str, Owned] = field(default_factory=dict)

    def dsn(self, service: str) -> str:
        return f"{TEST_SERVER}/{self.databases[service]}"


class _Servers:
    def __init__(self, servers: list[uvicorn.Server]) -> None:
        self.servers = servers
        self.thread = threading.Thread(target=self._run, name="abuse-apis", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self.error = exc

    async def _serve(self) -> None:
        await asyncio.gather(*(s.serve() for s in self.servers))

    def start(self, timeout_s: float = 120) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not all(s.started for s in self.servers):
            if self.error is not None or not self.thread.is_alive():
                raise RuntimeError(f"the APIs did not start: {self.error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("the APIs did not start in time")
            time.sleep(0.1)

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True
        self.thread.join(30)


def _apps(prefix: str, bootstrap: str) -> tuple[dict[str, object], dict[str, str], dict[str, int]]:
    from backup_service.app import create_app as backup_app
    from backup_service.settings import BackupSettings
    from billing_service.app import create_app as billing_app
    from billing_service.settings import BillingSettings
    from compute_service.app import create_app as compute_app
    from compute_service.settings import ComputeSettings
    from image_service.app import create_app as image_app
    from image_service.settings import ImageSettings

    ports = {name: free_port() for name in ("image-service", "backup-service", "billing-service", "compute-service")}
    databases = {name: f"{prefix}_{name.split('-')[0]}" for name in ports}
    common = {
        "region": CN,
        "deployed_regions": CN,
        "kafka_bootstrap_servers": bootstrap,
        "kafka_session_timeout_ms": 3000,
        "kafka_heartbeat_interval_ms": 500,
        "relay_poll_interval_s": 0.2,
        "log_level": "WARNING",
        "log_format": "json",
    }

    def dsn(name: str) -> str:
        return f"{TEST_SERVER}/{databases[name]}"

    apps = {
        "image-service": image_app(
            ImageSettings(
                **common,
                http_port=ports["image-service"],
                database_url=dsn("image-service"),
                image_build_s=0.5,
                backup_wait_s=30,
            )
        ),
        "backup-service": backup_app(
            BackupSettings(**common, http_port=ports["backup-service"], database_url=dsn("backup-service"))
        ),
        "billing-service": billing_app(
            BillingSettings(**common, http_port=ports["billing-service"], database_url=dsn("billing-service"))
        ),
        "compute-service": compute_app(
            ComputeSettings(**common, http_port=ports["compute-service"], database_url=dsn("compute-service"))
        ),
    }
    return apps, databases, ports


def make_images(apis: Apis, wanted: list[tuple[Tenant, str]]) -> list[tuple[str, str, str]]:
    """One image per (tenant, name) of ``wanted``, each from a backup of its own, made through the events: (image,
    backup, job) of each, in order, once every image is active in image-service and known as its backup's image in
    backup-service."""
    from tests.e2e.harness import backup_created
    from tests.faults.tools import image_requested, outgoing, produce

    items, made = [], []
    for tenant, name in wanted:
        backup = backup_created()
        request = image_requested(backup.backup_id, name=name)
        items += [outgoing(backup, tenant), outgoing(request, tenant)]
        made.append((str(request.image_id), backup.backup_id, str(request.job_id)))
    asyncio.run(produce(apis.bootstrap, items))
    images = [image for image, _, _ in made]

    async def active() -> int:
        """Images active in image-service and known as the backups' images in backup-service."""
        ims = await asyncpg.connect(apis.dsn("image-service"))
        known = await asyncpg.connect(apis.dsn("backup-service"))
        try:
            active = await ims.fetchval(
                "SELECT count(*) FROM images WHERE status = 'active' AND image_id = ANY($1::text[])", images
            )
            recorded = await known.fetchval("SELECT count(*) FROM backups WHERE image_id = ANY($1::text[])", images)
            return min(int(active), int(recorded))
        finally:
            await ims.close()
            await known.close()

    deadline = time.monotonic() + 60
    while asyncio.run(active()) < len(images):
        assert time.monotonic() < deadline, "the images were not made"
        time.sleep(0.3)
    return made


def _seed(apis: Apis) -> None:
    """Each tenant: two backups with an image each (one protected, one spare), made through the events."""
    made = make_images(apis, [(tenant, "abuse-seed") for tenant in (ALPHA, BETA) for _ in range(2)])
    for tenant, (protected, spare) in zip((ALPHA, BETA), (made[0:2], made[2:4]), strict=True):
        (image, backup_id, job), (spare_image, spare_backup, _) = protected, spare
        apis.owned[tenant.name] = Owned(image, backup_id, job, spare_image, spare_backup)


@pytest.fixture(scope="package")
def apis(kafka_bootstrap: str) -> Iterator[Apis]:
    prefix = f"ims_abuse_{uuid.uuid4().hex[:6]}"
    apps, databases, ports = _apps(prefix, kafka_bootstrap)
    servers = _Servers(
        [
            uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=ports[name], log_config=None, access_log=False))  # type: ignore[arg-type]
            for name, app in apps.items()
        ]
    )
    try:
        servers.start()
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        system = Apis(urls, databases, kafka_bootstrap)
        deadline = time.monotonic() + 60
        while True:
            codes = {n: httpx.get(f"{u}/ready", timeout=3).status_code for n, u in urls.items()}
            if set(codes.values()) == {200}:
                break
            assert time.monotonic() < deadline, f"the APIs are not ready: {codes}"
            time.sleep(0.3)
        _seed(system)
        yield system
    finally:
        servers.stop()
        asyncio.run(drop_named(TEST_SERVER, databases.values()))


def tenant_of(name: str) -> Tenant:
    return TENANTS[name]
