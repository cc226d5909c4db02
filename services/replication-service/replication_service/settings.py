from ims_shared.settings import ServiceSettings


class ReplicationSettings(ServiceSettings):
    service_name: str = "replication-service"
    http_port: int = 8103
