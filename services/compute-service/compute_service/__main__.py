"""Run compute-service: ``python -m compute_service``."""

from compute_service.app import create_app
from compute_service.settings import ComputeSettings
from ims_shared.server import serve


def main() -> None:
    settings = ComputeSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
