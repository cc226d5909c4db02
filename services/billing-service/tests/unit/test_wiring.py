"""billing-service's settings and what it subscribes to."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing_service.app import bootstrap, create_runtime
from billing_service.settings import BillingSettings


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRICE_PER_GB_HOUR", "0.00012")
    monkeypatch.setenv("RATING_PERIOD_S", "5")
    monkeypatch.setenv("INITIAL_BALANCE", "20.50")
    monkeypatch.setenv("GRACE_PERIOD_S", "30")
    monkeypatch.setenv("RETENTION_PERIOD_S", "60")
    settings = BillingSettings()
    assert settings.tariff.price_per_gb_hour == Decimal("0.00012")
    assert settings.tariff.period == timedelta(seconds=5)
    assert settings.initial_balance == Decimal("20.50")
    assert settings.arrears_policy.grace == timedelta(seconds=30)
    assert settings.arrears_policy.retention == timedelta(seconds=60)


def test_defaults() -> None:
    settings = BillingSettings()
    assert (settings.http_port, settings.rating_period_s, settings.currency) == (8300, 3600, "CNY")
    assert settings.arrears_policy.grace == settings.arrears_policy.retention == timedelta(days=15)
    assert settings.initial_balance == Decimal("100")


def test_billing_listens_to_backups_and_images_of_every_deployed_region() -> None:
    runtime = create_runtime(bootstrap(BillingSettings(deployed_regions="cn-north-4,ap-southeast-1,eu-west-101")))
    assert runtime.topics == [
        "ims.billing",
        "ims.cn-north-4.backups",
        "ims.cn-north-4.images",
        "ims.ap-southeast-1.backups",
        "ims.ap-southeast-1.images",
        "ims.eu-west-101.backups",
        "ims.eu-west-101.images",
    ]
    assert {"BackupCreated", "BackupDeleted", "ImageCreated", "BackupArrears"} <= set(runtime.handlers.handlers)


def test_a_negative_price_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError):
        BillingSettings(price_per_gb_hour=Decimal("-1"))
