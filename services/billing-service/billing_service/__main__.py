"""Run billing-service: ``python -m billing_service``."""

from billing_service.app import create_app
from billing_service.settings import BillingSettings
from ims_shared.server import serve


def main() -> None:
    settings = BillingSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
