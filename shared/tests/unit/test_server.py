"""How a service's HTTP server and event loop are started."""

from typing import Any

import pytest
from fastapi import FastAPI

from ims_devstack import free_port
from ims_shared import server
from ims_shared.settings import ServiceSettings


def test_a_service_runs_on_asyncios_own_loop_even_where_uvloop_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # uvicorn's default ("auto") takes uvloop when it is installed; on uvloop aiokafka's fetcher stopped for good
    # after the broker dropped a connection (bench/README.md, "uvloop, tried and taken back").
    started: dict[str, Any] = {}
    monkeypatch.setattr(server.uvicorn, "run", lambda app, **options: started.update(options))
    monkeypatch.setenv("HTTP_PORT", str(free_port()))
    server.serve(FastAPI(), ServiceSettings())
    assert started["loop"] == "asyncio"
