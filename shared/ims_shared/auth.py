"""Request authentication: AK/SK signatures as the Huawei Cloud SDKs make them, and project checks."""

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request

from ims_shared.errors import ApiError
from ims_shared.signing import SignatureError, SignedRequest, access_key_of, verify
from ims_shared.tenants import Tenant, TenantCatalog

MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Caller:
    tenant: Tenant
    project_id: str
    region: str


async def authenticate(request: Request, catalog: TenantCatalog, region: str, project_id: str | None) -> Caller:
    """Verify the signature and that the project belongs to the caller's tenant in this region."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "APIGW.0201", f"request body larger than {MAX_BODY_BYTES} bytes")
    headers = dict(request.headers)
    access_key = access_key_of(headers)
    if access_key is None:
        raise ApiError(401, "APIGW.0301", "missing or malformed Authorization header (SDK-HMAC-SHA256 expected)")
    tenant = catalog.by_access_key(access_key)
    if tenant is None:
        raise ApiError(401, "APIGW.0301", "unknown access key")
    signed = SignedRequest(
        method=request.method,
        path=request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?")[0],
        query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
    )
    try:
        verify(signed, tenant.secret_key, datetime.now(UTC))
    except SignatureError as exc:
        raise ApiError(401, "APIGW.0301", f"signature rejected: {exc.reason}") from exc
    project = project_id or headers.get("x-project-id")
    if not project:
        raise ApiError(403, "APIGW.0302", "no project id in the path or the X-Project-Id header")
    if headers.get("x-project-id") and headers["x-project-id"] != project:
        raise ApiError(403, "APIGW.0302", "X-Project-Id does not match the project in the path")
    if tenant.project_in(region) != project:
        raise ApiError(403, "APIGW.0302", f"project {project} does not belong to this tenant in region {region}")
    return Caller(tenant=tenant, project_id=project, region=region)
