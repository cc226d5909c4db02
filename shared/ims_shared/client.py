"""A small AK/SK-signed HTTP client for this project's APIs (billing has no official SDK; also used by tools)."""

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from ims_shared.signing import SignedRequest, sign


class SignedClient:
    def __init__(self, base_url: str, access_key: str, secret_key: str, project_id: str, timeout_s: float = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.project_id = project_id
        self._access_key = access_key
        self._secret_key = secret_key
        self._http = httpx.Client(timeout=timeout_s)

    def request(
        self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None
    ) -> httpx.Response:
        raw = b"" if body is None else json.dumps(body).encode()
        query_string = urlencode(sorted((k, str(v)) for k, v in (query or {}).items() if v is not None))
        headers = {
            "Host": urlsplit(self.base_url).netloc,
            "Content-Type": "application/json",
            "X-Project-Id": self.project_id,
        }
        signed = sign(
            SignedRequest(method=method, path=path, query=query_string, headers=headers, body=raw),
            self._access_key,
            self._secret_key,
            datetime.now(UTC),
        )
        url = f"{self.base_url}{path}" + (f"?{query_string}" if query_string else "")
        return self._http.request(method, url, content=raw, headers=signed)

    def get(self, path: str, **query: Any) -> httpx.Response:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.request("POST", path, body=body)

    def close(self) -> None:
        self._http.close()
