"""The HTTP API over a real database, with requests signed as the Huawei Cloud SDK signs them."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio

from billing_service.app import create_app
from billing_service.settings import BillingSettings
from ims_shared.events import BackupCreated, ImageCreated
from ims_shared.signing import SignedRequest, sign
from tests.support.billing import ALPHA, BETA, Books

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
HOST = "billing.test"


class Client:
    """Signs every request with the access key of ``account``."""

    def __init__(self, http: httpx.AsyncClient, books: Books) -> None:
        self.http = http
        self.books = books

    async def call(
        self,
        method: str,
        path: str,
        *,
        account: str = ALPHA,
        body: bytes = b"",
        query: str = "",
        headers: dict[str, str] | None = None,
        signed: bool = True,
    ) -> httpx.Response:
        tenant = self.books.tenants.by_account(account)
        assert tenant is not None
        plain = {"Host": HOST, "Content-Type": "application/json", **(headers or {})}
        request = SignedRequest(method=method, path=path, query=query, headers=plain, body=body)
        sent = sign(request, tenant.access_key, tenant.secret_key, datetime.now(UTC)) if signed else plain
        url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
        return await self.http.request(method, url, content=body, headers=sent)

    async def account(self, project_id: str, **kw: Any) -> httpx.Response:
        return await self.call("GET", f"/v1/{project_id}/billing/account", **kw)

    async def top_up(self, project_id: str, body: bytes, **kw: Any) -> httpx.Response:
        return await self.call("POST", f"/v1/{project_id}/billing/account/top-ups", body=body, **kw)


@pytest_asyncio.fixture
async def client(books: Books) -> AsyncIterator[Client]:
    settings = BillingSettings(grace_period_s=600, retention_period_s=1200, price_per_gb_hour=Decimal("0.36"))
    app = create_app(settings, clock=books.clock)
    app.state.service.database.attach(books.pool)  # the database of the test; no Kafka needed for the API
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        yield Client(http, books)


def assert_error(response: httpx.Response, status: int, code: str, says: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    assert says in body["error_msg"]


async def test_the_account_is_the_tenants_in_every_region(client: Client, books: Books) -> None:
    beijing, hong_kong = books.project(ALPHA), books.project(ALPHA, "ap-southeast-1")
    for project in (beijing, hong_kong):
        response = await client.account(project)
        assert response.status_code == 200, response.text
        assert response.json()["account"] == {
            "account_id": ALPHA,
            "balance": "100.000000",
            "currency": "CNY",
            "state": "normal",
            "state_since": "2025-03-01T10:00:00Z",
            "grace_ends_at": None,
            "frozen_ends_at": None,
            "release_at": None,
        }


async def test_a_tenant_sees_only_its_own_account(client: Client, books: Books) -> None:
    assert_error(await client.account(books.project(BETA)), 403, "APIGW.0302", "does not belong")
    assert_error(await client.account("f" * 32), 403, "APIGW.0302", "does not belong")
    assert_error(await client.account(books.project(ALPHA), signed=False), 401, "APIGW.0301", "Authorization")
    beta = await client.account(books.project(BETA, "ap-southeast-1"), account=BETA)
    assert beta.json()["account"]["account_id"] == BETA


async def test_a_top_up_credits_the_account_once_per_idempotency_key(client: Client, books: Books) -> None:
    project = books.project(ALPHA, "ap-southeast-1")
    first = await client.top_up(project, b'{"amount": "10.50"}', headers={"Idempotency-Key": "order-1"})
    assert first.status_code == 201, first.text
    assert first.json()["top_up"]["amount"] == "10.500000"
    assert first.json()["account"]["balance"] == "110.500000"

    again = await client.top_up(project, b'{"amount": "10.50"}', headers={"Idempotency-Key": "order-1"})
    assert again.status_code == 200
    assert again.json()["top_up"]["id"] == first.json()["top_up"]["id"]
    assert again.json()["account"]["balance"] == "110.500000"

    other = await client.top_up(project, b'{"amount": "3"}', headers={"Idempotency-Key": "order-1"})
    assert_error(other, 409, "BSS.0409", "order-1")
    assert await books.balance() == Decimal("110.5")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty"),
        (b"{", "not valid JSON"),
        (b"{}", "amount is required"),
        (b'{"amount": "-1"}', "positive decimal"),
        (b'{"amount": "0.00"}', "greater than zero"),
        (b'{"amount": "1.999"}', "at most two decimal places"),
        (b'{"amount": 1.999}', "at most two decimal places"),
        (b'{"amount": "abc"}', "positive decimal"),
        (b'{"amount": true}', "positive decimal"),
        (b'"10.00"', "JSON object"),
    ],
)
async def test_a_bad_top_up_is_a_400_that_says_why(client: Client, books: Books, body: bytes, says: str) -> None:
    assert_error(await client.top_up(books.project(ALPHA), body), 400, "BSS.0400", says)
    assert await books.balance() == Decimal("100")


async def test_a_top_up_in_grace_restores_normal(client: Client, books: Books) -> None:
    books.clock.advance(timedelta(minutes=1))
    async with books.pool.acquire() as conn:
        await conn.execute("UPDATE accounts SET balance = -4, state = 'grace', state_since = $1", books.clock.now())
    graced = (await client.account(books.project(ALPHA))).json()["account"]
    assert graced["state"] == "grace"
    assert graced["grace_ends_at"] == "2025-03-01T10:11:00Z"
    assert graced["frozen_ends_at"] == graced["release_at"] == "2025-03-01T10:31:00Z"

    response = await client.top_up(books.project(ALPHA), b'{"amount": 4}')
    assert response.json()["account"]["state"] == "normal"
    assert response.json()["account"]["balance"] == "0.000000"
    [changed] = await books.emitted("AccountStateChanged")
    assert changed["data"]["state"] == "normal"
    assert changed["data"]["previous_state"] == "grace"


async def test_bill_lines_page_newest_first(client: Client, books: Books) -> None:
    alpha = books.project(ALPHA)
    birth = BackupCreated(backup_id="b-1", vault_id="v", name="b", resource_id="ecs", created_at=T0, size_gb=10)
    await books.deliver(books.record(birth, project_id=alpha))
    made = ImageCreated(image_id="img-1", job_id="j", backup_id="b-1", name="web", min_disk=40, size_gb=10)
    await books.deliver(books.record(made, project_id=alpha, time=T0 + timedelta(minutes=2)))
    await books.advance(timedelta(hours=3))

    pages: list[list[dict[str, Any]]] = []
    marker = ""
    while True:
        query = "limit=2" + (f"&marker={marker}" if marker else "")
        response = await client.call("GET", f"/v1/{alpha}/billing/lines", query=query)
        assert response.status_code == 200, response.text
        pages.append(response.json()["lines"])
        marker = response.json()["next_marker"]
        if not marker:
            break
    lines = [line for page in pages for line in page]
    assert [len(p) for p in pages] == [2, 2, 0]
    assert [line["kind"] for line in lines] == ["backup_storage"] * 3 + ["full_ecs_image"]
    assert lines[0] == {
        "id": lines[0]["id"],
        "kind": "backup_storage",
        "backup_id": "b-1",
        "image_id": None,
        "region": "cn-north-4",
        "project_id": alpha,
        "period_start": "2025-03-01T12:00:00Z",
        "period_end": "2025-03-01T13:00:00Z",
        "quantity_gb_hours": "10.000000",
        "unit_price": "0.36000000",
        "amount": "3.600000",
        "currency": "CNY",
        "description": "storage of CBR backup b-1",
    }
    image_line = lines[-1]
    assert (image_line["image_id"], image_line["backup_id"], image_line["amount"]) == ("img-1", "b-1", "0.000000")
    assert "free of charge" in image_line["description"]

    beta = await client.call("GET", f"/v1/{books.project(BETA)}/billing/lines", account=BETA)
    assert beta.json() == {"lines": [], "next_marker": None}


async def test_bad_paging_parameters_are_400s(client: Client, books: Books) -> None:
    path = f"/v1/{books.project(ALPHA)}/billing/lines"
    assert_error(await client.call("GET", path, query="limit=0"), 400, "BSS.0400", "limit")
    assert_error(await client.call("GET", path, query="limit=abc"), 400, "BSS.0400", "limit")
    assert_error(await client.call("GET", path, query="marker=-3"), 400, "BSS.0400", "marker")


async def test_prices_are_published(client: Client, books: Books) -> None:
    response = await client.call("GET", f"/v1/{books.project(BETA)}/billing/prices", account=BETA)
    assert json.loads(response.text)["prices"] == [
        {"kind": "backup_storage", "unit": "GB-hour", "unit_price": "0.36"},
        {"kind": "full_ecs_image", "unit": "image", "unit_price": "0"},
    ]
