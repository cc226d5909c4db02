"""Top-up amounts as clients send them."""

from decimal import Decimal

import pytest

from billing_service.money import parse_top_up, show
from ims_shared.refusal import Refusal


@pytest.mark.parametrize(
    ("body", "amount"),
    [
        (b'{"amount": "10.00"}', Decimal("10.00")),
        (b'{"amount": "0.01"}', Decimal("0.01")),
        (b'{"amount": "7"}', Decimal("7")),
        (b'{"amount": 10.1}', Decimal("10.1")),  # read from its text, not through a float
        (b'{"amount": 25}', Decimal("25")),
        (b'{"amount": "1000000000.00"}', Decimal("1000000000.00")),
    ],
)
def test_valid_amounts(body: bytes, amount: Decimal) -> None:
    parsed = parse_top_up(body)
    assert parsed == amount
    assert str(parsed) == str(amount)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty"),
        (b"not json", "not valid JSON"),
        (b'["10.00"]', "JSON object"),
        (b"{}", "amount is required"),
        (b'{"amount": "-5.00"}', "positive decimal"),
        (b'{"amount": -5}', "positive decimal"),
        (b'{"amount": "0"}', "greater than zero"),
        (b'{"amount": "0.00"}', "greater than zero"),
        (b'{"amount": "1.001"}', "at most two decimal places"),
        (b'{"amount": 1.001}', "at most two decimal places"),
        (b'{"amount": "ten"}', "positive decimal"),
        (b'{"amount": "NaN"}', "positive decimal"),
        (b'{"amount": "Infinity"}', "positive decimal"),
        (b'{"amount": "1e3"}', "positive decimal"),
        (b'{"amount": " 10"}', "positive decimal"),
        (b'{"amount": true}', "positive decimal"),
        (b'{"amount": null}', "positive decimal"),
        (b'{"amount": "1000000000.01"}', "must not exceed"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_invalid_amounts_say_what_is_wrong(body: bytes, says: str) -> None:
    with pytest.raises(Refusal, match=says):
        parse_top_up(body)


def test_amounts_show_in_plain_notation() -> None:
    assert show(Decimal("1E+2")) == "100"
    assert show(Decimal("-0.000400")) == "-0.000400"
