from ims_shared.settings import ServiceSettings


class BackupSettings(ServiceSettings):
    service_name: str = "backup-service"
    http_port: int = 8102
