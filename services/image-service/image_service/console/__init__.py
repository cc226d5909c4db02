"""The web console of image-service: static pages at ``/console`` that call the same AK/SK-signed IMS API.

The page signs every request itself (SDK-HMAC-SHA256, as ``ims_shared.signing.sign`` does) with the access key
and secret key the user enters; nothing here authenticates or proxies. ``/console/config.json`` tells the page
what it cannot know by itself, and never a secret: this region, the CBR API's address (the backup list of the
creation form), the ECS API's address (Apply for Server and the Servers page), the regions a replica may go to
(the replication routes from here), and, in development mode only, the tenants' names with their project in this
region. Anyone may read it, so a deployment lists no tenant: the login form then asks for the project id with the
keys.
"""

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from image_service.context import ImageService, Service
from ims_shared.refusal import Refusal
from ims_shared.regions import KNOWN_REGIONS
from ims_shared.tenants import TenantCatalog, load_tenants

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {
    "index.html": "text/html",
    "console.css": "text/css",
    "console.js": "text/javascript",
    "signing.js": "text/javascript",
    "servers.js": "text/javascript",
}

router = APIRouter(include_in_schema=False)


class ConsoleSettings(BaseSettings):
    """The settings of the web console at /console."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    console_cbr_endpoint: str | None = Field(
        default=None,
        description="The CBR API (backup-service of this region) as the browser reaches it, for the backup list of "
        "the creation form. Unset: the console page's host with image-service's port + 1, where `make run` and "
        "docker compose put it.",
    )
    console_ecs_endpoint: str | None = Field(
        default=None,
        description="The ECS and EVS APIs (compute-service of this region) as the browser reaches them, for Apply "
        "for Server and the Servers page. Unset: the console page's host with image-service's port + 3, where "
        "`make run` and docker compose put it.",
    )


def _neighbour(request: Request, configured: str | None, port: int) -> str:
    """Another service of this region as the browser reaches it: the setting, else the page's host on ``port``."""
    if configured:
        return configured.rstrip("/")
    host = request.url.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{request.url.scheme}://{host}:{port}"


def _cbr_endpoint(request: Request, settings: ConsoleSettings, http_port: int) -> str:
    return _neighbour(request, settings.console_cbr_endpoint, http_port + 1)


def _ecs_endpoint(request: Request, settings: ConsoleSettings, http_port: int) -> str:
    return _neighbour(request, settings.console_ecs_endpoint, http_port + 3)


def _development_keys() -> set[tuple[str, str]]:
    """The key pairs of the packaged development tenants, which the README publishes."""
    return {(t.access_key, t.secret_key) for t in load_tenants(None).tenants}


def tenants_view(catalog: TenantCatalog, region: str) -> list[dict[str, Any]]:
    """What the login form and the share dialog show of each tenant: no key, no secret."""
    published = _development_keys()
    return [
        {
            "name": t.name,
            "project_id": t.project_in(region),
            "enterprise_projects": list(t.enterprise_projects),
            "development": (t.access_key, t.secret_key) in published,
        }
        for t in catalog.tenants
        if t.project_in(region)
    ]


def console_config(request: Request, service: ImageService) -> dict[str, Any]:
    """What ``/console/config.json`` tells anyone who asks (it needs no signature): the tenants only in development
    mode (DEVELOPMENT_MODE), whose published credentials the README lists anyway."""
    settings = ConsoleSettings()
    region = service.settings.region
    development = service.settings.development_mode
    destinations = service.replication.destinations_from(region)
    return {
        "region": region,
        "region_name": KNOWN_REGIONS.get(region, region),
        "regions": [{"id": r, "name": KNOWN_REGIONS.get(r, r)} for r in service.settings.regions],
        "cbr_endpoint": _cbr_endpoint(request, settings, service.settings.http_port),
        "ecs_endpoint": _ecs_endpoint(request, settings, service.settings.http_port),
        "replication_destinations": [{"id": d, "name": KNOWN_REGIONS.get(d, d)} for d in destinations],
        "tenants": tenants_view(service.tenants, region) if development else [],
    }


def _security_headers(request: Request, service: ImageService) -> dict[str, str]:
    settings = ConsoleSettings()
    cbr = _cbr_endpoint(request, settings, service.settings.http_port)
    ecs = _ecs_endpoint(request, settings, service.settings.http_port)
    return {
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": (
            f"default-src 'self'; connect-src 'self' {cbr} {ecs}; img-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        ),
    }


@router.get("/console")
async def console_root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


def _file(request: Request, service: ImageService, name: str, media_type: str) -> Response:
    path = STATIC / name
    if not path.is_file():
        raise Refusal("APIGW.0101", f"the console file {name} is not installed with this image-service", status=404)
    return FileResponse(path, media_type=media_type, headers=_security_headers(request, service))


@router.get("/console/")
async def console_index(request: Request, service: Service) -> Response:
    return _file(request, service, "index.html", "text/html")


@router.get("/console/config.json")
async def console_config_json(request: Request, service: Service) -> dict[str, Any]:
    return console_config(request, service)


@router.get("/console/{name}")
async def console_file(request: Request, name: str, service: Service) -> Response:
    media_type = MEDIA_TYPES.get(name)
    if media_type is None:
        raise Refusal("APIGW.0101", f"no console file {name!r}", status=404)
    return _file(request, service, name, media_type)
