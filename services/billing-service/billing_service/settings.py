from ims_shared.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    service_name: str = "billing-service"
    http_port: int = 8300
