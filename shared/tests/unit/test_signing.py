"""The AK/SK verifier checked against the real Huawei Cloud SDK signer, directly and over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from ims_shared.signing import (
    SignatureError,
    SignedRequest,
    access_key_of,
    canonical_query_string,
    canonical_uri,
    parse_authorization,
    sign,
    verify,
)

AK = "HPUAEXAMPLEAK0000001"
SK = "sk-example-secret-0123456789abcdefghij"
PROJECT_ID = "0123456789abcdef0123456789abcdef"
HOST = "127.0.0.1:8443"
NOW = datetime(2024, 5, 17, 8, 30, 0, tzinfo=UTC)
SDK_DATE = NOW.strftime("%Y%m%dT%H%M%SZ")


@dataclass
class _Creds:
    ak: str
    sk: str


def sdk_sign(
    method: str,
    path: str,
    query: list[tuple[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    *,
    date: str = SDK_DATE,
    sk: str = SK,
    host: str = HOST,
) -> SignedRequest:
    """Sign with the SDK's own signer; return the request as the server would receive it."""
    header_params = {"Host": host, "X-Sdk-Date": date, "X-Project-Id": PROJECT_ID}
    header_params.update(headers or {})
    request = SdkRequest(
        method=method,
        schema="http",
        host=host,
        resource_path=path,
        query_params=list(query or []),
        header_params=header_params,
        body=body,
    )
    signed = Signer(_Creds(AK, sk)).sign(request)
    target_path, _, target_query = signed.uri.partition("?")
    raw_body = signed.body or b""
    assert isinstance(raw_body, bytes)
    return SignedRequest(
        method=method,
        path=target_path,
        query=target_query,
        headers=dict(signed.header_params),
        body=raw_body,
    )


def path_of(template: str, **params: str) -> str:
    """Fill a path template the way the SDK client does (each value fully percent-encoded)."""
    for key, value in params.items():
        template = template.replace(f"{{{key}}}", quote(value, safe=""))
    return template


def with_header(req: SignedRequest, name: str, value: str | None) -> SignedRequest:
    headers = {k: v for k, v in req.headers.items() if k.lower() != name.lower()}
    if value is not None:
        headers[name] = value
    return replace(req, headers=headers)


JSON = {"Content-Type": "application/json"}
JSON_UTF8 = {"Content-Type": "application/json;charset=utf-8"}


def _spec(
    method: str,
    path: str,
    query: list[tuple[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
) -> dict[str, Any]:
    return {
        "method": method,
        "path": path,
        "query": query,
        "headers": headers,
        "body": body,
    }


ACCEPTED_SPECS: dict[str, dict[str, Any]] = {
    "get-with-special-query": _spec(
        "GET",
        "/v2/cloudimages",
        [
            ("name", "my image/ü+&=~*'()!%20"),
            ("__imagetype", "private"),
            ("limit", 10),
            ("protected", True),
            ("tag", "zeta"),
            ("tag", "alpha"),
            ("marker", ""),
        ],
        JSON,
    ),
    "get-repeated-numeric-values": _spec("GET", "/v3/p/vaults", [("id", 10), ("id", 9), ("offset", 0)], JSON),
    "get-ids-in-path": _spec(
        "GET",
        path_of(
            "/v1/{project_id}/jobs/{job_id}",
            project_id=PROJECT_ID,
            job_id="ff8080814dbd65d7014dbe0d84db0013",
        ),
        headers=JSON,
    ),
    "get-odd-ids-in-path": _spec(
        "GET",
        path_of(
            "/v2/images/{image_id}/members/{member_id}",
            image_id="abc def/ü~x",
            member_id="m:1@2",
        ),
        headers=JSON,
    ),
    "get-trailing-slash": _spec("GET", "/v2/images/", headers=JSON),
    "get-root": _spec("GET", "/", headers=JSON),
    "post-json-body": _spec(
        "POST",
        "/v1/cloudimages/wholeimages/action",
        headers=JSON_UTF8,
        body=json.dumps(
            {
                "name": "whole-ü",
                "instance_id": "i-1",
                "image_tags": [{"key": "k", "value": "v"}],
            },
            ensure_ascii=False,
        ),
    ),
    "delete-with-body": _spec(
        "DELETE",
        "/v1/cloudimages/members",
        headers=JSON_UTF8,
        body=b'{"images": ["a", "b"], "projects": ["p"]}',
    ),
    "delete-without-body": _spec("DELETE", path_of("/v2/images/{image_id}", image_id="img-1"), headers=JSON),
    "put-octet-stream-unsigned-payload": _spec(
        "PUT",
        "/v1/cloudimages/img-1/upload",
        headers={"Content-Type": "application/octet-stream"},
        body=b"\x00\x01binary\xff",
    ),
    "header-with-underscore-is-unsigned": _spec(
        "GET",
        "/v2/images",
        headers={**JSON, "X_Custom_Trace": "abc", "X-Language": "en-us"},
    ),
}
ACCEPTED_CASES: dict[str, SignedRequest] = {name: sdk_sign(**spec) for name, spec in ACCEPTED_SPECS.items()}


@pytest.mark.parametrize("name", sorted(ACCEPTED_CASES))
def test_accepts_sdk_signed_requests(name: str) -> None:
    req = ACCEPTED_CASES[name]
    assert verify(req, SK, NOW, allow_unsigned_payload=_unsigned(name)) == AK


def _unsigned(name: str) -> bool:
    """Whether the SDK leaves the body of this case unsigned (a body neither JSON nor BSON)."""
    return name.endswith("unsigned-payload")


def test_unsigned_payload_header_is_what_the_sdk_sends_for_binary_bodies_and_is_refused_by_default() -> None:
    req = ACCEPTED_CASES["put-octet-stream-unsigned-payload"]
    assert req.headers["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD"
    with pytest.raises(SignatureError, match="UNSIGNED-PAYLOAD"):
        verify(req, SK, NOW)
    assert verify(req, SK, NOW, allow_unsigned_payload=True) == AK


def test_accepts_naive_now_and_small_skew() -> None:
    req = ACCEPTED_CASES["get-ids-in-path"]
    assert verify(req, SK, NOW.replace(tzinfo=None) + timedelta(minutes=14)) == AK
    assert verify(req, SK, NOW - timedelta(minutes=14, seconds=59)) == AK


def test_header_names_and_values_as_servers_present_them() -> None:
    req = sdk_sign("GET", "/v2/images", headers={**JSON, "X-Client-Note": "  naïve value  "})
    # The signer leaves values as UTF-8 bytes seen through latin-1, which is how servers decode them.
    assert req.headers["X-Client-Note"] == "naïve value".encode().decode("latin-1")
    lowered = {k.lower(): v for k, v in req.headers.items()}
    assert verify(replace(req, headers=lowered), SK, NOW) == AK
    # A framework that decodes header bytes as UTF-8 works too.
    decoded = {k: v.encode("latin-1").decode("utf-8") for k, v in req.headers.items()}
    assert verify(replace(req, headers=decoded), SK, NOW) == AK


def test_rejects_wrong_secret() -> None:
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(ACCEPTED_CASES["post-json-body"], SK + "x", NOW)


def test_rejects_altered_body() -> None:
    req = ACCEPTED_CASES["post-json-body"]
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(replace(req, body=req.body.replace(b"i-1", b"i-2")), SK, NOW)
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(replace(req, body=b""), SK, NOW)
    delete = ACCEPTED_CASES["delete-with-body"]
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(replace(delete, body=b'{"images": ["a"], "projects": ["p"]}'), SK, NOW)


def test_rejects_body_that_contradicts_declared_hash() -> None:
    req = sdk_sign(
        "POST",
        "/v1/cloudimages/x/file",
        headers={**JSON, "X-Sdk-Content-Sha256": "0" * 64},
        body=b'{"a": 1}',
    )
    with pytest.raises(SignatureError, match="does not match the request body"):
        verify(req, SK, NOW)


def test_rejects_altered_path() -> None:
    req = ACCEPTED_CASES["get-ids-in-path"]
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(replace(req, path=req.path.replace("0013", "0014")), SK, NOW)
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(replace(req, path=req.path.replace("/v1/", "/v2/")), SK, NOW)


def test_trailing_slash_is_not_significant_but_segments_are() -> None:
    # The signer appends "/" to every path, so "/a" and "/a/" sign alike; extra segments do not.
    req = ACCEPTED_CASES["get-ids-in-path"]
    assert verify(replace(req, path=req.path + "/"), SK, NOW) == AK
    with pytest.raises(SignatureError):
        verify(replace(req, path=req.path + "/x"), SK, NOW)


def test_rejects_altered_query() -> None:
    req = ACCEPTED_CASES["get-with-special-query"]
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(replace(req, query=req.query.replace("limit=10", "limit=11")), SK, NOW)
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(replace(req, query=req.query + "&owner=someone"), SK, NOW)
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(replace(req, query=req.query.replace("&tag=alpha", "")), SK, NOW)
    plain = ACCEPTED_CASES["get-ids-in-path"]
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(replace(plain, query="limit=1"), SK, NOW)


def test_query_order_on_the_wire_does_not_matter() -> None:
    req = ACCEPTED_CASES["get-with-special-query"]
    shuffled = "&".join(reversed(req.query.split("&")))
    assert verify(replace(req, query=shuffled), SK, NOW) == AK


@pytest.mark.parametrize("offset", [timedelta(minutes=16), -timedelta(minutes=16)])
def test_rejects_date_outside_window(offset: timedelta) -> None:
    date = (NOW + offset).strftime("%Y%m%dT%H%M%SZ")
    req = sdk_sign("GET", "/v2/images", headers=JSON, date=date)
    with pytest.raises(SignatureError, match="server time"):
        verify(req, SK, NOW)
    assert verify(req, SK, NOW + offset) == AK


def test_rejects_a_date_changed_after_signing() -> None:
    req = ACCEPTED_CASES["get-ids-in-path"]
    later = (NOW + timedelta(minutes=1)).strftime("%Y%m%dT%H%M%SZ")
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(with_header(req, "X-Sdk-Date", later), SK, NOW)


@pytest.mark.parametrize("algorithm", ["SDK-HMAC-SM3", "V11-HMAC-SHA256", "AWS4-HMAC-SHA256", "Bearer"])
def test_rejects_unknown_algorithm(algorithm: str) -> None:
    req = ACCEPTED_CASES["get-ids-in-path"]
    value = req.headers["Authorization"].replace("SDK-HMAC-SHA256", algorithm, 1)
    with pytest.raises(SignatureError, match="unsupported signing algorithm"):
        verify(with_header(req, "Authorization", value), SK, NOW)


def test_rejects_missing_authorization() -> None:
    req = with_header(ACCEPTED_CASES["get-ids-in-path"], "Authorization", None)
    with pytest.raises(SignatureError, match="Authorization header is missing"):
        verify(req, SK, NOW)
    assert access_key_of(req.headers) is None


def test_rejects_missing_date_header() -> None:
    req = with_header(ACCEPTED_CASES["get-ids-in-path"], "X-Sdk-Date", None)
    with pytest.raises(SignatureError, match="X-Sdk-Date header is missing"):
        verify(req, SK, NOW)


def test_rejects_malformed_date_header() -> None:
    req = with_header(ACCEPTED_CASES["get-ids-in-path"], "X-Sdk-Date", "2024-05-17T08:30:00Z")
    with pytest.raises(SignatureError, match="YYYYMMDDTHHMMSSZ"):
        verify(req, SK, NOW)


@pytest.mark.parametrize("header", ["Host", "X-Project-Id", "Content-Type", "User-Agent"])
def test_rejects_missing_signed_header(header: str) -> None:
    req = sdk_sign(
        "GET",
        "/v2/images",
        headers={**JSON, "User-Agent": "huaweicloud-usdk-python/3.0"},
    )
    with pytest.raises(SignatureError, match=f"signed header '{header.lower()}' is missing"):
        verify(with_header(req, header, None), SK, NOW)


def test_rejects_altered_signed_header() -> None:
    req = ACCEPTED_CASES["get-ids-in-path"]
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(with_header(req, "X-Project-Id", "another-project"), SK, NOW)


def test_unsigned_headers_may_change() -> None:
    req = ACCEPTED_CASES["get-ids-in-path"]
    headers = {
        **req.headers,
        "Accept-Encoding": "gzip",
        "Content-Length": "0",
        "X_Unsigned": "1",
    }
    assert verify(replace(req, headers=headers), SK, NOW) == AK


def test_requires_the_date_to_be_signed() -> None:
    req = ACCEPTED_CASES["get-ids-in-path"]
    _, names, _ = parse_authorization(req.headers["Authorization"])
    value = req.headers["Authorization"].replace(";".join(names), ";".join(n for n in names if n != "x-sdk-date"))
    with pytest.raises(SignatureError, match="must be among the signed headers"):
        verify(with_header(req, "Authorization", value), SK, NOW)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "SDK-HMAC-SHA256",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=xyz",
        "SDK-HMAC-SHA256 Access=AK SignedHeaders=host Signature=" + "a" * 64,
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=, Signature=" + "a" * 64,
        "SDK-HMAC-SHA256 Access=AK, Access=BK, SignedHeaders=host, Signature=" + "a" * 64,
    ],
)
def test_rejects_malformed_authorization(value: str) -> None:
    with pytest.raises(SignatureError):
        parse_authorization(value)
    req = with_header(ACCEPTED_CASES["get-ids-in-path"], "Authorization", value)
    with pytest.raises(SignatureError):
        verify(req, SK, NOW)
    assert access_key_of(req.headers) is None


def test_parse_authorization_and_access_key_of() -> None:
    req = ACCEPTED_CASES["post-json-body"]
    access, names, signature = parse_authorization(req.headers["Authorization"])
    assert access == AK
    assert names == sorted(names)
    assert {"host", "x-sdk-date", "x-project-id", "content-type"} <= set(names)
    assert len(signature) == 64
    assert access_key_of({"authorization": req.headers["Authorization"]}) == AK


def test_signature_error_has_reason() -> None:
    with pytest.raises(SignatureError) as info:
        verify(SignedRequest("GET", "/"), SK, NOW)
    assert info.value.reason == str(info.value)
    assert "Authorization" in info.value.reason


def test_canonical_helpers_match_the_sdk() -> None:
    path = path_of("/v2/images/{id}/members", id="a b/ü")
    request = SdkRequest(resource_path=path, query_params=[("b", "x y"), ("a", "2"), ("a", "1")])
    assert canonical_uri(path) == Signer(_Creds(AK, SK))._process_canonical_uri(request)
    assert canonical_query_string("b=x%20y&a=2&a=1") == Signer.process_canonical_query_string(request)
    assert canonical_uri("") == "/"


@pytest.mark.parametrize("name", sorted(ACCEPTED_CASES))
def test_own_signer_matches_the_sdk(name: str) -> None:
    sdk_req = ACCEPTED_CASES[name]
    unsigned = {k: v for k, v in sdk_req.headers.items() if k != "Authorization"}
    ours = sign(replace(sdk_req, headers=unsigned), AK, SK, NOW)
    assert verify(replace(sdk_req, headers=ours), SK, NOW, allow_unsigned_payload=_unsigned(name)) == AK
    if name != "get-repeated-numeric-values":  # the SDK sorts numbers as numbers
        assert ours["Authorization"] == sdk_req.headers["Authorization"]


def test_from_target() -> None:
    req = SignedRequest.from_target("GET", "/v2/images?limit=1&marker=a%20b", {"Host": HOST})
    assert (req.path, req.query) == ("/v2/images", "limit=1&marker=a%20b")
    absolute = SignedRequest.from_target("GET", "http://h:1/v2/images?x=1", {})
    assert (absolute.path, absolute.query) == ("/v2/images", "x=1")


# --- over HTTP ---------------------------------------------------------------------------------


@dataclass
class _Recorder:
    secrets: dict[str, str]
    outcomes: list[tuple[str, str, bool, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


SHOW_JOB_BODY = {
    "status": "SUCCESS",
    "job_id": "ff8080814dbd65d7014dbe0d84db0013",
    "job_type": "createWholeImageJob",
    "begin_time": "1611027410000",
    "end_time": "1611027480000",
    "error_code": None,
    "fail_reason": None,
    "entities": {
        "image_id": "bd4f5a5e-ff6a-4e5d-8e0b-5d6c0c1d4c9e",
        "process_percent": 1.0,
    },
}


def _make_handler(recorder: _Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = SignedRequest.from_target(self.command, self.path, dict(self.headers.items()), body)
            access_key = access_key_of(req.headers)
            try:
                if access_key is None or access_key not in recorder.secrets:
                    raise SignatureError("unknown or missing access key")
                unsigned_body = req.headers.get("X-Sdk-Content-Sha256") == "UNSIGNED-PAYLOAD"
                verify(req, recorder.secrets[access_key], datetime.now(UTC), allow_unsigned_payload=unsigned_body)
            except SignatureError as error:
                with recorder.lock:
                    recorder.outcomes.append((self.command, self.path, False, error.reason))
                self._reply(
                    401,
                    {
                        "error_code": "APIGW.0301",
                        "error_msg": f"Incorrect IAM authentication information: {error.reason}",
                    },
                )
                return
            with recorder.lock:
                recorder.outcomes.append((self.command, self.path, True, access_key))
            if self.command == "GET" and req.path.startswith(f"/v1/{PROJECT_ID}/jobs/"):
                self._reply(200, {**SHOW_JOB_BODY, "job_id": req.path.rsplit("/", 1)[1]})
            elif self.command == "GET" and req.path == "/v2/cloudimages":
                self._reply(200, {"images": [{"id": "img-1", "name": "n", "min_disk": 40}]})
            else:
                self._reply(200, {"job_id": "job-1"})

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Request-Id", "req-123")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, _Recorder]]:
    recorder = _Recorder(secrets={AK: SK})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(recorder))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", recorder
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _ims_client(url: str, sk: str = SK) -> Any:
    from huaweicloudsdkims.v2 import ImsClient

    return ImsClient.new_builder().with_credentials(BasicCredentials(AK, sk, PROJECT_ID)).with_endpoints([url]).build()


def test_sdk_signed_requests_verify_over_the_wire(
    server: tuple[str, _Recorder],
) -> None:
    """The requests library sends the SDK's signed request; the server sees the raw target and headers."""
    url, recorder = server
    host = url.removeprefix("http://")
    for name, spec in sorted(ACCEPTED_SPECS.items()):
        now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        case = sdk_sign(**spec, host=host, date=now)
        target = case.path + (f"?{case.query}" if case.query else "")
        response = requests.request(
            case.method,
            url + target,
            headers=dict(case.headers),
            data=case.body,
            timeout=10,
        )
        assert response.status_code == 200, (name, response.text)
    assert [ok for _, _, ok, _ in recorder.outcomes] == [True] * len(ACCEPTED_CASES)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_ims_sdk_client_end_to_end(server: tuple[str, _Recorder]) -> None:
    from huaweicloudsdkims.v2 import (
        BatchAddMembersRequestBody,
        BatchDeleteMembersRequest,
        ListImagesRequest,
        ShowJobRequest,
    )

    url, recorder = server
    client = _ims_client(url)

    job = client.show_job(ShowJobRequest(job_id="ff8080814dbd65d7014dbe0d84db0013"))
    assert job.status_code == 200
    assert job.status == "SUCCESS"
    assert job.job_id == "ff8080814dbd65d7014dbe0d84db0013"
    assert job.entities.image_id == "bd4f5a5e-ff6a-4e5d-8e0b-5d6c0c1d4c9e"
    assert job.entities.process_percent == 1.0

    images = client.list_images(
        ListImagesRequest(name="ü name/with+plus&amp", imagetype="private", limit=5, protected=False)
    )
    assert images.images[0].id == "img-1"
    assert images.images[0].min_disk == 40

    deleted = client.batch_delete_members(
        BatchDeleteMembersRequest(body=BatchAddMembersRequestBody(images=["img-1"], projects=["p2"]))
    )
    assert deleted.job_id == "job-1"

    assert [(method, ok) for method, _, ok, _ in recorder.outcomes] == [
        ("GET", True),
        ("GET", True),
        ("DELETE", True),
    ]
    assert recorder.outcomes[0][1] == f"/v1/{PROJECT_ID}/jobs/ff8080814dbd65d7014dbe0d84db0013"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_ims_sdk_client_with_wrong_secret_gets_client_error(
    server: tuple[str, _Recorder],
) -> None:
    from huaweicloudsdkims.v2 import ShowJobRequest

    url, recorder = server
    client = _ims_client(url, sk="not-the-secret")
    with pytest.raises(ClientRequestException) as info:
        client.show_job(ShowJobRequest(job_id="j-1"))
    assert info.value.status_code == 401
    assert info.value.error_code == "APIGW.0301"
    assert "signature does not match" in info.value.error_msg
    assert info.value.request_id == "req-123"
    assert recorder.outcomes[0][2] is False


def test_cbr_sdk_client_end_to_end(server: tuple[str, _Recorder]) -> None:
    from huaweicloudsdkcbr.v1 import CbrClient, ListVaultRequest

    url, recorder = server
    client = (
        CbrClient.new_builder().with_credentials(BasicCredentials(AK, SK, PROJECT_ID)).with_endpoints([url]).build()
    )
    client.list_vault(ListVaultRequest(id=["v-b", "v-a"], limit=10, name="vault one"))
    assert recorder.outcomes[0][2] is True, recorder.outcomes
    assert recorder.outcomes[0][1].startswith(f"/v3/{PROJECT_ID}/vaults?")


def test_host_must_be_signed() -> None:
    unsigned_host = {"X-Project-Id": PROJECT_ID, "Content-Type": "application/json"}
    signed = sign(SignedRequest("GET", "/v2/cloudimages", "limit=1", unsigned_host), AK, SK, NOW)
    with pytest.raises(SignatureError, match="Host header must be among the signed headers"):
        verify(SignedRequest("GET", "/v2/cloudimages", "limit=1", {**signed, "Host": HOST}), SK, NOW)


def test_a_query_is_canonicalised_as_a_form_is_read() -> None:
    """``+`` is a space, as the application parses the query; a literal plus arrives as ``%2B``."""
    headers = {"Host": HOST}
    over_space = sign(SignedRequest("GET", "/v2/cloudimages", "name=a%20b", headers), AK, SK, NOW)
    for sent in ("name=a+b", "name=a%20b"):
        assert verify(SignedRequest("GET", "/v2/cloudimages", sent, over_space), SK, NOW) == AK
    over_plus = sign(SignedRequest("GET", "/v2/cloudimages", "name=a%2Bb", headers), AK, SK, NOW)
    assert verify(SignedRequest("GET", "/v2/cloudimages", "name=a%2Bb", over_plus), SK, NOW) == AK
    with pytest.raises(SignatureError):
        verify(SignedRequest("GET", "/v2/cloudimages", "name=a+b", over_plus), SK, NOW)
