"""Run backup-service: ``python -m backup_service``."""

from backup_service.app import create_app
from backup_service.settings import BackupSettings
from ims_shared.server import serve


def main() -> None:
    settings = BackupSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
