from pydantic import Field

from ims_shared.regions import DEFAULT_ROUTES
from ims_shared.replication_rules import DEFAULT_MAX_IMAGE_GB, DEFAULT_MAX_IN_FLIGHT
from ims_shared.settings import ServiceSettings


class ImageSettings(ServiceSettings):
    service_name: str = "image-service"
    http_port: int = 8101
    backup_wait_s: float = Field(
        default=30.0,
        description="How long a creation job waits for the BackupCreated of a backup it does not know yet before "
        "it fails with IMG.0020.",
    )
    image_build_s: float = Field(
        default=1.0,
        description="How long an image stays `saving` before it becomes `active` (the simulated copy of the "
        "backup's data); 0 makes it active at once.",
    )
    builder_interval_s: float = Field(
        default=0.2, description="How often the image builder looks for images whose data is saved."
    )
    server_backup_wait_s: float = Field(
        default=300.0, description="How long a job that creates from an ECS waits for the CBR backup of the ECS."
    )
    image_quota: int = Field(
        default=100,
        ge=1,
        description="How many images a project may have in the region, as IMS ShowImageQuota reports it (type "
        "`image`); its own images that are not deleted count, images shared with it do not.",
    )
    replication_routes: str = Field(
        default=DEFAULT_ROUTES,
        description="Allowed `source:destination` pairs of cross-region replication, comma-separated; both ends "
        "must also be deployed regions. Give image-service and replication-service the same value.",
    )
    replication_max_image_gb: int = Field(
        default=DEFAULT_MAX_IMAGE_GB, description="Largest image that may be replicated to another region."
    )
    replication_max_in_flight: int = Field(
        default=DEFAULT_MAX_IN_FLIGHT, description="Replications of one project that may be under way at a time."
    )
