"""The console's request signing in Chromium gives the signatures of ims_shared.signing, byte for byte.

Runs signing.js in the browser (WebCrypto, and the plain SHA-256/HMAC used where WebCrypto is missing) on requests
with percent-encoded paths, repeated and unsorted query keys and non-ASCII bodies, and checks each result against
``sign()`` and ``verify()``. No service is needed.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ims_shared.signing import SignedRequest, sign, verify
from tests.browser.conftest import requires_chromium

STATIC = Path(__file__).resolve().parents[2] / "services/image-service/image_service/console/static"
NOW = datetime(2026, 5, 1, 12, 30, 45, tzinfo=UTC)
AK, SK = "DEVALPHAAK0000000001", "dev-alpha-secret"

CASES: list[dict[str, Any]] = [
    {
        "method": "GET",
        "url": "http://127.0.0.1:8101/v2/cloudimages?__imagetype=private&limit=1",
        "headers": {"X-Project-Id": "a0000000000000000000000000000001"},
        "body": "",
    },
    {
        "method": "POST",
        "url": "http://127.0.0.1:8101/v1/cloudimages/wholeimages/action",
        "headers": {"X-Project-Id": "a0000000000000000000000000000001", "Content-Type": "application/json"},
        "body": '{"name": "镜像 web-01", "backup_id": "b-1", "description": "ünïcode"}',
    },
    {
        "method": "GET",
        "url": "http://localhost:18102/v3/p%20q/backups/x~y%2Bz?z=1&a=2&a=10&b=%E4%B8%AD+x&empty=&flag",
        "headers": {},
        "body": "",
    },
    {
        "method": "DELETE",
        "url": "http://127.0.0.1:8101/v2/images/5b0f7d3e-0000-4000-8000-000000000001",
        "headers": {"X-Project-Id": "a0000000000000000000000000000001", "Content-Type": "application/json"},
        "body": '{"delete_backup": true}',
    },
]

SIGN_IN_PAGE = """
const [cases, now, ak, sk, plain] = arguments;
const done = arguments[arguments.length - 1];
Promise.all(cases.map((c) => ImsSigning.sign({...c, accessKey: ak, secretKey: sk, now: new Date(now), plain})))
  .then(done, (error) => done({error: String(error)}));
"""


@requires_chromium
@pytest.mark.parametrize("plain", [False, True], ids=["webcrypto", "plain-js"])
def test_the_browser_signs_as_the_python_signer(browser: Any, plain: bool) -> None:
    browser.get((STATIC / "index.html").as_uri())
    assert browser.execute_script("return typeof ImsSigning") == "object"
    if not plain:
        assert browser.execute_script("return Boolean(window.crypto && crypto.subtle)"), "no WebCrypto in the page"
    signed = browser.execute_async_script(SIGN_IN_PAGE, CASES, NOW.isoformat(), AK, SK, plain)
    assert isinstance(signed, list), signed
    for case, headers in zip(CASES, signed, strict=True):
        parts = urlsplit(case["url"])
        assert "Host" not in headers, "the browser sends Host itself"
        assert headers["X-Sdk-Date"] == "20260501T123045Z"
        expected = sign(
            SignedRequest(
                method=case["method"],
                path=parts.path,
                query=parts.query,
                headers={"Host": parts.netloc, **case["headers"]},
                body=case["body"].encode(),
            ),
            AK,
            SK,
            NOW,
        )
        assert headers["Authorization"] == expected["Authorization"], case["url"]
        received = SignedRequest(
            method=case["method"],
            path=parts.path,
            query=parts.query,
            headers={"Host": parts.netloc, **headers},
            body=case["body"].encode(),
        )
        assert verify(received, SK, NOW) == AK
