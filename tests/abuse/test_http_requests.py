"""The request-handling gaps the trust-boundary review found, each tried as a signed tenant would: a body nested
thousands of levels deep (a 500 from the parsers' recursion), an image update (PATCH) that skipped the validation
creation applies, and a list marker looked up among every tenant's images."""

import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ims_shared.signing import SignedRequest, sign
from ims_shared.tenants import Tenant
from tests.abuse.conftest import ALPHA, BETA, CN, Apis, make_images

pytestmark = pytest.mark.integration
BAD_REQUEST = {"image-service": "IMG.0001", "backup-service": "BackupService.6201", "billing-service": "BSS.0400"}
DEEP = 3000


def call(apis: Apis, service: str, tenant: Tenant, method: str, target: str, body: bytes = b"") -> httpx.Response:
    """``method target`` signed as ``tenant`` (its project of cn-north-4 in X-Project-Id), with the raw ``body``, on
    a connection of its own (a server closes its connection after a 500)."""
    url = apis.urls[service]
    path, _, query = target.partition("?")
    headers = {"Host": urlsplit(url).netloc, "Content-Type": "application/json", "X-Project-Id": tenant.projects[CN]}
    signed = sign(
        SignedRequest(method, path, query, headers, body), tenant.access_key, tenant.secret_key, datetime.now(UTC)
    )
    with httpx.Client(timeout=30) as http:
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


# -- 1. bodies nested too deeply -------------------------------------------------------------------------------
def _routes(apis: Apis) -> list[tuple[str, str, str]]:
    """(service, method, path) of every operation of the three APIs, path ids pointing at alpha's spare resources."""
    ids = {
        "project_id": ALPHA.projects[CN],
        "image_id": apis.owned["alpha"].spare_image,
        "backup_id": apis.owned["alpha"].spare_backup,
        "job_id": apis.owned["alpha"].job,
        "member_id": BETA.projects[CN],
        "key": "env",  # an image tag's key
        "checkpoint_id": apis.owned["alpha"].spare_backup,  # a backup made by no checkpoint is its own
        "vault_id": "vault-of-nobody",
        "operation_log_id": "operation-log-of-nobody",
    }
    routes = []
    for service in BAD_REQUEST:
        document = httpx.get(apis.urls[service] + "/openapi.json", timeout=30).json()
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
def test_a_body_nested_thousands_of_levels_deep_is_a_400_on_every_route(apis: Apis, deep: bytes) -> None:
    """PATCH /v2/cloudimages/{id} and the billing top-up parse their bodies themselves and answered 500
    (RecursionError); the routes whose body FastAPI parses answered 400 without the service's code."""
    routes = _routes(apis)
    assert ("image-service", "PATCH", f"/v2/cloudimages/{apis.owned['alpha'].spare_image}") in routes
    assert ("billing-service", "POST", f"/v1/{ALPHA.projects[CN]}/billing/account/top-ups") in routes
    wrong = []
    for service, method, path in routes:
        answer = call(apis, service, ALPHA, method, path, deep)
        status, code, message = error_of(answer)
        if (status, code) != (400, BAD_REQUEST[service]) or "deeper than" not in message:
            wrong.append(f"{service} {method} {path}: {answer.status_code} {answer.text[:200]}")
    assert wrong == [], f"{len(wrong)} of {len(routes)} routes:\n" + "\n".join(wrong)


def test_a_body_nested_as_deeply_as_an_api_needs_reaches_its_parser(apis: Apis) -> None:
    """CreateCheckpoint's body, the deepest an API takes, with an item's extra_info: its parser answers (here that
    the vault is missing), not the depth guard."""
    details = [{"id": "ecs-1", "extra_info": {"exclude_volumes": [["v-1"]]}}]
    checkpoint = {"checkpoint": {"parameters": {"resource_details": details}}}
    target = f"/v3/{ALPHA.projects[CN]}/checkpoints"
    answer = call(apis, "backup-service", ALPHA, "POST", target, json.dumps(checkpoint).encode())
    status, code, message = error_of(answer)
    assert (status, code) == (400, "BackupService.6201") and "vault_id" in message, answer.text


# -- 2. PATCH validates as creation does ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def patched(apis: Apis) -> str:
    """An image of alpha's that only the PATCH tests change."""
    [(image, _, _)] = make_images(apis, [(ALPHA, "patch-target")])
    return image


def _patch(apis: Apis, image: str, *changes: tuple[str, Any]) -> httpx.Response:
    operations = [{"op": "replace", "path": path, "value": value} for path, value in changes]
    return call(apis, "image-service", ALPHA, "PATCH", f"/v2/cloudimages/{image}", json.dumps(operations).encode())


def _shown(apis: Apis, image: str) -> dict[str, Any]:
    answer = call(apis, "image-service", ALPHA, "GET", f"/v2/images/{image}")
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return {key: shown.get(key) for key in ("name", "__description", "min_ram", "max_ram")}


REFUSED_CHANGES = [
    ("/min_ram", -1, "min_ram must be between"),
    ("/max_ram", -512, "max_ram must be between"),
    ("/min_ram", 2**31, "min_ram must be between"),
    ("/max_ram", 2**63, "max_ram must be between"),
    ("/min_ram", 1_048_577, "min_ram must be between"),
    ("/min_ram", True, "min_ram must be an integer"),
    ("/max_ram", 1024.0, "max_ram must be an integer"),
    ("/max_ram", 1.5, "max_ram must be an integer"),
    ("/min_ram", "5_12", "min_ram must be an integer"),
    ("/min_ram", "512.0", "min_ram must be an integer"),
    ("/max_ram", "-512", "max_ram must be an integer"),
    ("/min_ram", None, "min_ram must be an integer"),
    ("/name", "", "name must be 1 to 128 characters"),
    ("/name", " leading-space", "must not start or end with a space"),
    ("/name", "n" * 129, "name must be 1 to 128 characters"),
    ("/name", "<script>", "name must be 1 to 128 characters"),
    ("/name", 123, "name must be a string"),
    ("/name", None, "name must be a string"),
    ("/__description", "a <b>bold</b> claim", "angle brackets"),
    ("/__description", "d" * 1025, "at most 1024 characters"),
    ("/__description", ["a list"], "description must be a string"),
]


def test_every_value_creation_refuses_is_refused_by_patch_with_img_0001(apis: Apis, patched: str) -> None:
    before = _shown(apis, patched)
    wrong = []
    for path, value, expected in REFUSED_CHANGES:
        answer = _patch(apis, patched, (path, value))
        if answer.status_code != 400 or error_of(answer)[1] != "IMG.0001" or expected not in error_of(answer)[2]:
            wrong.append(f"{path}={value!r}: {answer.status_code} {answer.text[:200]}")
    assert wrong == [], "\n".join(wrong)
    assert _shown(apis, patched) == before


def test_patch_checks_min_ram_against_the_stored_max_ram_and_the_other_way_round(apis: Apis, patched: str) -> None:
    assert _patch(apis, patched, ("/max_ram", 2048)).status_code == 200
    above = _patch(apis, patched, ("/min_ram", 4096))
    assert error_of(above) == (400, "IMG.0001", "min_ram (4096 MB) must not be greater than max_ram (2048 MB)")
    assert _patch(apis, patched, ("/min_ram", 1024)).status_code == 200
    below = _patch(apis, patched, ("/max_ram", 512))
    assert error_of(below) == (400, "IMG.0001", "min_ram (1024 MB) must not be greater than max_ram (512 MB)")
    # Both at once are checked as a pair: the stored values do not matter then.
    both = _patch(apis, patched, ("/min_ram", 8192), ("/max_ram", 16384), ("/name", "patched-ok"))
    assert both.status_code == 200, both.text
    assert _shown(apis, patched) == {
        "name": "patched-ok",
        "__description": "",
        "min_ram": 8192,
        "max_ram": "16384",  # IMS shows max_ram as a string
    }
    # 0 means no limit, as at creation.
    assert _patch(apis, patched, ("/max_ram", 0)).status_code == 200


# -- 3. the list marker is the caller's -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def markers(apis: Apis) -> dict[str, str]:
    """alpha's own image (``own``) and one it deleted (``gone``), beta's image (``theirs``), and beta's images shared
    with alpha: one accepted (``shared``), one still pending (``pending``)."""
    wanted = [(ALPHA, "marker-own"), (ALPHA, "marker-gone"), (BETA, "marker-beta"), (BETA, "marker-shared")]
    made = make_images(apis, [*wanted, (BETA, "marker-pending")])
    own, gone, theirs, shared, pending = (image for image, _, _ in made)
    deleted = call(apis, "image-service", ALPHA, "DELETE", f"/v2/images/{gone}")
    assert deleted.status_code == 204, deleted.text
    for image in (shared, pending):
        added = call(
            apis,
            "image-service",
            BETA,
            "POST",
            f"/v2/images/{image}/members",
            json.dumps({"member": ALPHA.projects[CN]}).encode(),
        )
        assert added.status_code == 200, added.text
    vault = {"vault": {"name": "markers", "billing": {"object_type": "server", "protect_type": "backup", "size": 100}}}
    made = call(apis, "backup-service", ALPHA, "POST", f"/v3/{ALPHA.projects[CN]}/vaults", json.dumps(vault).encode())
    assert made.status_code == 200, made.text
    answer = json.dumps({"status": "accepted", "vault_id": made.json()["vault"]["id"]}).encode()
    deadline = time.monotonic() + 30  # image-service learns the vault from backup-service's VaultCreated
    while (
        accepted := call(
            apis, "image-service", ALPHA, "PUT", f"/v2/images/{shared}/members/{ALPHA.projects[CN]}", answer
        )
    ).status_code == 400 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert accepted.status_code == 200, accepted.text
    return {"own": own, "gone": gone, "theirs": theirs, "shared": shared, "pending": pending}


LISTS = ["/v2/cloudimages", "/v2/images"]


@pytest.mark.parametrize("listing", LISTS)
def test_another_tenants_image_or_an_unknown_id_is_not_a_marker(
    apis: Apis, markers: dict[str, str], listing: str
) -> None:
    """It was looked up among every tenant's images: a tenant could tell another's image ids from unknown ones and
    page relative to them. Now both are the same 400."""
    for marker in (markers["theirs"], markers["pending"], "00000000-0000-4000-8000-000000000000"):
        answer = call(apis, "image-service", ALPHA, "GET", f"{listing}?limit=5&marker={marker}")
        assert error_of(answer)[:2] == (400, "IMG.0001"), (marker, answer.text)
        assert f"marker {marker} is not an image" in error_of(answer)[2]


@pytest.mark.parametrize("listing", LISTS)
def test_a_marker_is_an_image_the_list_shows_the_caller(apis: Apis, markers: dict[str, str], listing: str) -> None:
    allowed = [
        ("", markers["own"]),
        ("", markers["shared"]),
        ("", markers["gone"]),  # deleted since it ended a page: the next page still follows it
        ("&__imagetype=private", markers["own"]),
        ("&__imagetype=shared", markers["shared"]),
    ]
    for scope, marker in allowed:
        answer = call(apis, "image-service", ALPHA, "GET", f"{listing}?limit=1000&marker={marker}{scope}")
        assert answer.status_code == 200, (scope, marker, answer.text)
        assert marker not in [image["id"] for image in answer.json()["images"]], "the page starts after its marker"
    for scope, marker in [("&__imagetype=private", markers["shared"]), ("&__imagetype=shared", markers["own"])]:
        answer = call(apis, "image-service", ALPHA, "GET", f"{listing}?limit=5&marker={marker}{scope}")
        assert error_of(answer)[:2] == (400, "IMG.0001"), (scope, marker, answer.text)


def test_a_page_after_a_marker_goes_on_where_the_previous_page_ended(apis: Apis, markers: dict[str, str]) -> None:
    everything = call(apis, "image-service", ALPHA, "GET", "/v2/cloudimages?limit=1000").json()["images"]
    ids = [image["id"] for image in everything]
    assert markers["own"] in ids and markers["shared"] in ids and markers["theirs"] not in ids
    first = call(apis, "image-service", ALPHA, "GET", "/v2/cloudimages?limit=2").json()
    after = call(
        apis,
        "image-service",
        ALPHA,
        "GET",
        f"/v2/cloudimages?limit=1000&marker={first['page_info']['next_marker']}",
    ).json()
    assert [image["id"] for image in first["images"] + after["images"]] == ids
