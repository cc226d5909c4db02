"""Amounts as clients send them and as the API shows them: decimal strings, never floats. No I/O here."""

import json
import re
from decimal import Decimal

from billing_service.errors import BAD_REQUEST
from ims_shared.refusal import Refusal

MAX_TOP_UP = Decimal("1000000000")
_AMOUNT = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,2})?$")


def _invalid(message: str) -> Refusal:
    """A top-up request that cannot be credited; the message says what to send instead."""
    return Refusal(BAD_REQUEST, message)


def parse_top_up(body: bytes) -> Decimal:
    """The amount of a top-up request ``{"amount": "10.00"}``: a positive decimal with at most two decimal
    places, as a JSON string or number, at most ``MAX_TOP_UP``."""
    if not body.strip():
        raise _invalid('the request body is empty; send {"amount": "10.00"}')
    try:
        # Numbers are kept as their literal text so that 10.10 is read exactly, never through a float.
        document = json.loads(body, parse_float=str, parse_int=str)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise _invalid('the request body must be a JSON object such as {"amount": "10.00"}')
    if "amount" not in document:
        raise _invalid('amount is required, e.g. {"amount": "10.00"}')
    raw = document["amount"]
    if not isinstance(raw, str) or not _AMOUNT.match(raw):
        raise _invalid(f'amount must be a positive decimal with at most two decimal places, e.g. "10.00"; got {raw!r}')
    amount = Decimal(raw)
    if amount <= 0:
        raise _invalid(f"amount must be greater than zero; got {raw!r}")
    if amount > MAX_TOP_UP:
        raise _invalid(f"amount must not exceed {MAX_TOP_UP}; got {raw!r}")
    return amount


def show(amount: Decimal) -> str:
    """A decimal as the API and the events show it: plain notation, never an exponent."""
    return f"{amount:f}"
