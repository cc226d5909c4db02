"""Running a service's ASGI app with uvicorn, failing clearly when its port is taken."""

import socket
import sys

import uvicorn
from fastapi import FastAPI

from ims_shared.settings import ServiceSettings


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    if not port_free(settings.http_host, settings.http_port):
        sys.exit(
            f"{settings.service_name} ({settings.region}): port {settings.http_host}:{settings.http_port} "
            "is already in use; stop what holds it or set HTTP_PORT"
        )
    # asyncio's own loop, never uvloop (which uvicorn's default would take when it is installed): on uvloop a write
    # to a connection the broker dropped raises RuntimeError inside aiokafka's fetcher, which then stops for good;
    # a service cut off from Kafka and healed never consumed again (bench/README.md).
    uvicorn.run(
        app, host=settings.http_host, port=settings.http_port, loop="asyncio", log_config=None, access_log=False
    )
