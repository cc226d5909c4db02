"""The OpenAPI document of each service, exported to docs/openapi/<service>.json.

``python -m ims_docgen.openapidoc [DIRECTORY]`` writes them (default ``docs/openapi``); ``--check`` only says
which are stale (exit 1). A unit test fails when a committed document is stale.

Each document is exactly what the running service serves at ``/openapi.json`` (and shows at ``/docs``): FastAPI's
``app.openapi()`` of the service's ``create_app()``. Creating an app connects to nothing (PostgreSQL and Kafka are
reached in its lifespan only), so no infrastructure is needed.
"""

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

SERVICES: dict[str, str] = {
    "image-service": "image_service.app",
    "backup-service": "backup_service.app",
    "billing-service": "billing_service.app",
    "replication-service": "replication_service.app",
    "compute-service": "compute_service.app",
}


def document(service: str) -> dict[str, Any]:
    # An app is built, never started: the development credentials are enough to build it, whatever the environment.
    os.environ.setdefault("DEVELOPMENT_MODE", "1")
    app = importlib.import_module(SERVICES[service]).create_app()
    openapi: dict[str, Any] = app.openapi()
    return openapi


def render(service: str) -> str:
    return json.dumps(document(service), indent=2, ensure_ascii=False) + "\n"


def stale(directory: Path) -> list[str]:
    """The services whose document in ``directory`` is missing or differs from the service's."""
    return [
        s
        for s in SERVICES
        if not (directory / f"{s}.json").exists() or (directory / f"{s}.json").read_text() != render(s)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export every service's OpenAPI document.")
    parser.add_argument("directory", nargs="?", default="docs/openapi", type=Path)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a document is stale")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale(args.directory)
        for service in outdated:
            print(f"{args.directory / (service + '.json')} is stale", file=sys.stderr)
        return 1 if outdated else 0
    args.directory.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        path = args.directory / f"{service}.json"
        path.write_text(render(service))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
