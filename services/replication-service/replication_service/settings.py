from pydantic import Field

from ims_shared.regions import DEFAULT_ROUTES
from ims_shared.replication_rules import DEFAULT_MAX_IMAGE_GB, DEFAULT_MAX_IN_FLIGHT, ReplicationPolicy
from ims_shared.settings import ServiceSettings


class ReplicationSettings(ServiceSettings):
    service_name: str = "replication-service"
    http_port: int = 8103
    replication_routes: str = Field(
        default=DEFAULT_ROUTES,
        description='Allowed "source:destination" pairs, comma-separated. Both ends must also be deployed regions.',
    )
    replication_max_image_gb: int = Field(
        default=DEFAULT_MAX_IMAGE_GB, description="Largest image that may be replicated to another region."
    )
    replication_max_in_flight: int = Field(
        default=DEFAULT_MAX_IN_FLIGHT, description="Replications of one project that may be under way at a time."
    )
    replication_timeout_s: float = Field(
        default=900.0,
        description="A replication the destination has not confirmed within this time fails, and the destination "
        "removes its copy.",
    )
    replication_sweep_interval_s: float = Field(
        default=1.0, description="How often replications past their deadline are failed."
    )

    def policy(self) -> ReplicationPolicy:
        return ReplicationPolicy.of(
            self.replication_routes, self.regions, self.replication_max_image_gb, self.replication_max_in_flight
        )
