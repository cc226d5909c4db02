"""The request-handling gaps the trust-boundary review found, each tried as a signed tenant would: a body nested
thousands of levels deep (a 500 from the parsers' recursion)."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest

from ims_shared.signing import SignedRequest, sign
from ims_shared.tenants import Tenant
from tests.abuse.conftest import ALPHA, BETA, CN, Apis

pytestmark = pytest.mark.integration
BAD_REQUEST = {"image-service": "IMG.0001", "backup-service": "BackupService.6201", "billing-service": "BSS.0400"}
DEEP = 3000


def call(
    http: httpx.Client, apis: Apis, service: str, tenant: Tenant, method: str, target: str, body: bytes = b""
) -> httpx.Response:
    """``method target`` signed as ``tenant`` (its project of cn-north-4 in X-Project-Id), with the raw ``body``."""
    url = apis.urls[service]
    path, _, query = target.partition("?")
    headers = {"Host": urlsplit(url).netloc, "Content-Type": "application/json", "X-Project-Id": tenant.projects[CN]}
    signed = sign(
        SignedRequest(method, path, query, headers, body), tenant.access_key, tenant.secret_key, datetime.now(UTC)
    )
    return http.request(method, url + target, headers=signed, content=body)


def error_of(answer: httpx.Response) -> tuple[int, str, str]:
    """(status, error code, message) of an answer in either style; an answer that is not JSON has no code."""
    try:
        body = answer.json()
    except ValueError:
        return answer.status_code, "", answer.text
    if not isinstance(body, dict):
        return answer.status_code, "", answer.text
    if isinstance(body.get("error"), dict):
        return answer.status_code, body["error"]["code"], body["error"]["message"]
    return answer.status_code, str(body.get("error_code", "")), str(body.get("error_msg", answer.text))


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


# -- 1. bodies nested too deeply -------------------------------------------------------------------------------
def _routes(http: httpx.Client, apis: Apis) -> list[tuple[str, str, str]]:
    """(service, method, path) of every operation of the three APIs, path ids pointing at alpha's spare resources."""
    ids = {
        "project_id": ALPHA.projects[CN],
        "image_id": apis.owned["alpha"].spare_image,
        "backup_id": apis.owned["alpha"].spare_backup,
        "job_id": apis.owned["alpha"].job,
        "member_id": BETA.projects[CN],
    }
    routes = []
    for service in BAD_REQUEST:
        document = http.get(apis.urls[service] + "/openapi.json").json()
        for template, operations in document["paths"].items():
            path = template
            for name, value in ids.items():
                path = path.replace("{" + name + "}", value)
            assert "{" not in path, f"no id for a parameter of {template}"
            routes += [(service, method.upper(), path) for method in operations]
    return routes


@pytest.mark.parametrize(
    "deep",
    [b"[" * DEEP + b"]" * DEEP, b'{"a": ' * DEEP + b"1" + b"}" * DEEP],
    ids=["arrays", "objects"],
)
def test_a_body_nested_thousands_of_levels_deep_is_a_400_on_every_route(
    http: httpx.Client, apis: Apis, deep: bytes
) -> None:
    """PATCH /v2/cloudimages/{id} and the billing top-up parse their bodies themselves and answered 500
    (RecursionError); the routes whose body FastAPI parses answered 400 without the service's code."""
    routes = _routes(http, apis)
    assert ("image-service", "PATCH", f"/v2/cloudimages/{apis.owned['alpha'].spare_image}") in routes
    assert ("billing-service", "POST", f"/v1/{ALPHA.projects[CN]}/billing/account/top-ups") in routes
    wrong = []
    for service, method, path in routes:
        with httpx.Client(timeout=30) as fresh:  # a server closes its connection after a 500
            answer = call(fresh, apis, service, ALPHA, method, path, deep)
        status, code, message = error_of(answer)
        if (status, code) != (400, BAD_REQUEST[service]) or "deeper than" not in message:
            wrong.append(f"{service} {method} {path}: {answer.status_code} {answer.text[:200]}")
    assert wrong == [], f"{len(wrong)} of {len(routes)} routes:\n" + "\n".join(wrong)


def test_a_body_nested_as_deeply_as_an_api_needs_reaches_its_parser(http: httpx.Client, apis: Apis) -> None:
    """CreateCheckpoint's body, the deepest an API takes, with an item's extra_info: its parser answers (here that
    the vault is missing), not the depth guard."""
    details = [{"id": "ecs-1", "extra_info": {"exclude_volumes": [["v-1"]]}}]
    checkpoint = {"checkpoint": {"parameters": {"resource_details": details}}}
    target = f"/v3/{ALPHA.projects[CN]}/checkpoints"
    answer = call(http, apis, "backup-service", ALPHA, "POST", target, json.dumps(checkpoint).encode())
    status, code, message = error_of(answer)
    assert (status, code) == (400, "BackupService.6201") and "vault_id" in message, answer.text
