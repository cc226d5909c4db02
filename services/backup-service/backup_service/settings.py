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
