"""Replaying every event ever produced changes no state and no balance (this module runs last on purpose:
the file name sorts after the others, so every earlier cascade has happened)."""

import time
from typing import Any

import pytest
from huaweicloudsdkcbr.v1 import ListBackupsRequest
from huaweicloudsdkims.v2 import ListImagesRequest

from tests.e2e.harness import (
    ALPHA,
    AP,
    CN,
    DELTA,
    EPSILON,
    System,
    account_of,
    bill_lines,
    cbr,
    ims,
    produce_raw,
    read_topic,
)

pytestmark = pytest.mark.e2e
TOPICS = [f"ims.{r}.{k}" for r in (CN, AP) for k in ("backups", "images", "replication")] + ["ims.billing"]


def snapshot(system: System) -> dict[str, Any]:
    images = {
        (t.name, r): sorted(
            (i.id, i.status) for i in ims(system, t, r).list_images(ListImagesRequest(limit=1000)).images
        )
        for t in (ALPHA, DELTA, EPSILON)
        for r in (CN, AP)
    }
    backups = {
        (t.name, r): sorted((b.id, b.status) for b in cbr(system, t, r).list_backups(ListBackupsRequest()).backups)
        for t in (ALPHA, DELTA, EPSILON)
        for r in (CN, AP)
    }
    return {
        "images": images,
        "backups": backups,
        "delta": (account_of(system, DELTA)["balance"], len(bill_lines(system, DELTA))),
        "accounts": {t.name: account_of(system, t)["state"] for t in (ALPHA, DELTA, EPSILON)},
    }


def counts(system: System) -> dict[str, int]:
    return {topic: len(read_topic(system, topic, timeout_s=2)) for topic in TOPICS}


def settled_counts(system: System) -> dict[str, int]:
    previous = counts(system)
    for _ in range(10):
        time.sleep(2)
        current = counts(system)
        if current == previous:
            return current
        previous = current
    raise AssertionError("the system never went quiet")


def test_replaying_every_event_changes_nothing(system: System) -> None:
    before_counts = settled_counts(system)
    before = snapshot(system)
    dead_letters = {topic: len(read_topic(system, topic + ".dlt", timeout_s=1)) for topic in TOPICS}
    for topic in TOPICS:
        records = read_topic(system, topic, timeout_s=2)
        produce_raw(system, topic, [(r.key, r.value, list(r.headers)) for r in records])
    time.sleep(6)
    after_counts = counts(system)
    assert after_counts == {topic: 2 * n for topic, n in before_counts.items()}, "a replay made new events"
    after = snapshot(system)
    assert after["images"] == before["images"]
    assert after["backups"] == before["backups"]
    assert after["delta"] == before["delta"]
    assert after["accounts"] == before["accounts"]
    assert {topic: len(read_topic(system, topic + ".dlt", timeout_s=1)) for topic in TOPICS} == dead_letters
    assert sum(before_counts.values()) > 0
