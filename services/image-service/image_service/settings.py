from ims_shared.regions import DEFAULT_ROUTES
from ims_shared.replication_rules import DEFAULT_MAX_IMAGE_GB, DEFAULT_MAX_IN_FLIGHT
from ims_shared.settings import ServiceSettings


class ImageSettings(ServiceSettings):
    service_name: str = "image-service"
    http_port: int = 8101
    backup_wait_s: float = 30.0
    image_build_s: float = 1.0
    builder_interval_s: float = 0.2
    server_backup_wait_s: float = 300.0
    replication_routes: str = DEFAULT_ROUTES
    replication_max_image_gb: int = DEFAULT_MAX_IMAGE_GB
    replication_max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
