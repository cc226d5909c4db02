from pydantic import Field

from ims_shared.settings import ServiceSettings


class ComputeSettings(ServiceSettings):
    service_name: str = "compute-service"
    http_port: int = 8104
    server_build_s: float = Field(
        default=1.0,
        ge=0,
        description="How long a new ECS stays BUILD (its disks being created or restored from the image's backup), "
        "and an ECS whose OS is being changed stays REBUILD, before its job ends.",
    )
    server_builder_interval_s: float = Field(
        default=0.2, gt=0, description="How often the builder ends the BUILD and REBUILD jobs that are due."
    )
