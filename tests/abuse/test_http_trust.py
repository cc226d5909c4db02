"""The HTTP signing gaps the trust-boundary review found, each tried as an attacker would: a body that was not
signed, a Host that was not signed, and a query whose signed meaning is not what the application reads."""

import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest

from ims_shared.signing import SignedRequest, sign
from tests.abuse.conftest import ALPHA, CN, Apis

pytestmark = pytest.mark.integration


def _balance(http: httpx.Client, apis: Apis) -> str:
    project = ALPHA.projects[CN]
    url = apis.urls["billing-service"]
    request = SignedRequest("GET", f"/v1/{project}/billing/account", "", {"Host": urlsplit(url).netloc})
    answer = http.get(
        f"{url}/v1/{project}/billing/account",
        headers=sign(request, ALPHA.access_key, ALPHA.secret_key, datetime.now(UTC)),
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["account"]["balance"])


def test_a_json_body_sent_as_unsigned_payload_is_refused_and_credits_nothing(apis: Apis) -> None:
    """A top-up signed for 1.00 with ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` verified with any body."""
    project = ALPHA.projects[CN]
    url = apis.urls["billing-service"]
    path = f"/v1/{project}/billing/account/top-ups"
    headers = {
        "Host": urlsplit(url).netloc,
        "Content-Type": "application/json",
        "X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD",
    }
    signed = sign(
        SignedRequest("POST", path, "", headers, b'{"amount": "1.00"}'),
        ALPHA.access_key,
        ALPHA.secret_key,
        datetime.now(UTC),
    )
    with httpx.Client(timeout=10) as http:
        before = _balance(http, apis)
        answer = http.post(url + path, headers=signed, content=json.dumps({"amount": "999999.00"}).encode())
        assert answer.status_code == 401, answer.text
        assert answer.json()["error_code"] == "APIGW.0301"
        assert "UNSIGNED-PAYLOAD" in answer.json()["error_msg"]
        assert _balance(http, apis) == before


@pytest.mark.parametrize(
    ("target", "content_type", "status"),
    [
        ("/v2/images/{image}", "application/openstack-images-v2.1-json-patch", 200),  # what the SDK sends
        ("/v2/images/{image}", "application/json", 401),
        ("/v2/cloudimages/{image}", "application/openstack-images-v2.1-json-patch", 401),
        ("/v2/cloudimages/{image}", "application/json", 401),
    ],
)
def test_an_unsigned_body_is_taken_only_as_glance_update_images_json_patch(
    apis: Apis, target: str, content_type: str, status: int
) -> None:
    """The official SDK leaves GlanceUpdateImage's JSON patch unsigned; no other route, nor that one with another
    content type, takes an unsigned body."""
    url = apis.urls["image-service"]
    path = target.format(image=apis.owned["alpha"].image)
    body = json.dumps([{"op": "replace", "path": "/__description", "value": "unsigned"}]).encode()
    headers = {
        "Host": urlsplit(url).netloc,
        "Content-Type": content_type,
        "X-Project-Id": ALPHA.projects[CN],
        "X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD",
    }
    signed = sign(
        SignedRequest("PATCH", path, "", headers, body), ALPHA.access_key, ALPHA.secret_key, datetime.now(UTC)
    )
    with httpx.Client(timeout=10) as http:
        answer = http.patch(url + path, headers=signed, content=body)
    assert answer.status_code == status, answer.text
    if status == 401:
        assert answer.json()["error"]["code"] == "APIGW.0301"
    else:
        assert answer.json()["__description"] == "unsigned"


def test_a_request_whose_host_is_not_signed_is_refused(apis: Apis) -> None:
    url = apis.urls["image-service"]
    headers = {"Content-Type": "application/json", "X-Project-Id": ALPHA.projects[CN]}
    signed = sign(
        SignedRequest("GET", "/v2/cloudimages", "limit=1", headers),
        ALPHA.access_key,
        ALPHA.secret_key,
        datetime.now(UTC),
    )
    assert "host" not in signed["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    answer = httpx.get(url + "/v2/cloudimages?limit=1", headers=signed, timeout=10)
    assert answer.status_code == 401, answer.text
    assert "Host" in answer.json()["error"]["message"]


def test_a_query_is_verified_as_the_application_reads_it(apis: Apis) -> None:
    """``+`` in a query is a space to the application: a signature over a literal plus does not cover it, and a
    signature over the space (what the SDK signs, sending ``+`` or ``%20``) does."""
    url = apis.urls["image-service"]
    headers = {"Host": urlsplit(url).netloc, "X-Project-Id": ALPHA.projects[CN]}
    now = datetime.now(UTC)
    over_plus = sign(
        SignedRequest("GET", "/v2/cloudimages", "name=abuse%2Bseed", headers), ALPHA.access_key, ALPHA.secret_key, now
    )
    over_space = sign(
        SignedRequest("GET", "/v2/cloudimages", "name=abuse%20seed", headers), ALPHA.access_key, ALPHA.secret_key, now
    )
    with httpx.Client(timeout=10) as http:
        refused = http.get(url + "/v2/cloudimages?name=abuse+seed", headers=over_plus)
        assert refused.status_code == 401, refused.text
        for sent in ("name=abuse+seed", "name=abuse%20seed"):
            answer = http.get(f"{url}/v2/cloudimages?{sent}", headers=over_space)
            assert answer.status_code == 200, (sent, answer.text)
            assert answer.json()["images"] == []  # no image is named "abuse seed" (they are "abuse-seed")
