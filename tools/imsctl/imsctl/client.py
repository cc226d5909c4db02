"""A small AK/SK-signed HTTP client for this project's APIs (billing has no official SDK; also used by tools)."""

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from ims_shared.signing import SignedRequest, sign


def prepare(
    base_url: str,
    credentials: tuple[str, str],
    project_id: str,
    method: str,
    path: str,
    query: dict[str, Any] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[str, bytes, dict[str, str]]:
    """The URL, body and signed headers of a request to this project's APIs (``credentials``: AK, SK). A path in
    ``base_url`` (a reverse proxy's prefix) is signed as part of the request's path."""
    raw = b"" if body is None else json.dumps(body).encode()
    query_string = urlencode(sorted((k, str(v)) for k, v in (query or {}).items() if v is not None))
    base = urlsplit(base_url)
    full_path = base.path.rstrip("/") + path
    to_sign = {
        "Host": base.netloc,
        "Content-Type": "application/json",
        "X-Project-Id": project_id,
        **(headers or {}),
    }
    request = SignedRequest(method=method, path=full_path, query=query_string, headers=to_sign, body=raw)
    signed = sign(request, credentials[0], credentials[1], datetime.now(UTC))
    url = f"{base.scheme}://{base.netloc}{full_path}" + (f"?{query_string}" if query_string else "")
    return url, raw, signed


class SignedClient:
    def __init__(self, base_url: str, access_key: str, secret_key: str, project_id: str, timeout_s: float = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.project_id = project_id
        self._credentials = (access_key, secret_key)
        self._http = httpx.Client(timeout=timeout_s)

    def request(
        self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None
    ) -> httpx.Response:
        url, raw, headers = prepare(self.base_url, self._credentials, self.project_id, method, path, query, body)
        return self._http.request(method, url, content=raw, headers=headers)

    def get(self, path: str, **query: Any) -> httpx.Response:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.request("POST", path, body=body)

    def close(self) -> None:
        self._http.close()
