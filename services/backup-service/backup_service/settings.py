from ims_shared.settings import ServiceSettings


class BackupSettings(ServiceSettings):
    service_name: str = "backup-service"
    http_port: int = 8102
    checkpoint_s: float = 1.0
    checkpoint_interval_s: float = 0.2
    delete_max_attempts: int = 5
    delete_backoff_s: float = 1.0
    delete_backoff_cap_s: float = 60.0
    deleter_interval_s: float = 0.5
    # How long an image or arrears event about a backup not recorded yet is held for it (see held.py).
    held_event_ttl_s: float = 7 * 24 * 3600.0
    # Origins whose pages may call this API from a browser (CORS), comma-separated, or "*". Empty: the console of
    # this region's image-service, on the port before this one (as `make run` and docker compose place it).
    console_origins: str = ""

    @property
    def cors_origins(self) -> list[str]:
        listed = [o.strip().rstrip("/") for o in self.console_origins.split(",") if o.strip()]
        if listed:
            return listed
        return [f"http://{host}:{self.http_port - 1}" for host in ("127.0.0.1", "localhost")]
