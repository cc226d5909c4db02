from ims_shared.settings import ServiceSettings


class ImageSettings(ServiceSettings):
    service_name: str = "image-service"
    http_port: int = 8101
