"""Run image-service: ``python -m image_service``."""

from image_service.app import create_app
from image_service.settings import ImageSettings
from ims_shared.server import serve


def main() -> None:
    settings = ImageSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
