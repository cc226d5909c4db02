"""The console's pages and configuration as image-service serves them, and backup-service's CORS for the console.
No browser and no running system: the apps are called in-process."""

import httpx
import pytest

from backup_service.app import create_app as create_backup_app
from backup_service.settings import BackupSettings
from compute_service.app import create_app as create_compute_app
from compute_service.settings import ComputeSettings
from ims_shared.tenants import load_tenants
from tests.browser.conftest import client_of, console_app
from tests.e2e.harness import TENANTS_FILE


async def test_the_configuration_names_the_region_the_cbr_api_routes_and_tenants_but_no_secret() -> None:
    async with client_of(console_app()) as client:
        config = (await client.get("/console/config.json")).json()
    assert config["region"] == "cn-north-4" and config["region_name"] == "CN North-Beijing4"
    assert config["cbr_endpoint"] == "http://127.0.0.1:8102"
    assert config["ecs_endpoint"] == "http://127.0.0.1:8104"
    assert config["replication_destinations"] == [{"id": "ap-southeast-1", "name": "AP-Hong Kong"}]
    tenants = {t["name"]: t for t in config["tenants"]}
    assert tenants["alpha"]["project_id"] == "a0000000000000000000000000000001"
    assert tenants["alpha"]["enterprise_projects"] == ["e1000000-0000-0000-0000-00000000a001"]
    assert tenants["alpha"]["development"] and tenants["beta"]["development"]
    assert not tenants["gamma"]["development"], "only the published development keys are offered"
    text = str(config)
    for tenant in load_tenants(str(TENANTS_FILE)).tenants:
        assert tenant.secret_key not in text and tenant.access_key not in text


async def test_a_deployment_lists_no_tenant_and_no_project() -> None:
    """``/console/config.json`` needs no signature: outside development mode it must not tell anyone the tenants and
    their projects. The rest of the configuration stays."""
    async with client_of(console_app(development_mode=False)) as client:
        config = (await client.get("/console/config.json")).json()
    assert config["tenants"] == []
    assert config["region"] == "cn-north-4" and config["cbr_endpoint"] == "http://127.0.0.1:8102"
    text = str(config)
    for tenant in load_tenants(str(TENANTS_FILE)).tenants:
        assert tenant.name not in text and all(project not in text for project in tenant.projects.values())


async def test_the_cbr_endpoint_follows_the_host_and_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    async with client_of(console_app(http_port=18101), "http://localhost:18101") as client:
        config = (await client.get("/console/config.json")).json()
    assert config["cbr_endpoint"] == "http://localhost:18102"
    assert config["ecs_endpoint"] == "http://localhost:18104"
    monkeypatch.setenv("CONSOLE_CBR_ENDPOINT", "https://cbr.example.test/")
    monkeypatch.setenv("CONSOLE_ECS_ENDPOINT", "https://ecs.example.test/")
    monkeypatch.setenv("REPLICATION_ROUTES", "ap-southeast-1:cn-north-4")
    async with client_of(console_app()) as client:
        config = (await client.get("/console/config.json")).json()
        page = await client.get("/console/")
    assert config["cbr_endpoint"] == "https://cbr.example.test"
    assert config["ecs_endpoint"] == "https://ecs.example.test"
    assert config["replication_destinations"] == []
    policy = page.headers["content-security-policy"]
    assert "connect-src 'self' https://cbr.example.test https://ecs.example.test;" in policy


@pytest.mark.parametrize(
    ("path", "media_type", "marker"),
    [
        ("/console/", "text/html", "Create Image"),
        ("/console/console.js", "text/javascript", "ImsConsole"),
        ("/console/signing.js", "text/javascript", "SDK-HMAC-SHA256"),
        ("/console/servers.js", "text/javascript", "ImsServers"),
        ("/console/console.css", "text/css", ":root"),
    ],
)
async def test_the_console_files_are_served_with_their_type_and_a_strict_policy(
    path: str, media_type: str, marker: str
) -> None:
    async with client_of(console_app()) as client:
        answer = await client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(media_type)
    assert marker in answer.text
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy


async def test_the_console_redirects_to_its_folder_and_serves_nothing_else() -> None:
    async with client_of(console_app()) as client:
        redirect = await client.get("/console", follow_redirects=False)
        missing = await client.get("/console/app.py")
        escape = await client.get("/console/..%2F__init__.py")
    assert redirect.status_code == 307 and redirect.headers["location"] == "/console/"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "APIGW.0101"
    assert escape.status_code == 404


async def preflight(settings: BackupSettings, origin: str) -> httpx.Response:
    # No lifespan (nothing is started): CORS answers the preflight before any route.
    async with client_of(create_backup_app(settings), "http://127.0.0.1:8102") as client:
        return await client.options(
            "/v3/a0000000000000000000000000000001/backups",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization,x-sdk-date",
            },
        )


async def test_backup_service_lets_the_console_of_its_region_call_it_from_the_browser() -> None:
    allowed = await preflight(BackupSettings(http_port=18102), "http://127.0.0.1:18101")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://127.0.0.1:18101"
    assert "x-sdk-date" in allowed.headers["access-control-allow-headers"].lower()
    refused = await preflight(BackupSettings(http_port=18102), "http://evil.example.test")
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    configured = await preflight(
        BackupSettings(console_origins="https://console.example.test"), "https://console.example.test"
    )
    assert configured.headers["access-control-allow-origin"] == "https://console.example.test"


async def compute_preflight(settings: ComputeSettings, origin: str, method: str = "POST") -> httpx.Response:
    async with client_of(create_compute_app(settings), "http://127.0.0.1:8104") as client:
        return await client.options(
            "/v1/a0000000000000000000000000000001/cloudservers",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization,content-type,x-sdk-date,x-project-id",
            },
        )


async def test_compute_service_lets_the_console_of_its_region_create_and_power_servers_from_the_browser() -> None:
    allowed = await compute_preflight(ComputeSettings(http_port=18104), "http://127.0.0.1:18101")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://127.0.0.1:18101"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "x-sdk-date" in allowed.headers["access-control-allow-headers"].lower()
    refused = await compute_preflight(ComputeSettings(http_port=18104), "http://127.0.0.1:18102")
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    configured = await compute_preflight(
        ComputeSettings(console_origins="https://console.example.test"), "https://console.example.test", "GET"
    )
    assert configured.headers["access-control-allow-origin"] == "https://console.example.test"
