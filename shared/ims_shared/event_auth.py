"""Authenticated events: every Kafka record carries who produced it, and a consumer checks it before anything else.

A record's ``ims-authorization`` header is the HTTP API's scheme over the record's value (the whole structured
CloudEvent, as bytes)::

    ims-authorization: SDK-HMAC-SHA256 Access=<access key>, Signature=<hex HMAC-SHA256(secret key, value)>

The access key names a principal of the credentials file (``ims_shared.tenants``): a tenant, an operator integration
(an outside system such as a billing or backup system) or a service. What each may produce is the contract's
(``EventData.producers``): a tenant the types its own systems produce, for its own
projects in the event's region; an integration the types the file lists for it, for any project; a service the
types it owns. A type is accepted only on its own topic. A record that fails is dead-lettered by the consumer with
the reason ``unauthenticated`` or ``forbidden`` and the principal, and changes nothing.
"""

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Literal

from ims_shared.events.envelope import CloudEvent
from ims_shared.events.registry import EVENT_TYPES
from ims_shared.tenants import TenantCatalog
from ims_shared.topics import topic_for

AUTH_HEADER = "ims-authorization"
ALGORITHM = "SDK-HMAC-SHA256"
PrincipalKind = Literal["tenant", "integration", "service"]


def signature(secret_key: str, value: bytes) -> str:
    return hmac.new(secret_key.encode(), value, hashlib.sha256).hexdigest()


def authorization(access_key: str, secret_key: str, value: bytes) -> str:
    """The ``ims-authorization`` header value of a record whose value is ``value``."""
    return f"{ALGORITHM} Access={access_key}, Signature={signature(secret_key, value)}"


@dataclass(frozen=True)
class EventSigner:
    """Signs the records one principal produces (a service its outbox rows, a tool what it produces by hand)."""

    access_key: str
    secret_key: str

    def header(self, value: bytes) -> tuple[str, bytes]:
        return AUTH_HEADER, authorization(self.access_key, self.secret_key, value).encode()


class Rejected(Exception):
    """A record that is not authenticated, or not allowed: ``reason`` is ``unauthenticated`` or ``forbidden``."""

    def __init__(self, reason: Literal["unauthenticated", "forbidden"], principal: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.principal = principal
        self.detail = detail


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    name: str
    access_key: str
    produces: frozenset[str] | None  # an integration's listed types; None: as the contract says for its kind
    projects: frozenset[tuple[str, str]] = frozenset()  # a tenant's (region, project) pairs

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


def _header(headers: Any) -> bytes | None:
    for key, value in headers or ():
        if key == AUTH_HEADER:
            return value if isinstance(value, bytes) else None
    return None


def _parse(value: bytes) -> tuple[str, str]:
    """(access key, signature) of a header value, or ValueError saying what is malformed."""
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError("the header is not ASCII") from exc
    algorithm, _, rest = text.partition(" ")
    if algorithm != ALGORITHM:
        raise ValueError(f"the algorithm must be {ALGORITHM}")
    params: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep or key in params:
            raise ValueError("expected 'Access=<access key>, Signature=<hex>'")
        params[key] = item.strip()
    if set(params) != {"Access", "Signature"} or not params["Access"]:
        raise ValueError("expected 'Access=<access key>, Signature=<hex>'")
    if len(params["Signature"]) != 64:
        raise ValueError("the signature must be 64 hexadecimal digits")
    return params["Access"], params["Signature"].lower()


class EventAuthority:
    """Who produced a record (``authenticate``) and whether they may (``authorize``), from the credentials file."""

    def __init__(self, credentials: TenantCatalog) -> None:
        self._keys: dict[str, tuple[str, Principal]] = {}
        for tenant in credentials.tenants:
            projects = frozenset(tenant.projects.items())
            self._add(
                tenant.access_key,
                tenant.secret_key,
                Principal("tenant", tenant.name, tenant.access_key, None, projects),
            )
        for system in credentials.integrations:
            principal = Principal("integration", system.name, system.access_key, frozenset(system.produces))
            self._add(system.access_key, system.secret_key, principal)
        for service in credentials.services:
            self._add(
                service.access_key, service.secret_key, Principal("service", service.name, service.access_key, None)
            )

    def _add(self, access_key: str, secret_key: str, principal: Principal) -> None:
        if access_key in self._keys:
            raise ValueError(f"access key {access_key} is given to two principals of the credentials file")
        self._keys[access_key] = (secret_key, principal)

    def authenticate(self, value: bytes | None, headers: Any) -> Principal:
        """The principal that signed this record, or ``Rejected`` (unauthenticated)."""
        header = _header(headers)
        if header is None:
            raise Rejected("unauthenticated", "none", f"no {AUTH_HEADER} header")
        try:
            access_key, given = _parse(header)
        except ValueError as exc:
            raise Rejected("unauthenticated", "none", f"malformed {AUTH_HEADER} header: {exc}") from None
        known = self._keys.get(access_key)
        if known is None:
            raise Rejected("unauthenticated", "unknown", "unknown access key")
        secret_key, principal = known
        if not hmac.compare_digest(signature(secret_key, value or b""), given):
            raise Rejected("unauthenticated", principal.label, "the signature does not match the record's value")
        return principal

    def authorize(self, principal: Principal, topic: str, event: CloudEvent) -> None:
        """``Rejected`` (forbidden) unless ``principal`` may produce ``event`` on ``topic``."""
        model = EVENT_TYPES.get(event.type)
        if model is None:
            return  # not a type of the contract: the contract check refuses it with its own reason
        own_topic = topic_for(model.topic_kind, event.region)
        if topic != own_topic:
            raise Rejected("forbidden", principal.label, f"{event.type} belongs on {own_topic}, not {topic}")
        producers = model.producers
        if principal.kind == "service":
            allowed = principal.name in producers.services
        elif principal.kind == "integration":
            allowed = principal.produces is not None and event.type in principal.produces
        else:
            allowed = producers.tenants
            if allowed and (event.region, event.projectid) not in principal.projects:
                raise Rejected(
                    "forbidden",
                    principal.label,
                    f"project {event.projectid!r} is not the tenant's project in region {event.region}",
                )
        if not allowed:
            raise Rejected("forbidden", principal.label, f"a {principal.kind} may not produce {event.type}")
