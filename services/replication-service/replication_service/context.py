"""What replication-service's handlers and loops work with."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ims_shared.emitter import Emitter
from ims_shared.events.replication import ReplicationPolicy
from ims_shared.tenants import TenantCatalog
from replication_service.settings import ReplicationSettings


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Replicator:
    settings: ReplicationSettings
    tenants: TenantCatalog
    emitter: Emitter
    policy: ReplicationPolicy = field(init=False)
    clock: Callable[[], datetime] = utcnow

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", self.settings.policy())

    @property
    def region(self) -> str:
        return self.settings.region
