"""The HTTP API of billing-service: a tenant's account, its top-ups and its bill.

Billing is global: a caller may name its tenant's project of ANY region; every project of a tenant sees the
tenant's one account.
"""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from billing_service import repository
from billing_service.context import BillingService, Service, Who
from billing_service.domain import IMAGE_PRICE, Account, grace_ends_at, release_at
from billing_service.errors import ACCOUNT_NOT_FOUND, BAD_REQUEST
from billing_service.ledger import top_up
from billing_service.money import parse_top_up, show
from ims_shared.auth import Caller
from ims_shared.refusal import Refusal

router = APIRouter()

IDEMPOTENCY_HEADER = "idempotency-key"
MAX_IDEMPOTENCY_KEY = 64
DEFAULT_PAGE, MAX_PAGE = 100, 1000


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def account_view(account: Account, currency: str, billing: BillingService) -> dict[str, Any]:
    ends = release_at(account, billing.policy)
    return {
        "account_id": account.account_id,
        "balance": show(account.balance),
        "currency": currency,
        "state": account.state,
        "state_since": _time(account.state_since),
        "grace_ends_at": _time(grace_ends_at(account, billing.policy)),
        "frozen_ends_at": _time(ends),
        "release_at": _time(ends),
    }


def line_view(row: dict[str, Any], currency: str) -> dict[str, Any]:
    if row["kind"] == "full_ecs_image":
        note = f"full-ECS image {row['image_id']} is free of charge; its backup {row['backup_id']} is billed"
    else:
        note = f"storage of CBR backup {row['backup_id']}"
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "backup_id": row["backup_id"],
        "image_id": row["image_id"],
        "region": row["region"],
        "project_id": row["project_id"],
        "period_start": _time(row["period_start"]),
        "period_end": _time(row["period_end"]),
        "quantity_gb_hours": show(row["quantity_gb_hours"]),
        "unit_price": show(row["unit_price"]),
        "amount": show(row["amount"]),
        "currency": currency,
        "description": note,
    }


async def _account(service: BillingService, who: Caller) -> tuple[Account, str]:
    found = await repository.get_account(service.database.pool, who.tenant.account_id)
    if found is None:
        raise Refusal(ACCOUNT_NOT_FOUND, f"account {who.tenant.account_id} not found", status=404)
    return found


@router.get("/v1/{project_id}/billing/account")
async def show_account(project_id: str, service: Service, who: Who) -> dict[str, Any]:
    account, currency = await _account(service, who)
    return {"account": account_view(account, currency, service)}


@router.post("/v1/{project_id}/billing/account/top-ups")
async def add_top_up(request: Request, project_id: str, service: Service, who: Who) -> JSONResponse:
    amount = parse_top_up(await request.body())
    key = request.headers.get(IDEMPOTENCY_HEADER) or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise Refusal(BAD_REQUEST, f"the Idempotency-Key header is longer than {MAX_IDEMPOTENCY_KEY} characters")
    await _account(service, who)
    async with service.database.transaction() as conn:
        credit, replayed = await top_up(
            conn,
            service.emitter,
            service,
            account_id=who.tenant.account_id,
            project_id=who.project_id,
            amount=amount,
            idempotency_key=key,
        )
    account, currency = await _account(service, who)
    body = {
        "top_up": {"id": str(credit.id), "amount": show(credit.amount), "created_at": _time(credit.created_at)},
        "account": account_view(account, currency, service),
    }
    return JSONResponse(body, status_code=200 if replayed else 201)


def _page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise Refusal(BAD_REQUEST, f"limit must be an integer from 1 to {MAX_PAGE}; got {raw!r}")
    return int(raw)


def _marker(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise Refusal(BAD_REQUEST, f"marker must be the id of a bill line; got {raw!r}")
    return int(raw)


@router.get("/v1/{project_id}/billing/lines")
async def list_lines(
    project_id: str, service: Service, who: Who, limit: str | None = None, marker: str | None = None
) -> dict[str, Any]:
    size, after = _page_size(limit), _marker(marker)
    _, currency = await _account(service, who)
    rows = await repository.list_lines(service.database.pool, who.tenant.account_id, limit=size, marker=after)
    next_marker = str(rows[-1]["id"]) if len(rows) == size else None
    return {"lines": [line_view(r, currency) for r in rows], "next_marker": next_marker}


@router.get("/v1/{project_id}/billing/prices")
async def show_prices(project_id: str, service: Service, who: Who) -> dict[str, Any]:
    tariff = service.tariff
    return {
        "currency": tariff.currency,
        "rating_period_s": int(tariff.period.total_seconds()),
        "prices": [
            {"kind": "backup_storage", "unit": "GB-hour", "unit_price": show(tariff.price_per_gb_hour)},
            {"kind": "full_ecs_image", "unit": "image", "unit_price": show(IMAGE_PRICE)},
        ],
    }
