from pydantic import Field

from ims_shared.settings import ServiceSettings


class BackupSettings(ServiceSettings):
    service_name: str = "backup-service"
    http_port: int = 8102
    checkpoint_s: float = Field(
        default=1.0,
        description="How long a CBR checkpoint (backup of an ECS) stays `protecting` before it is `available`.",
    )
    checkpoint_interval_s: float = Field(default=0.2, description="How often finished checkpoints are looked for.")
    delete_max_attempts: int = Field(
        default=5,
        description="Attempts to delete a backup in a locked vault before it is `error_deleting` (with a "
        "BackupDeletionFailed event).",
    )
    delete_backoff_s: float = Field(
        default=1.0,
        description="Delay before the second attempt to delete a backup; it doubles with every attempt.",
    )
    delete_backoff_cap_s: float = Field(
        default=60.0, description="Longest delay between two attempts to delete a backup."
    )
    deleter_interval_s: float = Field(
        default=0.5, description="How often deletions whose delay has passed are retried."
    )
    held_event_ttl_s: float = Field(
        default=7 * 24 * 3600.0,
        description="How long an image or arrears event about a backup not recorded yet is held for it (see held.py).",
    )
    console_origins: str = Field(
        default="",
        description='Origins whose pages may call this API from a browser (CORS), comma-separated, or "*". Empty: '
        "the console of this region's image-service, on the port before this one (as `make run` and docker "
        "compose place it).",
    )

    @property
    def cors_origins(self) -> list[str]:
        listed = [o.strip().rstrip("/") for o in self.console_origins.split(",") if o.strip()]
        if listed:
            return listed
        return [f"http://{host}:{self.http_port - 1}" for host in ("127.0.0.1", "localhost")]
