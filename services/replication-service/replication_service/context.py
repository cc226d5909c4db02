"""replication-service as its handlers and loops see it: one typed context, built once by ``app.bootstrap``."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ims_shared.db import Database
from ims_shared.emitter import Emitter
from ims_shared.replication_rules import ReplicationPolicy
from ims_shared.tenants import TenantCatalog
from replication_service.settings import ReplicationSettings


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReplicationService:
    settings: ReplicationSettings
    tenants: TenantCatalog
    emitter: Emitter
    database: Database
    policy: ReplicationPolicy
    clock: Callable[[], datetime] = utcnow

    @property
    def region(self) -> str:
        return self.settings.region
