from ims_shared.settings import ServiceSettings


class ImageSettings(ServiceSettings):
    service_name: str = "image-service"
    http_port: int = 8101
    backup_wait_s: float = 30.0
    image_build_s: float = 1.0
    builder_interval_s: float = 0.2
    server_backup_wait_s: float = 300.0
