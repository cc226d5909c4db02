"""The generated documents (docs/configuration.md, docs/openapi/*.json) are current, and every service serves its
OpenAPI document at /docs without credentials and without connecting anywhere."""

import importlib
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import Field

from ims_docgen import configdoc, openapidoc, producers
from ims_shared.settings import ServiceSettings

DOCS = Path(__file__).resolve().parents[4] / "docs"


def test_committed_configuration_document_is_current() -> None:
    committed = (DOCS / "configuration.md").read_text()
    assert committed == configdoc.render(), (
        "docs/configuration.md is stale: run `python -m ims_docgen.configdoc > docs/configuration.md`"
    )


def test_every_setting_of_every_service_is_in_the_configuration_document() -> None:
    text = configdoc.render()
    for service, package in configdoc.SERVICES:
        classes = configdoc.settings_classes(package)
        assert classes, f"no settings class found in {package}"
        assert any(issubclass(c, ServiceSettings) for c in classes), service
        for cls in classes:
            for name in cls.model_fields:
                assert f"`{name.upper()}`" in text, f"{cls.__name__}.{name} is not documented"
    assert "| `IMAGE_BUILD_S` | `image_build_s` | `float` | `1.0` |" in text
    assert "| `HTTP_PORT` | `http_port` | `int` | `8300` |" in text


def test_field_descriptions_become_descriptions_and_a_changed_default_keeps_the_common_one() -> None:
    class Example(ServiceSettings):
        http_port: int = 8999
        widgets: int = Field(default=3, description="How many widgets at most.")
        # A comment is not a description.
        gadgets: str = "x"  # nor is this

    described = {s.name: s for s in configdoc.settings_of(Example, only_own=True)}
    assert set(described) == {"http_port", "widgets", "gadgets"}
    assert described["widgets"].description == "How many widgets at most." and described["widgets"].env == "`WIDGETS`"
    assert described["gadgets"].description == ""
    assert described["http_port"].description == ServiceSettings.model_fields["http_port"].description
    assert described["http_port"].default == "`8999`"


def test_every_setting_of_every_service_has_a_description_of_its_own_field() -> None:
    classes = [ServiceSettings] + [c for _, package in configdoc.SERVICES for c in configdoc.settings_classes(package)]
    for cls in classes:
        for setting in configdoc.settings_of(cls, only_own=cls is not ServiceSettings):
            assert setting.description, f"{cls.__name__}.{setting.name} has no Field(description=...)"
    assert not hasattr(configdoc, "DESCRIPTIONS"), "descriptions live on the settings classes, not in the generator"


@pytest.mark.parametrize("service", list(openapidoc.SERVICES))
def test_committed_openapi_document_is_current(service: str) -> None:
    path = DOCS / "openapi" / f"{service}.json"
    assert path.exists(), f"{path} is missing: run `python -m ims_docgen.openapidoc`"
    assert path.read_text() == openapidoc.render(service), f"{path} is stale: run `python -m ims_docgen.openapidoc`"


def test_creating_the_apps_connects_nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for service in openapidoc.SERVICES:
        assert openapidoc.document(service)["openapi"].startswith("3.")
    assert attempts == []


@pytest.mark.parametrize("service", list(openapidoc.SERVICES))
async def test_each_service_serves_its_openapi_at_docs_without_credentials(service: str) -> None:
    app = importlib.import_module(openapidoc.SERVICES[service]).create_app()
    # No lifespan runs: nothing is started, and no signature is sent.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        page = await client.get("/docs")
        assert page.status_code == 200 and "swagger-ui" in page.text
        assert (await client.get("/redoc")).status_code == 200
        served = await client.get("/openapi.json")
    assert served.status_code == 200 and served.json() == openapidoc.document(service)


def test_the_image_services_document_has_the_ims_operations() -> None:
    paths = openapidoc.document("image-service")["paths"]
    assert "post" in paths["/v1/cloudimages/wholeimages/action"]
    assert "get" in paths["/v1/{project_id}/jobs/{job_id}"] and "delete" in paths["/v2/images/{image_id}"]
    assert "/v3/{project_id}/backups" in openapidoc.document("backup-service")["paths"]
    assert "/v1/{project_id}/billing/account" in openapidoc.document("billing-service")["paths"]


def test_the_export_writes_and_checks_documents(tmp_path: Path) -> None:
    assert openapidoc.main([str(tmp_path), "--check"]) == 1
    assert openapidoc.main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{s}.json" for s in openapidoc.SERVICES)
    assert openapidoc.main([str(tmp_path), "--check"]) == 0


def test_the_producers_table_of_the_trust_boundary_is_current() -> None:
    committed = (DOCS / "reliability.md").read_text()
    assert committed == producers.render(committed), (
        "the producers table of docs/reliability.md is stale: run `python -m ims_docgen.producers`"
    )
    assert "| `BackupArrears` | `ims.billing` | billing-service | no |" in committed
