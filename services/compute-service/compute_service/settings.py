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
    console_origins: str = Field(
        default="",
        description='Origins whose pages may call this API from a browser (CORS), comma-separated, or "*". Empty: '
        "the console of this region's image-service, three ports before this one (as `make run` and docker "
        "compose place it).",
    )

    @property
    def cors_origins(self) -> list[str]:
        listed = [o.strip().rstrip("/") for o in self.console_origins.split(",") if o.strip()]
        if listed:
            return listed
        return [f"http://{host}:{self.http_port - 3}" for host in ("127.0.0.1", "localhost")]
