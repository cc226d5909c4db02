"""Request authentication: AK/SK signatures as the Huawei Cloud SDKs make them, and project checks."""

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request

from ims_shared.refusal import Refusal
from ims_shared.signing import SignatureError, SignedRequest, access_key_of, verify
from ims_shared.tenants import Tenant, TenantCatalog

MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Caller:
    tenant: Tenant
    project_id: str
    region: str


async def authenticate(
    request: Request,
    catalog: TenantCatalog,
    region: str,
    project_id: str | None,
    *,
    allow_unsigned_body: bool = False,
) -> Caller:
    """Verify the signature and that the project belongs to the caller's tenant in this region. The body must be
    signed unless ``allow_unsigned_body`` (the SDKs leave a body that is neither JSON nor BSON unsigned)."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise Refusal("APIGW.0201", f"request body larger than {MAX_BODY_BYTES} bytes", status=413)
    headers = dict(request.headers)
    access_key = access_key_of(headers)
    if access_key is None:
        raise Refusal("APIGW.0301", "missing or malformed Authorization header (SDK-HMAC-SHA256 expected)", status=401)
    tenant = catalog.by_access_key(access_key)
    if tenant is None:
        raise Refusal("APIGW.0301", "unknown access key", status=401)
    signed = SignedRequest(
        method=request.method,
        path=request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?")[0],
        query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
    )
    try:
        verify(signed, tenant.secret_key, datetime.now(UTC), allow_unsigned_payload=allow_unsigned_body)
    except SignatureError as exc:
        raise Refusal("APIGW.0301", f"signature rejected: {exc.reason}", status=401) from exc
    project = project_id or headers.get("x-project-id")
    if not project:
        raise Refusal("APIGW.0302", "no project id in the path or the X-Project-Id header", status=403)
    if headers.get("x-project-id") and headers["x-project-id"] != project:
        raise Refusal("APIGW.0302", "X-Project-Id does not match the project in the path", status=403)
    if tenant.project_in(region) != project:
        raise Refusal("APIGW.0302", f"project {project} does not belong to this tenant in region {region}", status=403)
    return Caller(tenant=tenant, project_id=project, region=region)
