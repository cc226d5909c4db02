"""Verification of requests signed with an access key / secret key pair (``SDK-HMAC-SHA256``).

This is the scheme the Huawei Cloud SDKs use when a client is built with ``BasicCredentials(ak, sk, ...)``:

    Authorization: SDK-HMAC-SHA256 Access=<ak>, SignedHeaders=<h1;h2;...>, Signature=<hex>
    X-Sdk-Date: 20240101T120000Z

The signature is ``hex(HMAC-SHA256(secret_key, string_to_sign))`` where::

    string_to_sign    = "SDK-HMAC-SHA256" "\\n" <X-Sdk-Date> "\\n" hex(SHA256(canonical_request))
    canonical_request = METHOD "\\n" canonical_uri "\\n" canonical_query "\\n"
                        canonical_headers "\\n" signed_headers "\\n" payload_hash

* ``canonical_uri``: the path is percent-decoded, split on ``/``, every segment is percent-encoded again
  (everything except ``A-Z a-z 0-9 - _ . ~``) and the segments are re-joined; a trailing ``/`` is added
  when the result does not already end with one.
* ``canonical_query``: ``key=value`` pairs, both percent-encoded the same way, sorted by (key, value)
  and joined with ``&``. Repeated keys give one pair per value.
* ``canonical_headers``: ``name:value`` for every signed header, in the order of ``SignedHeaders``
  (lower-case names, sorted by the signer), values stripped, each line ending with ``\\n``.
* ``payload_hash``: the SHA-256 of an empty string when the body is empty; otherwise the value of the
  ``X-Sdk-Content-Sha256`` header when present (the SDK sends ``UNSIGNED-PAYLOAD`` for bodies that are
  neither JSON nor BSON: refused unless the verifier allows it), else the hex SHA-256 of the body.
* ``canonical_query``: decoded as a form (``+`` is a space), as the application reads the query.
* ``X-Sdk-Date`` and ``Host`` must be among the signed headers.

The module uses the standard library only, so a server can verify requests without the SDK installed.
With an ASGI server pass ``scope["raw_path"]`` and ``scope["query_string"]`` (decoded as latin-1) as
``path`` and ``query``: the verifier needs the request target exactly as it was received.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote, unquote_plus

__all__ = [
    "ALGORITHM",
    "AUTHORIZATION_HEADER",
    "CONTENT_SHA256_HEADER",
    "DATE_FORMAT",
    "DATE_HEADER",
    "UNSIGNED_PAYLOAD",
    "SignatureError",
    "SignedRequest",
    "access_key_of",
    "canonical_query_string",
    "canonical_request",
    "canonical_uri",
    "parse_authorization",
    "sign",
    "verify",
]

ALGORITHM = "SDK-HMAC-SHA256"
AUTHORIZATION_HEADER = "Authorization"
DATE_HEADER = "X-Sdk-Date"
CONTENT_SHA256_HEADER = "X-Sdk-Content-Sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_DATE_RE = re.compile(r"^\d{8}T\d{6}Z$")
_HEX64_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^`|~0-9A-Za-z-]+$")


class SignatureError(Exception):
    """The request is not correctly signed; ``reason`` says why, in words fit for an error response."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SignedRequest:
    """A request as received.

    ``path`` and ``query`` are the raw, still percent-encoded parts of the request target (no ``?``);
    ``headers`` may be any mapping, names are matched case-insensitively.
    """

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def from_target(cls, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> SignedRequest:
        """Build from a raw request target such as ``/v1/p/jobs/1?a=b`` (as ``http.server`` gives it)."""
        if target.startswith(("http://", "https://")):
            # absolute-form target: drop scheme and authority
            rest = target.split("://", 1)[1]
            slash = rest.find("/")
            query_mark = rest.find("?")
            if slash == -1 or (query_mark != -1 and query_mark < slash):
                target = "/" + (rest[query_mark:] if query_mark != -1 else "")
            else:
                target = rest[slash:]
        path, _, query = target.partition("?")
        path = path.split("#", 1)[0]
        query = query.split("#", 1)[0]
        return cls(method=method, path=path, query=query, headers=headers, body=body)


def _url_encode(value: str) -> str:
    return quote(value, safe="~")


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        lowered[str(name).lower()] = _header_text(str(value))
    return lowered


def _header_text(value: str) -> str:
    """Undo the latin-1 decoding HTTP servers apply, so non-ASCII values compare as the signer saw them."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _find_header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            return str(value)
    return None


def parse_authorization(value: str) -> tuple[str, list[str], str]:
    """Split an ``Authorization`` value into (access key, signed header names, signature).

    Raises SignatureError when the value is malformed or uses another algorithm than SDK-HMAC-SHA256.
    """
    text = value.strip()
    if not text:
        raise SignatureError("the Authorization header is empty")
    algorithm, _, params_text = text.partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(
            f"unsupported signing algorithm {algorithm!r} in the Authorization header; only {ALGORITHM} is accepted"
        )
    params: dict[str, str] = {}
    for part in params_text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, item = part.partition("=")
        if not sep:
            raise SignatureError(f"malformed Authorization header: {part!r} is not of the form Key=Value")
        key = key.strip()
        if key in params:
            raise SignatureError(f"malformed Authorization header: {key} is given twice")
        params[key] = item.strip()
    missing = [key for key in ("Access", "SignedHeaders", "Signature") if not params.get(key)]
    if missing:
        raise SignatureError("malformed Authorization header: missing " + ", ".join(missing))
    signed_headers = [name.strip().lower() for name in params["SignedHeaders"].split(";")]
    if any(not _HEADER_NAME_RE.match(name) for name in signed_headers):
        raise SignatureError("malformed Authorization header: SignedHeaders is not a ;-separated list of names")
    signature = params["Signature"]
    if not _HEX64_RE.match(signature):
        raise SignatureError("malformed Authorization header: Signature is not 64 hexadecimal digits")
    return params["Access"], signed_headers, signature.lower()


def access_key_of(headers: Mapping[str, str]) -> str | None:
    """The access key named in the ``Authorization`` header, or None when it is absent or malformed."""
    value = _find_header(headers, AUTHORIZATION_HEADER)
    if value is None:
        return None
    try:
        access_key, _, _ = parse_authorization(value)
    except SignatureError:
        return None
    return access_key


def canonical_uri(raw_path: str) -> str:
    """The canonical form of a raw (percent-encoded) request path."""
    segments = unquote(raw_path).split("/")
    url_path = "/".join(_url_encode(segment) for segment in segments)
    if not url_path.endswith("/"):
        url_path += "/"
    return url_path


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The decoded pairs of a raw query, decoded as the application reads them (form encoding: ``+`` is a space):
    what is verified is what is used. The SDK sends a space as ``+`` or ``%20`` and a plus as ``%2B``."""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


def _join_pairs(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{_url_encode(key)}={_url_encode(value)}" for key, value in pairs)


def canonical_query_string(raw_query: str) -> str:
    """The canonical form of a raw query string: decoded pairs sorted by (key, value), re-encoded."""
    return _join_pairs(sorted(_query_pairs(raw_query)))


def _query_candidates(raw_query: str) -> list[str]:
    # The signer sorts the pairs before converting the values to text, so repeated numeric values
    # (e.g. 9 and 10) are signed in numeric order, which is also the order they are sent in.
    # The received order is therefore accepted as a second candidate.
    pairs = _query_pairs(raw_query)
    sorted_form = _join_pairs(sorted(pairs))
    received_form = _join_pairs(pairs)
    return [sorted_form] if received_form == sorted_form else [sorted_form, received_form]


def _payload_hash(headers: Mapping[str, str], body: bytes, allow_unsigned_payload: bool) -> str:
    if not body:
        return _EMPTY_SHA256
    declared = (_find_header(headers, CONTENT_SHA256_HEADER) or "").strip()
    if declared:
        if declared == UNSIGNED_PAYLOAD:
            if not allow_unsigned_payload:
                raise SignatureError(f"{CONTENT_SHA256_HEADER}: {UNSIGNED_PAYLOAD} is not accepted here")
            return declared
        if declared.lower() != hashlib.sha256(body).hexdigest():
            raise SignatureError(f"the {CONTENT_SHA256_HEADER} header does not match the request body")
        return declared
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    req: SignedRequest,
    signed_headers: list[str],
    *,
    query: str | None = None,
    allow_unsigned_payload: bool = True,
) -> str:
    """The canonical request the signer hashed; ``query`` overrides the canonical query string."""
    lowered = _lower_headers(req.headers)
    lines = []
    for name in signed_headers:
        value = lowered.get(name)
        if value is None:
            raise SignatureError(f"the signed header {name!r} is missing from the request")
        lines.append(f"{name}:{value.strip()}")
    canonical_headers = "\n".join(lines) + "\n"
    return "\n".join(
        [
            req.method.upper(),
            canonical_uri(req.path),
            canonical_query_string(req.query) if query is None else query,
            canonical_headers,
            ";".join(signed_headers),
            _payload_hash(req.headers, req.body, allow_unsigned_payload),
        ]
    )


def _signature(canonical: str, date_text: str, secret_key: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{date_text}\n{digest}"
    return hmac.new(secret_key.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _request_time(headers: Mapping[str, str]) -> datetime:
    date_text = _find_header(headers, DATE_HEADER)
    if date_text is None:
        raise SignatureError(f"the {DATE_HEADER} header is missing")
    date_text = date_text.strip()
    if not _DATE_RE.match(date_text):
        raise SignatureError(f"the {DATE_HEADER} header {date_text!r} is not of the form YYYYMMDDTHHMMSSZ")
    try:
        return datetime.strptime(date_text, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError(f"the {DATE_HEADER} header {date_text!r} is not a valid date") from None


def verify(
    req: SignedRequest,
    secret_key: str,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=15),
    *,
    allow_unsigned_payload: bool = False,
) -> str:
    """Check the request's signature with ``secret_key``; return the access key it was signed with.

    ``now`` is the server time (naive values are taken as UTC). The request time in ``X-Sdk-Date`` must
    be within ``max_skew`` of it; ``X-Sdk-Date`` and ``Host`` must be signed. A body must be signed unless
    ``allow_unsigned_payload`` (``UNSIGNED-PAYLOAD``, which the SDK sends for bodies that are neither JSON nor BSON).
    Raises SignatureError with the reason on any failure.
    """
    authorization = _find_header(req.headers, AUTHORIZATION_HEADER)
    if authorization is None:
        raise SignatureError("the Authorization header is missing")
    access_key, signed_headers, signature = parse_authorization(authorization)
    for required in (DATE_HEADER, "Host"):
        if required.lower() not in signed_headers:
            raise SignatureError(f"the {required} header must be among the signed headers")

    request_time = _request_time(req.headers)
    server_time = _as_utc(now)
    if abs(server_time - request_time) > max_skew:
        raise SignatureError(
            f"the request time {request_time.strftime(DATE_FORMAT)} ({DATE_HEADER}) is more than "
            f"{int(max_skew.total_seconds())} seconds away from the server time {server_time.strftime(DATE_FORMAT)}"
        )
    date_text = request_time.strftime(DATE_FORMAT)

    for query in _query_candidates(req.query):
        canonical = canonical_request(
            req,
            signed_headers,
            query=query,
            allow_unsigned_payload=allow_unsigned_payload,
        )
        if hmac.compare_digest(_signature(canonical, date_text, secret_key), signature):
            return access_key
    raise SignatureError("the signature does not match; check the secret key and what was signed")


def sign(
    req: SignedRequest,
    access_key: str,
    secret_key: str,
    now: datetime,
) -> dict[str, str]:
    """Sign ``req`` the way the SDK does; return the headers to send (its headers plus X-Sdk-Date and
    Authorization). Every header of ``req`` whose name has no underscore is signed, so ``req`` should
    carry Host. Intended for clients inside this project and for tests."""
    headers = {name: str(value) for name, value in req.headers.items()}
    if _find_header(headers, DATE_HEADER) is None:
        headers[DATE_HEADER] = _as_utc(now).strftime(DATE_FORMAT)
    for name in list(headers):
        if name.lower() == AUTHORIZATION_HEADER.lower():
            del headers[name]
    date_text = _request_time(headers).strftime(DATE_FORMAT)
    signed_headers = sorted(name.lower() for name in headers if "_" not in name)
    to_sign = SignedRequest(
        method=req.method,
        path=req.path,
        query=req.query,
        headers=headers,
        body=req.body,
    )
    canonical = canonical_request(to_sign, signed_headers)
    signature = _signature(canonical, date_text, secret_key)
    headers[AUTHORIZATION_HEADER] = (
        f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed_headers)}, Signature={signature}"
    )
    return headers
