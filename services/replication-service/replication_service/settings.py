from ims_shared.regions import DEFAULT_ROUTES
from ims_shared.replication_rules import DEFAULT_MAX_IMAGE_GB, DEFAULT_MAX_IN_FLIGHT, ReplicationPolicy
from ims_shared.settings import ServiceSettings


class ReplicationSettings(ServiceSettings):
    service_name: str = "replication-service"
    http_port: int = 8103
    # Allowed "source:destination" pairs, comma-separated. Both ends must also be deployed regions.
    replication_routes: str = DEFAULT_ROUTES
    replication_max_image_gb: int = DEFAULT_MAX_IMAGE_GB
    replication_max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    # A replication the destination has not confirmed within this time fails, and the destination removes its copy.
    replication_timeout_s: float = 900.0
    replication_sweep_interval_s: float = 1.0

    def policy(self) -> ReplicationPolicy:
        return ReplicationPolicy.of(
            self.replication_routes, self.regions, self.replication_max_image_gb, self.replication_max_in_flight
        )
