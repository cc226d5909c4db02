"""AK/SK signatures over HTTP: whatever was tampered with, the request is refused with 401 and an error code,
on every API. And the size limit: a body over 1 MiB is refused with 413 and an error code."""

import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ims_shared.signing import SignedRequest, sign
from ims_shared.tenants import Tenant
from tests.abuse.conftest import ALPHA, BETA, CN, Apis
from tests.faults.tools import report

pytestmark = pytest.mark.integration


def _error_code(service: str, answer: httpx.Response) -> str:
    body = answer.json()
    if service in ("image-service",):
        assert body["error"]["message"], body
        return str(body["error"]["code"])
    assert body["error_msg"], body
    return str(body["error_code"])


def _targets(apis: Apis) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(service, method, path?query, JSON body) of a read and a write on each API, valid for alpha."""
    project = ALPHA.projects[CN]
    owned = apis.owned["alpha"]
    return [
        ("image-service", "GET", "/v2/cloudimages?limit=5&name=abuse-seed", None),
        ("image-service", "GET", f"/v2/images/{owned.image}", None),
        (
            "image-service",
            "POST",
            "/v1/cloudimages/wholeimages/action",
            {"name": "sig-test", "backup_id": "nope", "whole_image_type": "CBR"},
        ),
        ("backup-service", "GET", f"/v3/{project}/backups?limit=5", None),
        ("backup-service", "GET", f"/v3/{project}/backups/{owned.backup}", None),
        ("billing-service", "GET", f"/v1/{project}/billing/account", None),
        ("billing-service", "POST", f"/v1/{project}/billing/account/top-ups", {"amount": "1.00"}),
    ]


def _signed(
    url: str,
    method: str,
    target: str,
    body: dict[str, Any] | None,
    tenant: Tenant,
    *,
    secret: str | None = None,
    access_key: str | None = None,
    at: datetime | None = None,
) -> tuple[str, dict[str, str], bytes]:
    raw = b"" if body is None else json.dumps(body).encode()
    path, _, query = target.partition("?")
    headers = {"Host": urlsplit(url).netloc, "Content-Type": "application/json", "X-Project-Id": tenant.projects[CN]}
    signed = sign(
        SignedRequest(method, path, query, headers, raw),
        access_key or tenant.access_key,
        secret or tenant.secret_key,
        at or datetime.now(UTC),
    )
    return url + target, signed, raw


TAMPERING = [
    "wrong secret",
    "unknown access key",
    "altered body",
    "altered path",
    "altered query",
    "replayed outside the time window",
    "from the future",
    "no signature",
    "malformed signature",
    "date not signed",
]


def _tamper(how: str, url: str, method: str, target: str, body: dict[str, Any] | None):  # type: ignore[no-untyped-def]
    if how == "wrong secret":
        return (method, *_signed(url, method, target, body, ALPHA, secret=BETA.secret_key))
    if how == "unknown access key":
        return (method, *_signed(url, method, target, body, ALPHA, access_key="NOSUCHAK000000000000"))
    if how == "replayed outside the time window":
        return (method, *_signed(url, method, target, body, ALPHA, at=datetime.now(UTC) - timedelta(minutes=16)))
    if how == "from the future":
        return (method, *_signed(url, method, target, body, ALPHA, at=datetime.now(UTC) + timedelta(minutes=16)))
    full, headers, raw = _signed(url, method, target, body, ALPHA)
    if how == "altered body":
        raw = raw.replace(b"}", b', "x": 1}') if raw else b'{"x": 1}'
        headers["Content-Type"] = "application/json"
    elif how == "altered path":
        full = full.replace(ALPHA.projects[CN], BETA.projects[CN]) if ALPHA.projects[CN] in full else full + "x"
        if "?" not in full and full.endswith("x") and "/v2/images/" not in full and "/action" not in full:
            full = full[:-1] + "/"
        if "/action" in full:
            full = full.replace("/action", "/actiom")
        elif "/v2/images/" in full:
            full = full[:-2] + "00"
        elif "/v2/cloudimages" in full:
            full = full.replace("/v2/cloudimages", "/v2/images")
    elif how == "altered query":
        full = full + ("&" if "?" in full else "?") + "limit=6"
    elif how == "no signature":
        headers.pop("Authorization")
    elif how == "malformed signature":
        headers["Authorization"] = headers["Authorization"].replace("Signature=", "Signature=zz")
    elif how == "date not signed":
        auth = headers["Authorization"]
        headers["Authorization"] = auth.replace("x-sdk-date;", "").replace(";x-sdk-date", "")
    return method, full, headers, raw


def test_every_tampered_request_is_refused_with_401(apis: Apis) -> None:
    refused = 0
    with httpx.Client(timeout=10) as http:
        for service, method, target, body in _targets(apis):
            url = apis.urls[service]
            # The untampered request is accepted (or refused for what it asks, never for its signature).
            _, full, headers, raw = (method, *_signed(url, method, target, body, ALPHA))
            answer = http.request(method, full, headers=headers, content=raw)
            assert answer.status_code not in (401, 403, 500), (service, target, answer.text)
            for how in TAMPERING:
                _, full, headers, raw = _tamper(how, url, method, target, body)
                answer = http.request(method, full, headers=headers, content=raw)
                if how == "altered path" and answer.status_code in (404, 405):
                    # a path that no route serves is refused before authentication
                    assert _error_code(service, answer), answer.text
                    refused += 1
                    continue
                assert answer.status_code == 401, (service, method, target, how, answer.status_code, answer.text)
                assert _error_code(service, answer) == "APIGW.0301", answer.text
                refused += 1
    report("signatures", requests_tampered=refused, ways=len(TAMPERING), endpoints=len(_targets(apis)))


def test_a_body_over_one_mebibyte_is_refused_with_413(apis: Apis) -> None:
    big = {"name": "x", "description": "y" * (1024 * 1024 + 1), "backup_id": "b", "amount": "1"}
    refused = 0
    with httpx.Client(timeout=30) as http:
        for service, method, target, _ in _targets(apis):
            if method != "POST":
                continue
            url = apis.urls[service]
            for tenant_signed in (True, False):
                full, headers, raw = _signed(url, method, target, big, ALPHA)
                if not tenant_signed:
                    headers.pop("Authorization")
                answer = http.request(method, full, headers=headers, content=raw)
                assert answer.status_code == 413, (
                    service,
                    target,
                    tenant_signed,
                    answer.status_code,
                    answer.text[:300],
                )
                assert _error_code(service, answer) == "APIGW.0201"
                refused += 1
            # Announced by Content-Length but never sent: refused before the body is read.
            assert _announced_only(url, method, target).startswith(b"HTTP/1.1 413")
            refused += 1
    report("request size limit", refused=refused)


def _announced_only(url: str, method: str, target: str) -> bytes:
    host, _, port = urlsplit(url).netloc.partition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n{{"
        )
        sock.sendall(head.encode())
        return sock.recv(200)


def test_paging_numbers_beyond_what_the_database_takes_are_refused_not_failed(apis: Apis) -> None:
    """Found by full-size fuzzing: an ``offset`` past PostgreSQL's bigint made the backup listing fail with a 500."""
    project = ALPHA.projects[CN]
    url = apis.urls["backup-service"]
    with httpx.Client(timeout=10) as client:
        for offset in (2**31, 2**63, 5203777859879161933129620641546240):
            full, headers, _ = _signed(url, "GET", f"/v3/{project}/backups?offset={offset}", None, ALPHA)
            answer = client.get(full, headers=headers)
            assert answer.status_code == 400, (offset, answer.status_code, answer.text)
            assert _error_code("backup-service", answer)
        full, headers, _ = _signed(url, "GET", f"/v3/{project}/backups?offset={2**31 - 1}", None, ALPHA)
        assert client.get(full, headers=headers).json()["backups"] == []
