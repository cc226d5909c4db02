"""Run replication-service: ``python -m replication_service``."""

from ims_shared.server import serve
from replication_service.app import create_app
from replication_service.settings import ReplicationSettings


def main() -> None:
    settings = ReplicationSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
