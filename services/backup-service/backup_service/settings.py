from ims_shared.settings import ServiceSettings


class BackupSettings(ServiceSettings):
    service_name: str = "backup-service"
    http_port: int = 8102
    checkpoint_s: float = 1.0
    checkpoint_interval_s: float = 0.2
